// Whether /bind may bind a pod, decided on the pod as the API server has it, never on the caller's
// word: whoever reaches /bind names a pod; only a pending pod of a scheduler this extender serves,
// named with its UID, is bound.
import type { V1Pod } from '@kubernetes/client-node';
import type { BindRefusalReason, ExtenderBindingArgs } from '../contracts/index.ts';

export interface BindRefusal {
  reason: BindRefusalReason;
  /** What the caller (kube-scheduler's log) is told. */
  message: string;
}

/** Refuses before any API call: a bind that names no UID could hit a recreated pod of that name. */
export function refuseWithoutUid(args: ExtenderBindingArgs): BindRefusal | undefined {
  if (args.PodUID !== '') return undefined;
  return {
    reason: 'empty_uid',
    message: 'refused: PodUID is empty; the extender binds only a pod named with its UID',
  };
}

/**
 * Why the pod read from the API (`undefined`: it does not exist) must not be bound as `args`
 * asks, or undefined when it may.
 */
export function bindRefusal(
  args: ExtenderBindingArgs,
  pod: V1Pod | undefined,
  schedulerNames: ReadonlySet<string>,
): BindRefusal | undefined {
  const early = refuseWithoutUid(args);
  if (early) return early;
  if (!pod) return { reason: 'not_found', message: 'refused: the pod does not exist' };
  const uid = pod.metadata?.uid ?? '';
  if (uid !== args.PodUID) {
    return {
      reason: 'uid_mismatch',
      message: `refused: the pod's UID is ${uid || '(none)'}, not ${args.PodUID}`,
    };
  }
  const bound = pod.spec?.nodeName;
  if (bound) {
    return { reason: 'already_bound', message: `refused: the pod is already bound to node ${bound}` };
  }
  const scheduler = pod.spec?.schedulerName ?? '';
  if (!schedulerNames.has(scheduler)) {
    return {
      reason: 'scheduler_name',
      message: `refused: the pod's schedulerName is "${scheduler}"; this extender binds pods of ${[
        ...schedulerNames,
      ]
        .map((n) => `"${n}"`)
        .join(', ')}`,
    };
  }
  return undefined;
}

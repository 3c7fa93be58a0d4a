// The pods /bind may be asked to bind, kept by a watch so that most binds need no GET of the pod:
// kube-scheduler itself watches unassigned, non-terminal pods with the same field selector.
//
// Why a stale record cannot bind the wrong pod: the bind guard decides on it only when its UID is
// the UID kube-scheduler named (otherwise the pod is read live), and the Binding carries that UID
// as the API server's precondition. A pod deleted and recreated under the same name has another
// UID, so the API server refuses the Binding (409); a pod bound meanwhile by someone else is
// refused as "already assigned" (409); a deleted pod is not found (404). What the guard reads
// from the record (schedulerName, UID, container requests) cannot change for a UID.
import type { CoreV1Api, KubeConfig, V1Pod } from '@kubernetes/client-node';
import { Reflector } from '../common/reflector.ts';
import type { Logger } from '../common/log.ts';
import { requestOptions } from '../common/kube.ts';

/** kube-scheduler's selector for the pods it schedules (unassigned, not finished). */
export const PENDING_POD_FIELD_SELECTOR = 'spec.nodeName=,status.phase!=Succeeded,status.phase!=Failed';

/** Beyond this many cached pods, new ones are not kept (their binds read the pod live). */
export const PENDING_POD_CACHE_LIMIT = 20_000;

export interface PendingPodsOptions {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  /** Only pods of these schedulers are kept: the others /bind refuses anyway. */
  schedulerNames: ReadonlySet<string>;
  apiTimeoutMs: number;
  logger: Logger;
  limit?: number;
}

/**
 * The watch's selector: with one scheduler served (the usual case), the API server leaves the other
 * schedulers' pods out; with several, they are dropped here (a selector cannot say "one of").
 */
export function pendingPodSelector(schedulerNames: ReadonlySet<string>): string {
  const [only] = schedulerNames;
  // A name with no selector syntax in it (`,` `=` `!` `\`) is safe to put in unescaped.
  return schedulerNames.size === 1 && only !== undefined && /^[A-Za-z0-9._-]+$/.test(only)
    ? `${PENDING_POD_FIELD_SELECTOR},spec.schedulerName=${only}`
    : PENDING_POD_FIELD_SELECTOR;
}

export class PendingPods {
  private readonly pods = new Map<string, V1Pod>();
  /**
   * UIDs this extender bound whose leaving the selector the watch has not reported yet: an event
   * from before the bind, still in flight, must not bring the pod back as pending.
   */
  private readonly bound = new Set<string>();
  private readonly reflector: Reflector<V1Pod>;
  private readonly limit: number;

  constructor(private readonly opts: PendingPodsOptions) {
    this.limit = opts.limit ?? PENDING_POD_CACHE_LIMIT;
    const fieldSelector = pendingPodSelector(opts.schedulerNames);
    this.reflector = new Reflector<V1Pod>({
      kubeConfig: opts.kubeConfig,
      path: '/api/v1/pods',
      fieldSelector,
      // The reflector keeps no copies; this class keeps only the served schedulers' pods.
      cache: false,
      list: async () => {
        const list = await opts.core.listPodForAllNamespaces(
          { fieldSelector },
          requestOptions(Math.max(opts.apiTimeoutMs, 60_000)),
        );
        // A (re)list is the whole truth: pods that vanished while the watch was down go now, and
        // the reflector hands every listed pod back as ADDED right after.
        this.pods.clear();
        this.bound.clear();
        return list;
      },
      logger: opts.logger,
      onEvent: (type, pod) => this.apply(type, pod),
    });
  }

  get synced(): boolean {
    return this.reflector.synced;
  }

  get size(): number {
    return this.pods.size;
  }

  start(): void {
    this.reflector.start();
  }

  async stop(): Promise<void> {
    await this.reflector.stop();
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    return this.reflector.waitForSync(signal);
  }

  /** The cached pending pod with this UID, or undefined (not cached, or another UID). */
  get(namespace: string, name: string, uid: string): V1Pod | undefined {
    const pod = this.pods.get(`${namespace}/${name}`);
    return pod && pod.metadata?.uid === uid ? pod : undefined;
  }

  /**
   * Drops a pod's record: the API server knows better now (a failed bind). With `boundUid`, the
   * pod was just bound with that UID, and watch events from before the bind are ignored.
   */
  forget(namespace: string, name: string, boundUid?: string): void {
    this.pods.delete(`${namespace}/${name}`);
    if (boundUid === undefined) return;
    // Bounded like the cache: should DELETED events stop coming, the next relist clears it anyway.
    if (this.bound.size >= this.limit) this.bound.clear();
    this.bound.add(boundUid);
  }

  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: V1Pod): void {
    const key = `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
    const uid = pod.metadata?.uid ?? '';
    if (type === 'DELETED') this.bound.delete(uid);
    const phase = pod.status?.phase;
    const keep =
      type !== 'DELETED' &&
      !this.bound.has(uid) &&
      !pod.spec?.nodeName &&
      phase !== 'Succeeded' &&
      phase !== 'Failed' &&
      this.opts.schedulerNames.has(pod.spec?.schedulerName ?? '');
    if (!keep) this.pods.delete(key);
    else if (this.pods.has(key) || this.pods.size < this.limit) this.pods.set(key, pod);
  }
}

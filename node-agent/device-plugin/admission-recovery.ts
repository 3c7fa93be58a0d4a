// Recovery from a failed admission (gpu-manager's checkAllocationPeriodically): a pod on this node
// that kubelet refused at admission for a loadwise vGPU resource (an Allocate error, or too few
// units) stays Failed for good. If a controller owns it (ReplicaSet, Job, StatefulSet…), deleting it
// makes the controller create a new pod, which is scheduled again; a bare pod has nobody to
// recreate it and is left alone. Either way a Kubernetes Event on the pod says what happened.
//
// Bounds: only pods on this node that loadwise placed (the extender's assignment annotation, a
// vGPU request); one Event per pod; at most one delete per pod per `retryMs` (default a minute),
// and each delete names the pod's UID as a precondition, so a new pod of the same name is never hit.
import type { CoreV1Api, CoreV1Event, V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../../common/clock.ts';
import { apiStatus, errorMessage, requestOptions } from '../../common/kube.ts';
import type { Logger } from '../../common/log.ts';
import {
  AGENT_EVENT_COMPONENT,
  EVENT_REASON_ADMISSION_FAILED,
  EVENT_REASON_RECREATE,
  VGPU_ASSIGNMENT_ANNOTATION,
} from '../../contracts/vgpu-pod.ts';
import { VGPU_RESOURCE_NAME_SETS } from '../../contracts/resources.ts';
import { gpuContainers } from './matcher.ts';

export interface AdmissionRecoveryOptions {
  core: CoreV1Api;
  nodeName: string;
  clock: Clock;
  logger: Logger;
  apiTimeoutMs?: number;
  /** Least time between two deletes of one pod (default 60 s). */
  retryMs?: number;
}

const DEFAULT_RETRY_MS = 60_000;
/** kube-apiserver refuses an Event message longer than this. */
const MAX_MESSAGE = 1024;

/**
 * kubelet's words when it refused the pod at admission for a loadwise resource, or undefined: a
 * pod Failed with UnexpectedAdmissionError (a device plugin's Allocate failed) or
 * OutOf<loadwise resource> (too few units left).
 */
export function failedAdmission(pod: V1Pod): string | undefined {
  const { phase, reason, message } = pod.status ?? {};
  if (phase !== 'Failed' || !reason) return undefined;
  // Either name set (--resource-names): kubelet names the resource it could not allocate.
  const ours = Object.values(VGPU_RESOURCE_NAME_SETS).some((set) =>
    Object.values(set).some((r) => reason === `OutOf${r}`),
  );
  if (reason !== 'UnexpectedAdmissionError' && !ours) return undefined;
  return message ? `${reason}: ${message}` : reason;
}

export function controllerOf(pod: V1Pod): V1OwnerReference | undefined {
  return pod.metadata?.ownerReferences?.find((o) => o.controller === true);
}

interface Handled {
  evented: boolean;
  lastDeleteMs?: number;
}

export class AdmissionRecovery {
  private readonly handled = new Map<string, Handled>();
  private readonly inFlight = new Set<string>();

  constructor(private readonly opts: AdmissionRecoveryOptions) {}

  /** Looks at a pod from the node's pod watch; what it starts runs in the background (the promise). */
  check(pod: V1Pod): Promise<void> | undefined {
    const uid = pod.metadata?.uid;
    if (!uid || this.inFlight.has(uid)) return undefined;
    // Never a pod of another node, nor one loadwise did not place.
    if (pod.spec?.nodeName !== this.opts.nodeName) return undefined;
    if (pod.metadata?.annotations?.[VGPU_ASSIGNMENT_ANNOTATION] === undefined) return undefined;
    if (gpuContainers(pod).length === 0) return undefined;
    if (pod.metadata?.deletionTimestamp) return undefined;
    const why = failedAdmission(pod);
    if (why === undefined) return undefined;
    const state = this.handled.get(uid) ?? { evented: false };
    const owner = controllerOf(pod);
    const now = this.opts.clock.now();
    const deleteDue =
      owner !== undefined &&
      (state.lastDeleteMs === undefined ||
        now - state.lastDeleteMs >= (this.opts.retryMs ?? DEFAULT_RETRY_MS));
    if (state.evented && !deleteDue) return undefined;
    this.handled.set(uid, state);
    this.inFlight.add(uid);
    return this.recover(pod, why, owner, state, deleteDue).finally(() => this.inFlight.delete(uid));
  }

  /** The pod is gone: nothing more to do for it. */
  forget(uid: string | undefined): void {
    if (uid) this.handled.delete(uid);
  }

  private async recover(
    pod: V1Pod,
    why: string,
    owner: V1OwnerReference | undefined,
    state: Handled,
    deleteDue: boolean,
  ): Promise<void> {
    const namespace = pod.metadata!.namespace ?? 'default';
    const name = pod.metadata!.name!;
    const log = this.opts.logger.child({ pod: `${namespace}/${name}` });
    if (!state.evented) {
      const message = owner
        ? `kubelet refused the pod at admission (${why}); loadwise deletes it so its ${owner.kind} ${owner.name} creates a new one, which is scheduled again`
        : `kubelet refused the pod at admission (${why}); it has no controller to recreate it, so loadwise leaves it: delete it and create it again`;
      try {
        await this.opts.core.createNamespacedEvent(
          {
            namespace,
            body: this.event(pod, owner ? EVENT_REASON_RECREATE : EVENT_REASON_ADMISSION_FAILED, message),
          },
          requestOptions(this.opts.apiTimeoutMs ?? 5000),
        );
        state.evented = true;
      } catch (err) {
        log.warn({ err: errorMessage(err) }, 'could not record the failed-admission Event');
      }
    }
    if (!owner || !deleteDue) return;
    state.lastDeleteMs = this.opts.clock.now();
    try {
      await this.opts.core.deleteNamespacedPod(
        { namespace, name, body: { preconditions: { uid: pod.metadata!.uid! } } },
        requestOptions(this.opts.apiTimeoutMs ?? 5000),
      );
      log.info(
        { owner: `${owner.kind}/${owner.name}`, why },
        'deleted a pod that failed admission; its controller recreates it',
      );
    } catch (err) {
      // 404: gone already; 409: a new pod of that name, not ours to delete.
      const code = apiStatus(err);
      if (code === 404 || code === 409) return;
      log.warn(
        { err: errorMessage(err) },
        'could not delete a pod that failed admission; trying again in a minute',
      );
    }
  }

  private event(pod: V1Pod, reason: string, message: string): CoreV1Event {
    const now = this.opts.clock.now();
    const at = new Date(now);
    const name = pod.metadata!.name!;
    return {
      metadata: {
        name: `${name}.${(BigInt(now) * 1_000_000n).toString(16)}`,
        namespace: pod.metadata!.namespace,
      },
      involvedObject: {
        kind: 'Pod',
        apiVersion: 'v1',
        namespace: pod.metadata!.namespace,
        name,
        uid: pod.metadata!.uid,
      },
      reason,
      message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message,
      type: 'Warning',
      source: { component: AGENT_EVENT_COMPONENT, host: this.opts.nodeName },
      reportingComponent: AGENT_EVENT_COMPONENT,
      reportingInstance: this.opts.nodeName,
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    };
  }
}

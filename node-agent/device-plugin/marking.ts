// Marking pods `loadwise.io/vgpu-allocated` once every GPU container of a pod is allocated: the
// extender and the GPU watchdog read the annotation, and after a corrupt checkpoint it is what the
// ledger is rebuilt from. Always off the Allocate path (the answer goes out first); every piece of
// background work is tracked here so settled() and stop() can wait for it.
import { type CoreV1Api, PatchStrategy, type V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../../common/clock.ts';
import { apiStatus, errorMessage, requestOptions } from '../../common/kube.ts';
import type { Logger } from '../../common/log.ts';
import type { Reflector } from '../../common/reflector.ts';
import type { VgpuResourceKind } from '../../contracts/device-plugin.ts';
import { formatRfc3339 } from '../../contracts/time.ts';
import { VGPU_ALLOCATED_ANNOTATION } from '../../contracts/vgpu-pod.ts';
import { type AllocationLedger, containerKey } from './ledger.ts';
import { gpuContainers, isMarkedAllocated } from './matcher.ts';

const KINDS: readonly VgpuResourceKind[] = ['core', 'memory'];

export interface PodMarkerOptions {
  /** Sends the PATCH. */
  core: Pick<CoreV1Api, 'patchNamespacedPod'>;
  /** The node's pods as the watch has them; the patched pod is offered back to it. */
  pods: Pick<Reflector<V1Pod>, 'list' | 'offer'>;
  ledger: Pick<AllocationLedger, 'get'>;
  clock: Clock;
  logger: Logger;
  apiTimeoutMs?: number;
  /** A pod got its annotation (the plugin's `marked` event). */
  onMarked: (pod: { namespace: string; name: string }) => void;
}

export class PodMarker {
  /** Background work in flight: patches, and admission recoveries handed to track(). */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly opts: PodMarkerOptions) {}

  /**
   * markIfComplete after the answer has gone out: building the PATCH (the API client's request
   * and serialisation) ran synchronously inside Allocate before kubelet got its answer. Tracked
   * like the PATCH itself, so settled() and stop() wait for it.
   */
  markSoon(podUID: string): void {
    const work: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.markIfComplete(podUID))
      .catch((err: unknown) =>
        this.opts.logger.warn({ err: errorMessage(err) }, 'could not mark the pod allocated'),
      )
      .finally(() => this.inFlight.delete(work));
    this.inFlight.add(work);
  }

  /** Annotates the pod once every GPU container of it is allocated; in the background, off the Allocate path. */
  markIfComplete(podUID: string, requireRunning = false): Promise<void> | undefined {
    const pod = this.opts.pods.list().find((p) => p.metadata?.uid === podUID);
    if (!pod || isMarkedAllocated(pod)) return undefined;
    if (requireRunning && pod.status?.phase !== 'Running') return undefined;
    const containers = gpuContainers(pod);
    const complete =
      containers.length > 0 &&
      containers.every((c) => {
        const entry = this.opts.ledger.get(containerKey(podUID, c.name));
        if (!entry) return false;
        return KINDS.every((k) => c.request[k] === 0 || entry.allocation.deviceIds[k] !== undefined);
      });
    if (!complete) return undefined;
    const work = this.patchAllocated(pod).finally(() => this.inFlight.delete(work));
    this.inFlight.add(work);
    return work;
  }

  /** Other background work (an admission recovery) that settled() and stop() must wait for. */
  track(work: Promise<void>): void {
    const tracked = work.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  /** Resolves once the work in flight now has finished, whichever way. */
  settled(): Promise<unknown> {
    return Promise.allSettled([...this.inFlight]);
  }

  private async patchAllocated(pod: V1Pod): Promise<void> {
    const namespace = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    try {
      const patched = await this.opts.core.patchNamespacedPod(
        {
          name,
          namespace,
          body: {
            metadata: {
              annotations: { [VGPU_ALLOCATED_ANNOTATION]: formatRfc3339(this.opts.clock.now()) },
            },
          },
        },
        requestOptions(this.opts.apiTimeoutMs ?? 5000, PatchStrategy.MergePatch),
      );
      this.opts.pods.offer(patched);
      this.opts.onMarked({ namespace, name });
    } catch (err) {
      // The allocation stands (it is checkpointed); the sweep tries the annotation again.
      const level = apiStatus(err) === 404 ? 'info' : 'warn';
      this.opts.logger[level](
        { pod: `${namespace}/${name}`, err: errorMessage(err) },
        'could not mark the pod allocated',
      );
    }
  }
}

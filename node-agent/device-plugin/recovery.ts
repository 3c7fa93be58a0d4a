// Recovery and sweep: bringing the ledger back in line with the cluster. After a start it adopts
// allocations pods carry but the checkpoint lacks and rewrites every held container's config file;
// the sweep (periodic, and at once when a holding pod leaves) frees what pods that are gone held,
// retries annotations and admission recoveries, and removes container files nobody holds. Kept
// apart from Allocate because none of it may run on the Allocate path, only queued behind it.
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../../common/clock.ts';
import { apiStatus, errorMessage, requestOptions } from '../../common/kube.ts';
import type { Logger } from '../../common/log.ts';
import type { Reflector, ReflectorEvent } from '../../common/reflector.ts';
import type { AdmissionRecovery } from './admission-recovery.ts';
import { containerDirs, podsWithFiles, removePodFiles, writeContainerFiles } from './container-files.ts';
import type { GpuSource } from './devices.ts';
import { type AllocationLedger, containerKey } from './ledger.ts';
import type { PodMarker } from './marking.ts';
import { gpuContainers, isMarkedAllocated, isPodFinished } from './matcher.ts';
import { configFor } from './response.ts';
import type { SerialQueue } from './serial-queue.ts';

export interface RecoveryOptions {
  ledger: AllocationLedger;
  /** Shared with Allocate: a sweep runs between two Allocates, never inside one. */
  queue: SerialQueue;
  /** The node's pods as the watch has them. */
  pods: Pick<Reflector<V1Pod>, 'list' | 'synced'>;
  /** Confirms with the API that a pod is gone before its share is freed. */
  core: Pick<CoreV1Api, 'readNamespacedPod'>;
  gpus: Pick<GpuSource, 'gpus'>;
  admission: Pick<AdmissionRecovery, 'check' | 'forget'>;
  marker: Pick<PodMarker, 'markIfComplete' | 'track'>;
  /** The plugin is stopping or stopped: start no new admission recovery. */
  isStopped: () => boolean;
  configRoot: string;
  clock: Clock;
  logger: Logger;
  apiTimeoutMs?: number;
}

export class Recovery {
  constructor(private readonly opts: RecoveryOptions) {}

  /** What one pod event means here: a recovery to start or forget, a share to free at once. */
  podChanged(type: ReflectorEvent, pod: V1Pod): void {
    if (type === 'DELETED') this.opts.admission.forget(pod.metadata?.uid);
    else this.recoverAdmission(pod);
    // Free a departed pod's share now: the extender frees it on the same event and may place the
    // next pod on it at once, which Allocate would refuse until the periodic sweep ran.
    if ((type === 'DELETED' || isPodFinished(pod)) && this.opts.ledger.holds(pod.metadata?.uid)) {
      void this.sweep().catch((err: unknown) => this.sweepFailed(err));
    }
  }

  /** A pod that failed admission for a vGPU resource: an Event, and a delete when a controller owns it. */
  recoverAdmission(pod: V1Pod): void {
    if (this.opts.isStopped()) return;
    const work = this.opts.admission.check(pod);
    if (!work) return;
    this.opts.marker.track(work);
  }

  /** Config files are written without fsync; after a restart they are made again from the ledger. */
  async rewriteConfigFiles(): Promise<void> {
    for (const { allocation: a } of this.opts.ledger.values()) {
      try {
        await writeContainerFiles(containerDirs(this.opts.configRoot, a.podUID, a.container), configFor(a));
      } catch (err) {
        this.opts.logger.warn(
          { pod: `${a.namespace}/${a.podName}`, container: a.container, err: errorMessage(err) },
          'could not rewrite a container vGPU config',
        );
      }
    }
  }

  /**
   * Adds allocations that pods carry (vgpu-allocated + assignment) but the ledger lacks: all of
   * them after a corrupt checkpoint, any stragglers otherwise. They count against capacity and are
   * never handed out again.
   */
  async adoptAnnotatedPods(rebuild: boolean): Promise<void> {
    const { ledger } = this.opts;
    let added = 0;
    for (const pod of this.opts.pods.list()) {
      if (!isMarkedAllocated(pod) || isPodFinished(pod) || !pod.metadata?.uid) continue;
      const gpus = this.opts.gpus.gpus();
      for (const c of gpuContainers(pod)) {
        const key = containerKey(pod.metadata.uid, c.name);
        if (ledger.has(key)) continue;
        const shares = c.shares.map((s) => ({
          ...s,
          uuid: gpus.find((g) => g.index === s.index)?.uuid ?? `unknown-${s.index}`,
        }));
        ledger.set(key, {
          allocation: {
            podUID: pod.metadata.uid,
            namespace: pod.metadata.namespace ?? '',
            podName: pod.metadata.name ?? '',
            container: c.name,
            shares,
            request: { ...c.request },
            deviceIds: {},
            allocatedAtMs: this.opts.clock.now(),
          },
          answered: new Set(),
          recovered: true,
        });
        added++;
      }
    }
    if (added > 0 || rebuild) {
      await ledger.save();
      this.opts.logger.info({ added, rebuilt: rebuild }, 'vGPU allocations taken from pod annotations');
    }
  }

  /**
   * Frees allocations of pods that are gone or finished (confirmed with the API, so a watch that
   * trails behind cannot free a live pod), retries annotations that failed, and removes container
   * directories nobody holds. Runs every sweep interval; tests call it directly.
   */
  async sweep(): Promise<{ freed: number }> {
    if (!this.opts.pods.synced) return { freed: 0 };
    return this.opts.queue.run(() => this.sweepNow());
  }

  /** One sweep, outside the queue: start() runs it before the first Allocate can be queued. */
  async sweepNow(): Promise<{ freed: number }> {
    const { ledger, configRoot } = this.opts;
    const live = new Map(this.opts.pods.list().map((p) => [p.metadata?.uid ?? '', p]));
    const freedUIDs = new Set<string>();
    for (const entry of ledger.values()) {
      const a = entry.allocation;
      if (freedUIDs.has(a.podUID)) continue;
      const cached = live.get(a.podUID);
      if (cached && !isPodFinished(cached)) continue;
      if (!(await this.podGone(a.namespace, a.podName, a.podUID))) continue;
      freedUIDs.add(a.podUID);
    }
    let freed = 0;
    for (const [key, entry] of [...ledger.pairs()]) {
      if (!freedUIDs.has(entry.allocation.podUID)) continue;
      ledger.delete(key);
      freed++;
    }
    if (freed > 0) {
      await ledger.save();
      this.opts.logger.info({ freed, pods: freedUIDs.size }, 'freed vGPU allocations of pods that are gone');
    }
    // A delete that failed, or one a minute old on a pod still there, is tried again here.
    for (const pod of live.values()) this.recoverAdmission(pod);
    const held = new Set([...ledger.values()].map((e) => e.allocation.podUID));
    for (const uid of await podsWithFiles(configRoot)) {
      if (!held.has(uid) && !live.has(uid)) await removePodFiles(configRoot, uid);
    }
    for (const uid of held) {
      const answeredHere = [...ledger.values()].some((e) => e.allocation.podUID === uid && !e.recovered);
      // A recovered allocation may never have reached kubelet; a running pod shows that it did.
      void this.opts.marker.markIfComplete(uid, !answeredHere); // tracked by the marker; never rejects
    }
    return { freed };
  }

  sweepFailed(err: unknown): void {
    this.opts.logger.warn({ err: errorMessage(err) }, 'vGPU sweep failed; will try again');
  }

  private async podGone(namespace: string, name: string, uid: string): Promise<boolean> {
    try {
      const pod = await this.opts.core.readNamespacedPod(
        { namespace, name },
        requestOptions(this.opts.apiTimeoutMs ?? 5000),
      );
      return pod.metadata?.uid !== uid || isPodFinished(pod);
    } catch (err) {
      return apiStatus(err) === 404;
    }
  }
}

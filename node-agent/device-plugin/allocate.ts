// The Allocate path, and what kubelet asks beside it: the unit device lists, GetPreferredAllocation,
// and Allocate itself — one at a time on the shared queue, the request checked against what was
// advertised, the container matched to the pod starting (matcher.ts), its config file and the
// checkpoint record written (and flushed) before the answer, the pod marked after it. Kept apart
// so the one latency-critical path reads top to bottom in one file.
import type { V1Pod } from '@kubernetes/client-node';
import { status } from '@grpc/grpc-js';
import type { Clock } from '../../common/clock.ts';
import type { Logger } from '../../common/log.ts';
import { type VgpuResourceKind, parseVgpuDeviceId } from '../../contracts/device-plugin.ts';
import { containerDirs, writeContainerFiles } from './container-files.ts';
import { type GpuSource, type PluginGpu, deviceList, listFingerprint } from './devices.ts';
import { type AllocationLedger, keyOf } from './ledger.ts';
import type { PodMarker } from './marking.ts';
import { type ContainerAllocation, type LedgerEntry, matchAllocate } from './matcher.ts';
import type {
  AllocateRequest,
  AllocateResponse,
  ContainerAllocateResponse,
  Device,
  PreferredAllocationRequest,
  PreferredAllocationResponse,
} from './proto.ts';
import { preferredDevices } from './preferred.ts';
import { type AcceptedIds, checkAllocateRequest, checkPreferredRequest } from './request-check.ts';
import { GrpcError } from './resource-server.ts';
import { buildContainerResponse, configFor } from './response.ts';
import type { SerialQueue } from './serial-queue.ts';

/** At most this many device IDs of GPUs the plugin has not read (yet) in one Allocate. */
const MAX_UNKNOWN_UNITS = 4096;
const INVENTORY_WAIT_MS = 10_000;
const KINDS: readonly VgpuResourceKind[] = ['core', 'memory'];

/** Points inside Allocate where a test makes the process "die". */
export type FaultPoint = 'before-checkpoint' | 'after-checkpoint';

/** What one GPU reading lets a request name, per resource. */
interface AdvertisedUnits {
  ids: ReadonlySet<string>;
  uuids: ReadonlySet<string>;
}

export interface AllocatorOptions {
  ledger: AllocationLedger;
  /** Shared with the sweep: one Allocate (or sweep) at a time. */
  queue: SerialQueue;
  gpus: GpuSource;
  /** The node's pods as the watch has them. */
  listPods: () => V1Pod[];
  /** The node's pods from the API itself, for when the watch trails kubelet's. */
  listPodsNow: () => Promise<V1Pod[]>;
  /** Resolves once pods are known and the checkpoint reconciled; rejects after a bounded wait. */
  waitReady: () => Promise<void>;
  /** The plugin is stopping or stopped: refuse. */
  isStopped: () => boolean;
  marker: Pick<PodMarker, 'markSoon'>;
  /** Re-sends a resource's device list to kubelet. */
  broadcast: (kind: VgpuResourceKind, devices: Device[]) => void;
  /** An Allocate waits for the GPU inventory (the plugin's `waitingForGpus` event). */
  onWaitingForGpus: (reason: string) => void;
  names: Readonly<Record<VgpuResourceKind, string>>;
  memoryUnitMiB: number;
  configRoot: string;
  devRoot?: string;
  libraryDir: string;
  inventoryWaitMs?: number;
  clock: Clock;
  logger: Logger;
  faultHook?: (point: FaultPoint) => void;
}

export class Allocator {
  private readonly fingerprints: Record<VgpuResourceKind, string> = { core: '', memory: '' };
  private advertisedCache:
    { gpus: readonly PluginGpu[]; byKind: Partial<Record<VgpuResourceKind, AdvertisedUnits>> } | undefined;

  constructor(private readonly opts: AllocatorOptions) {}

  devices(kind: VgpuResourceKind): Device[] {
    return deviceList(this.opts.gpus.gpus(), kind, this.opts.memoryUnitMiB);
  }

  /** Re-sends a resource's list when a GPU reading changed it (not for the first reading). */
  refreshDevices(): void {
    if (!this.opts.gpus.known()) return;
    for (const kind of KINDS) {
      const devices = this.devices(kind);
      const fingerprint = listFingerprint(devices);
      if (fingerprint === this.fingerprints[kind]) continue;
      const first = this.fingerprints[kind] === '';
      this.fingerprints[kind] = fingerprint;
      if (!first) {
        this.opts.logger.info(
          { resource: this.opts.names[kind] },
          'GPU devices changed; re-sending the list',
        );
        this.opts.broadcast(kind, devices);
      }
    }
  }

  preferred(kind: VgpuResourceKind, req: PreferredAllocationRequest): PreferredAllocationResponse {
    checkPreferredRequest(
      req,
      this.allocatable(
        kind,
        req.container_requests.map((c) => c.available_deviceIDs),
      ),
      this.opts.names[kind],
    );
    const pods = this.opts.listPods();
    const ledger = [...this.opts.ledger.values()];
    const gpus = this.opts.gpus.gpus();
    return {
      container_responses: req.container_requests.map((c) => ({
        deviceIDs: preferredDevices(kind, c, pods, ledger, gpus),
      })),
    };
  }

  allocate(kind: VgpuResourceKind, req: AllocateRequest): Promise<AllocateResponse> {
    // One Allocate at a time: two concurrent calls must never pick the same pod.
    return this.opts.queue.run(() => this.allocateNow(kind, req));
  }

  /**
   * The IDs a request may name (the units advertised now) and the UUIDs of the GPUs read, built
   * once per GPU reading rather than per call: a source hands a new list after every change, and
   * rebuilding ~400 ID strings on every Allocate was garbage on the hot path.
   */
  private advertised(kind: VgpuResourceKind): AdvertisedUnits {
    const gpus = this.opts.gpus.gpus();
    if (this.advertisedCache?.gpus !== gpus) this.advertisedCache = { gpus, byKind: {} };
    let units = this.advertisedCache.byKind[kind];
    if (units === undefined) {
      units = {
        ids: new Set(deviceList(gpus, kind, this.opts.memoryUnitMiB).map((d) => d.ID)),
        uuids: new Set(gpus.map((g) => g.uuid)),
      };
      this.advertisedCache.byKind[kind] = units;
    }
    return units;
  }

  /**
   * The device IDs an Allocate may name: the units advertised now, and well-formed units of this
   * resource on a GPU the latest reading lacks. Those are kubelet's from an earlier advertisement
   * (a restarted plugin before its first reading, a refresh that briefly lost a GPU); the Allocate
   * then waits, bounded, for the GPU to come back, and is refused if it does not. Anything else —
   * a foreign ID, a unit beyond a known GPU's range, an oversized ID — is refused at once.
   */
  private allocatable(kind: VgpuResourceKind, requested: readonly (readonly string[])[]): AcceptedIds {
    const { ids: advertised, uuids: known } = this.advertised(kind);
    const ofUnknownGpu = (id: string): boolean => {
      const parsed = parseVgpuDeviceId(id);
      return parsed !== undefined && parsed.kind === kind && !known.has(parsed.uuid);
    };
    let unknown = 0;
    for (const ids of requested) for (const id of ids) if (!advertised.has(id) && ofUnknownGpu(id)) unknown++;
    return {
      has: (id) => advertised.has(id) || ofUnknownGpu(id),
      // Units of GPUs not read yet cannot be counted against an advertisement; they are bounded.
      size: advertised.size + Math.min(unknown, MAX_UNKNOWN_UNITS),
    };
  }

  // The bench (bench/device-plugin/phases.ts) times this handler by wrapping it by name on the instance.
  private async allocateNow(kind: VgpuResourceKind, req: AllocateRequest): Promise<AllocateResponse> {
    if (this.opts.isStopped()) throw new GrpcError(status.UNAVAILABLE, 'the device plugin is stopping');
    await this.opts.waitReady();
    if (!this.opts.gpus.known() && !(await this.inventoryChange('no GPU reading yet'))) {
      throw new GrpcError(status.UNAVAILABLE, 'the GPUs of this node are not known yet (no GPU reading)');
    }
    checkAllocateRequest(
      req,
      this.allocatable(
        kind,
        req.container_requests.map((c) => c.devices_ids),
      ),
      this.opts.names[kind],
    );
    const responses: ContainerAllocateResponse[] = [];
    const touched: LedgerEntry[] = [];
    for (const c of req.container_requests) {
      const ids = [...c.devices_ids].sort();
      const entry = await this.allocateContainer(kind, ids);
      touched.push(entry);
      const a = entry.allocation;
      responses.push(
        buildContainerResponse(a, containerDirs(this.opts.configRoot, a.podUID, a.container), {
          devRoot: this.opts.devRoot ?? '/dev',
          libraryDir: this.opts.libraryDir,
        }),
      );
    }
    for (const entry of touched) this.opts.marker.markSoon(entry.allocation.podUID);
    return { container_responses: responses };
  }

  private async allocateContainer(kind: VgpuResourceKind, ids: string[]): Promise<LedgerEntry> {
    const { ledger, names, configRoot } = this.opts;
    const log = this.opts.logger;
    let match = matchAllocate(kind, ids, this.opts.listPods(), [...ledger.values()], names[kind]);
    if (match.kind === 'none') {
      // Our watch may trail kubelet's by a moment: ask the API itself before giving up.
      match = matchAllocate(kind, ids, await this.opts.listPodsNow(), [...ledger.values()], names[kind]);
    }
    if (match.kind === 'none') {
      log.warn({ resource: names[kind], units: ids.length }, match.reason);
      throw new GrpcError(status.FAILED_PRECONDITION, match.reason);
    }
    if (match.kind === 'existing') {
      const entry = match.entry;
      const a = entry.allocation;
      const previous = a.deviceIds[kind];
      a.deviceIds[kind] = ids;
      entry.answered.add(kind);
      try {
        await Promise.all([
          writeContainerFiles(containerDirs(configRoot, a.podUID, a.container), configFor(a)),
          ledger.record(a),
        ]);
      } catch (err) {
        entry.answered.delete(kind);
        if (previous) a.deviceIds[kind] = previous;
        else delete a.deviceIds[kind];
        throw err;
      }
      log.info(
        {
          pod: `${a.namespace}/${a.podName}`,
          container: a.container,
          resource: names[kind],
          why: match.why,
        },
        'allocated',
      );
      return entry;
    }

    const pod = match.pod;
    // A GPU the pod is assigned but the inventory lacks: the inventory may be mid-refresh (a
    // reading that missed it); wait for the next one, bounded, before refusing.
    const missing = () => match.shares.some((s) => !this.opts.gpus.gpus().some((g) => g.index === s.index));
    const until = performance.now() + (this.opts.inventoryWaitMs ?? INVENTORY_WAIT_MS);
    while (missing()) {
      const left = until - performance.now();
      if (
        left <= 0 ||
        !(await this.inventoryChange(`pod ${podName(pod)} is assigned a GPU not listed`, left))
      )
        break;
    }
    const gpus = this.opts.gpus.gpus();
    const shares = match.shares.map((s) => {
      const gpu = gpus.find((g) => g.index === s.index);
      if (!gpu)
        throw new GrpcError(
          status.FAILED_PRECONDITION,
          `pod ${podName(pod)} is assigned GPU ${s.index}, which this node does not have`,
        );
      return { ...s, uuid: gpu.uuid };
    });
    ledger.checkCapacity(podName(pod), shares);
    const allocation: ContainerAllocation = {
      podUID: pod.metadata!.uid!,
      namespace: pod.metadata!.namespace ?? '',
      podName: pod.metadata!.name!,
      container: match.container,
      shares,
      request: { ...match.request },
      deviceIds: { [kind]: ids },
      allocatedAtMs: this.opts.clock.now(),
    };
    // Config file, then checkpoint, both before the answer. Either may land without the other if
    // the process dies: a config file nobody holds is removed by the sweep; a checkpointed
    // allocation kubelet never got an answer for is matched again when kubelet retries with the
    // same devices (rule 2 in matcher.ts), which GetPreferredAllocation steers it to.
    const entry: LedgerEntry = { allocation, answered: new Set([kind]), recovered: false };
    const files = writeContainerFiles(
      containerDirs(configRoot, allocation.podUID, allocation.container),
      configFor(allocation),
      true,
    );
    try {
      this.opts.faultHook?.('before-checkpoint');
      ledger.set(keyOf(allocation), entry);
      await Promise.all([ledger.record(allocation), files]);
    } catch (err) {
      ledger.delete(keyOf(allocation));
      await files.catch(() => undefined);
      throw err;
    }
    this.opts.faultHook?.('after-checkpoint');
    log.info(
      {
        pod: podName(pod),
        container: match.container,
        resource: names[kind],
        gpus: shares.map((s) => s.index),
      },
      'allocated',
    );
    return entry;
  }

  /** Resolves true at the next change of the GPU inventory, false when none comes in time. */
  private inventoryChange(
    reason: string,
    timeoutMs = this.opts.inventoryWaitMs ?? INVENTORY_WAIT_MS,
  ): Promise<boolean> {
    this.opts.logger.info({ reason, waitMs: Math.round(timeoutMs) }, 'Allocate waits for the GPU inventory');
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        unsubscribe();
        resolve(false);
      }, timeoutMs);
      const unsubscribe = this.opts.gpus.subscribe(() => {
        clearTimeout(timer);
        unsubscribe();
        resolve(true);
      });
      this.opts.onWaitingForGpus(reason);
    });
  }
}

function podName(pod: V1Pod): string {
  return `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

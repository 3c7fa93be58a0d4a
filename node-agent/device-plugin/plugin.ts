// The vGPU device plugin: two kubelet device plugins (vgpu-core and vgpu-memory) in one object.
// It advertises unit devices per GPU, registers with kubelet (again whenever kubelet restarts),
// and answers Allocate with the GPUs the extender assigned to the pod starting, which it infers
// by the rule in matcher.ts. Allocations are checkpointed; nothing is global, so tests run several
// plugins, or a plugin and its restarted self, in one process.
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig, PatchStrategy, type V1Pod } from '@kubernetes/client-node';
import { status } from '@grpc/grpc-js';
import type { Clock } from '../../common/clock.ts';
import { apiStatus, errorMessage, requestOptions, reuseConnections } from '../../common/kube.ts';
import type { Logger } from '../../common/log.ts';
import { Reflector, type ReflectorEvent } from '../../common/reflector.ts';
import {
  DEFAULT_DEVICE_PLUGIN_DIR,
  KUBELET_SOCKET,
  LD_SO_PRELOAD_FILE,
  VGPU_LIBRARY_FILE,
  VGPU_PLUGIN_SOCKETS,
  vgpuResourceNames,
  type VgpuResourceKind,
  parseVgpuDeviceId,
} from '../../contracts/device-plugin.ts';
import {
  DEFAULT_VGPU_MEMORY_UNIT_MIB,
  VGPU_CORE_PER_GPU,
  type VgpuResourceNameSet,
} from '../../contracts/resources.ts';
import { formatRfc3339 } from '../../contracts/time.ts';
import { VGPU_ALLOCATED_ANNOTATION } from '../../contracts/vgpu-pod.ts';
import { AdmissionRecovery } from './admission-recovery.ts';
import { Checkpoint } from './checkpoint.ts';
import {
  containerDirs,
  podsWithFiles,
  removeContainerTemps,
  removePodFiles,
  writeContainerFiles,
} from './container-files.ts';
import { type GpuSource, type PluginGpu, deviceList, listFingerprint } from './devices.ts';
import { KubeletSocketWatcher, socketIdentity } from './kubelet-watch.ts';
import {
  type ContainerAllocation,
  type LedgerEntry,
  gpuContainers,
  isMarkedAllocated,
  isPodFinished,
  matchAllocate,
} from './matcher.ts';
import type {
  AllocateRequest,
  AllocateResponse,
  ContainerAllocateResponse,
  Device,
  DevicePluginOptions,
  PreferredAllocationRequest,
  PreferredAllocationResponse,
} from './proto.ts';
import { preferredDevices } from './preferred.ts';
import { type AcceptedIds, checkAllocateRequest, checkPreferredRequest } from './request-check.ts';

/** At most this many device IDs of GPUs the plugin has not read (yet) in one Allocate. */
const MAX_UNKNOWN_UNITS = 4096;
import { KubeletRegistrar } from './registrar.ts';
import { GrpcError, ResourceServer } from './resource-server.ts';
import { buildContainerResponse, configFor } from './response.ts';

export { DEFAULT_DEVICE_PLUGIN_DIR };

/** What one GPU reading lets a request name, per resource. */
interface AdvertisedUnits {
  ids: ReadonlySet<string>;
  uuids: ReadonlySet<string>;
}

/** Points inside Allocate where a test makes the process "die". */
export type FaultPoint = 'before-checkpoint' | 'after-checkpoint';

export interface DevicePluginConfig {
  /** kubelet's device-plugin directory (`--device-plugin-path`). */
  socketDir: string;
  nodeName: string;
  gpus: GpuSource;
  kubeConfig: KubeConfig;
  /** Where the allocation checkpoint lives (`--checkpoint-path`). */
  checkpointDir: string;
  /** Host directory for per-container config and run directories (`--vgpu-config-root`). */
  configRoot: string;
  /** Host directory holding libvcuda-control.so and ld.so.preload (`--vgpu-library-dir`). */
  libraryDir: string;
  /** Where the host's /dev is visible (default /dev). */
  devRoot?: string;
  memoryUnitMiB?: number;
  /** Which resource names to register: loadwise's (default) or gpu-manager's tencent.com/vcuda-*. */
  resourceNames?: VgpuResourceNameSet;
  clock: Clock;
  logger: Logger;
  /** Period of the sweep that frees allocations of pods that are gone (default 60 s). */
  sweepIntervalMs?: number;
  /** Fallback poll of kubelet.sock, in case the directory watch misses a change (default 5 s). */
  kubeletPollMs?: number;
  apiTimeoutMs?: number;
  /**
   * How long an Allocate waits for the GPU inventory: the first reading after a start, or a
   * reading that shows a GPU the pod is assigned but the last one lacked (default 10 s).
   */
  inventoryWaitMs?: number;
  /** Least time between two deletes of one pod that failed admission (default 60 s). */
  recoveryRetryMs?: number;
  /** Tests only: throwing here simulates the process dying at that point. */
  faultHook?: (point: FaultPoint) => void;
}

const KINDS: readonly VgpuResourceKind[] = ['core', 'memory'];
const READY_WAIT_MS = 10_000;
const INVENTORY_WAIT_MS = 10_000;

export interface DevicePluginEvents {
  /** A resource registered with kubelet (after start, and again after each kubelet restart). */
  registered: [kind: VgpuResourceKind];
  /** A pod got its `vgpu-allocated` annotation. */
  marked: [pod: { namespace: string; name: string }];
  /** An Allocate waits for the GPU inventory (not read yet, or lacking an assigned GPU). */
  waitingForGpus: [reason: string];
  /** The pod watch saw a change (tests wait on it instead of sleeping). */
  pod: [type: ReflectorEvent, pod: V1Pod];
}

export class DevicePlugin extends EventEmitter<DevicePluginEvents> {
  private readonly servers: Record<VgpuResourceKind, ResourceServer>;
  private readonly pods: Reflector<V1Pod>;
  private readonly core: CoreV1Api;
  private readonly checkpoint: Checkpoint;
  private readonly watcher: KubeletSocketWatcher;
  private readonly ledger = new Map<string, LedgerEntry>();
  private readonly memoryUnitMiB: number;
  private readonly names: Readonly<Record<VgpuResourceKind, string>>;
  private readonly fingerprints: Record<VgpuResourceKind, string> = { core: '', memory: '' };
  private queue: Promise<unknown> = Promise.resolve();
  private ready: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly registrar: KubeletRegistrar;
  private readonly recovery: AdmissionRecovery;
  private readonly marking = new Set<Promise<void>>();
  private stopped = true;
  private advertisedCache:
    { gpus: readonly PluginGpu[]; byKind: Partial<Record<VgpuResourceKind, AdvertisedUnits>> } | undefined;
  /** start() found the inventory unknown and left registering to the first reading. */
  private awaitingInventory = false;

  constructor(private readonly config: DevicePluginConfig) {
    super();
    this.memoryUnitMiB = config.memoryUnitMiB ?? DEFAULT_VGPU_MEMORY_UNIT_MIB;
    this.names = vgpuResourceNames(config.resourceNames ?? 'loadwise');
    const logger = config.logger;
    // The PATCH that marks each allocated pod (and the reads Allocate may fall back to) over kept-alive
    // connections: client-node otherwise connects, and against a real API server handshakes TLS, per
    // request. On a view of the agent's config (Object.create), so its other clients stay as they are.
    this.core = reuseConnections(Object.create(config.kubeConfig) as KubeConfig).makeApiClient(CoreV1Api);
    this.checkpoint = new Checkpoint(config.checkpointDir, () => config.clock.now());
    const server = (kind: VgpuResourceKind) =>
      new ResourceServer(
        join(config.socketDir, VGPU_PLUGIN_SOCKETS[kind]),
        {
          options: () => this.options(),
          devices: () => this.devices(kind),
          preferred: async (req) => this.preferred(kind, req),
          allocate: (req) => this.allocate(kind, req),
        },
        logger.child({ resource: this.names[kind] }),
      );
    this.servers = { core: server('core'), memory: server('memory') };
    const fieldSelector = `spec.nodeName=${config.nodeName}`;
    this.pods = new Reflector<V1Pod>({
      kubeConfig: config.kubeConfig,
      path: '/api/v1/pods',
      fieldSelector,
      list: () => this.core.listPodForAllNamespaces({ fieldSelector }, requestOptions(60_000)),
      logger: logger.child({ watch: 'pods' }),
      onEvent: (type, pod) => {
        this.emit('pod', type, pod);
        if (type === 'DELETED') this.recovery.forget(pod.metadata?.uid);
        else this.recoverAdmission(pod);
        // Free a departed pod's share now: the extender frees it on the same event and may place the
        // next pod on it at once, which Allocate would refuse until the periodic sweep ran.
        if ((type === 'DELETED' || isPodFinished(pod)) && this.holds(pod.metadata?.uid)) {
          void this.sweep().catch((err: unknown) => this.sweepFailed(err));
        }
      },
    });
    this.recovery = new AdmissionRecovery({
      core: this.core,
      nodeName: config.nodeName,
      clock: config.clock,
      logger: logger.child({ part: 'admission-recovery' }),
      apiTimeoutMs: config.apiTimeoutMs,
      retryMs: config.recoveryRetryMs,
    });
    this.registrar = new KubeletRegistrar({
      socketDir: config.socketDir,
      resourceNames: this.names,
      servers: this.servers,
      options: this.options(),
      logger,
      onRegistered: (kind) => this.emit('registered', kind),
      mayRegister: () => config.gpus.known(),
    });
    this.watcher = new KubeletSocketWatcher(
      config.socketDir,
      config.kubeletPollMs ?? 5000,
      logger,
      (identity) => this.registrar.kubeletChanged(identity),
    );
  }

  /** The socket paths, for tests and logs. */
  socketPath(kind: VgpuResourceKind): string {
    return this.servers[kind].socketPath;
  }

  /** Recovers the checkpoint, serves both resources, registers them, and starts watching. */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    const log = this.config.logger;
    const loaded = await this.checkpoint.load();
    await removeContainerTemps(this.config.configRoot);
    let rebuild = false;
    if (loaded.kind === 'ok') {
      for (const allocation of loaded.allocations) {
        this.ledger.set(keyOf(allocation), { allocation, answered: new Set(), recovered: true });
      }
      log.info({ allocations: loaded.allocations.length }, 'recovered vGPU allocations from the checkpoint');
    } else if (loaded.kind === 'corrupt') {
      rebuild = true;
      log.error(
        { path: this.checkpoint.path, reason: loaded.reason, movedTo: loaded.movedTo },
        'vGPU checkpoint is corrupt; set it aside and rebuilding allocations from pod annotations',
      );
    }
    for (const file of [VGPU_LIBRARY_FILE, LD_SO_PRELOAD_FILE]) {
      const path = join(this.config.libraryDir, file);
      // Not fatal (the library may be installed after the agent starts), but every GPU container
      // would fail to start on the missing mount: say so once, loudly.
      if (!existsSync(path))
        log.warn({ path }, 'vGPU library file missing; GPU containers cannot start until it exists');
    }
    this.pods.start();
    // Before the first Allocate: take in what pods say was allocated, and free what is gone.
    this.ready = this.pods
      .waitForSync()
      .then(() => this.adoptAnnotatedPods(rebuild))
      .then(() => this.sweepNow().catch((err: unknown) => this.sweepFailed(err)))
      .then(() => this.rewriteConfigFiles());
    // Allocate waits for this itself; an unreachable API must not make start() fail or hang.
    this.ready.catch(() => undefined);
    this.refreshDevices();
    this.unsubscribe = this.config.gpus.subscribe(() => {
      this.refreshDevices();
      // The first reading, after start() found none: register now (once; start() did not).
      if (this.awaitingInventory && this.config.gpus.known() && !this.stopped) {
        this.awaitingInventory = false;
        void this.registrar.registerAll();
      }
    });
    for (const kind of KINDS) await this.servers[kind].start();
    const identity = await socketIdentity(join(this.config.socketDir, KUBELET_SOCKET));
    this.watcher.start(identity);
    // Not before the inventory is known: kubelet would count no devices (or stale ones) and an
    // Allocate could name a GPU the plugin has not heard of. Known by now, start() registers and
    // the first-reading path above must not register a second time.
    this.awaitingInventory = !this.config.gpus.known();
    await this.registrar.registerAll();
    const sweepMs = this.config.sweepIntervalMs ?? 60_000;
    this.sweepTimer = setInterval(
      () => void this.sweep().catch((err: unknown) => this.sweepFailed(err)),
      sweepMs,
    );
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.sweepTimer);
    this.watcher.stop();
    await this.registrar.stop();
    this.unsubscribe?.();
    await this.queue.catch(() => undefined);
    await Promise.allSettled([...this.marking]);
    await Promise.all(KINDS.map((kind) => this.servers[kind].stop()));
    await this.pods.stop();
    this.checkpoint.close();
  }

  /** Resolves once pods are known and the checkpoint is reconciled with them (Allocate waits for this). */
  async whenReady(): Promise<void> {
    await this.waitReady();
  }

  private holds(uid: string | undefined): boolean {
    if (!uid) return false;
    for (const e of this.ledger.values()) if (e.allocation.podUID === uid) return true;
    return false;
  }

  /** Allocations held now (a copy), for tests, metrics and the GPU inventory. */
  /** A pod on this node by UID, as the watch has it (the GPU watchdog names containers from it). */
  pod(uid: string): V1Pod | undefined {
    return this.pods.list().find((p) => p.metadata?.uid === uid);
  }

  allocations(): ContainerAllocation[] {
    return [...this.ledger.values()].map((e) => structuredClone(e.allocation));
  }

  /** Waits until every annotation patch in flight has finished. */
  async settled(): Promise<void> {
    await this.queue.catch(() => undefined);
    await Promise.allSettled([...this.marking]);
  }

  options(): DevicePluginOptions {
    return { pre_start_required: false, get_preferred_allocation_available: true };
  }

  devices(kind: VgpuResourceKind): Device[] {
    return deviceList(this.config.gpus.gpus(), kind, this.memoryUnitMiB);
  }

  /**
   * The IDs a request may name (the units advertised now) and the UUIDs of the GPUs read, built
   * once per GPU reading rather than per call: a source hands a new list after every change, and
   * rebuilding ~400 ID strings on every Allocate was garbage on the hot path.
   */
  private advertised(kind: VgpuResourceKind): AdvertisedUnits {
    const gpus = this.config.gpus.gpus();
    if (this.advertisedCache?.gpus !== gpus) this.advertisedCache = { gpus, byKind: {} };
    let units = this.advertisedCache.byKind[kind];
    if (units === undefined) {
      units = {
        ids: new Set(deviceList(gpus, kind, this.memoryUnitMiB).map((d) => d.ID)),
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

  // ---- devices ----------------------------------------------------------------------------------

  private refreshDevices(): void {
    if (!this.config.gpus.known()) return;
    for (const kind of KINDS) {
      const devices = this.devices(kind);
      const fingerprint = listFingerprint(devices);
      if (fingerprint === this.fingerprints[kind]) continue;
      const first = this.fingerprints[kind] === '';
      this.fingerprints[kind] = fingerprint;
      if (!first) {
        this.config.logger.info({ resource: this.names[kind] }, 'GPU devices changed; re-sending the list');
        this.servers[kind].broadcast(devices);
      }
    }
  }

  // ---- preferred allocation --------------------------------------------------------------------

  private preferred(kind: VgpuResourceKind, req: PreferredAllocationRequest): PreferredAllocationResponse {
    checkPreferredRequest(
      req,
      this.allocatable(
        kind,
        req.container_requests.map((c) => c.available_deviceIDs),
      ),
      this.names[kind],
    );
    const pods = this.pods.list();
    const ledger = [...this.ledger.values()];
    const gpus = this.config.gpus.gpus();
    return {
      container_responses: req.container_requests.map((c) => ({
        deviceIDs: preferredDevices(kind, c, pods, ledger, gpus),
      })),
    };
  }

  // ---- allocate --------------------------------------------------------------------------------

  private allocate(kind: VgpuResourceKind, req: AllocateRequest): Promise<AllocateResponse> {
    // One Allocate at a time: two concurrent calls must never pick the same pod.
    const run = this.queue.then(() => this.allocateNow(kind, req));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async allocateNow(kind: VgpuResourceKind, req: AllocateRequest): Promise<AllocateResponse> {
    if (this.stopped) throw new GrpcError(status.UNAVAILABLE, 'the device plugin is stopping');
    await this.waitReady();
    if (!this.config.gpus.known() && !(await this.inventoryChange('no GPU reading yet'))) {
      throw new GrpcError(status.UNAVAILABLE, 'the GPUs of this node are not known yet (no GPU reading)');
    }
    checkAllocateRequest(
      req,
      this.allocatable(
        kind,
        req.container_requests.map((c) => c.devices_ids),
      ),
      this.names[kind],
    );
    const responses: ContainerAllocateResponse[] = [];
    const touched: LedgerEntry[] = [];
    for (const c of req.container_requests) {
      const ids = [...c.devices_ids].sort();
      const entry = await this.allocateContainer(kind, ids);
      touched.push(entry);
      const a = entry.allocation;
      responses.push(
        buildContainerResponse(a, containerDirs(this.config.configRoot, a.podUID, a.container), {
          devRoot: this.config.devRoot ?? '/dev',
          libraryDir: this.config.libraryDir,
        }),
      );
    }
    for (const entry of touched) this.markSoon(entry.allocation.podUID);
    return { container_responses: responses };
  }

  private async allocateContainer(kind: VgpuResourceKind, ids: string[]): Promise<LedgerEntry> {
    const log = this.config.logger;
    let match = matchAllocate(kind, ids, this.pods.list(), [...this.ledger.values()], this.names[kind]);
    if (match.kind === 'none') {
      // Our watch may trail kubelet's by a moment: ask the API itself before giving up.
      match = matchAllocate(kind, ids, await this.listPodsNow(), [...this.ledger.values()], this.names[kind]);
    }
    if (match.kind === 'none') {
      log.warn({ resource: this.names[kind], units: ids.length }, match.reason);
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
          writeContainerFiles(containerDirs(this.config.configRoot, a.podUID, a.container), configFor(a)),
          this.recordAllocation(a),
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
          resource: this.names[kind],
          why: match.why,
        },
        'allocated',
      );
      return entry;
    }

    const pod = match.pod;
    // A GPU the pod is assigned but the inventory lacks: the inventory may be mid-refresh (a
    // reading that missed it); wait for the next one, bounded, before refusing.
    const missing = () => match.shares.some((s) => !this.config.gpus.gpus().some((g) => g.index === s.index));
    const until = performance.now() + (this.config.inventoryWaitMs ?? INVENTORY_WAIT_MS);
    while (missing()) {
      const left = until - performance.now();
      if (
        left <= 0 ||
        !(await this.inventoryChange(`pod ${podName(pod)} is assigned a GPU not listed`, left))
      )
        break;
    }
    const gpus = this.config.gpus.gpus();
    const shares = match.shares.map((s) => {
      const gpu = gpus.find((g) => g.index === s.index);
      if (!gpu)
        throw new GrpcError(
          status.FAILED_PRECONDITION,
          `pod ${podName(pod)} is assigned GPU ${s.index}, which this node does not have`,
        );
      return { ...s, uuid: gpu.uuid };
    });
    this.checkCapacity(podName(pod), shares);
    const allocation: ContainerAllocation = {
      podUID: pod.metadata!.uid!,
      namespace: pod.metadata!.namespace ?? '',
      podName: pod.metadata!.name!,
      container: match.container,
      shares,
      request: { ...match.request },
      deviceIds: { [kind]: ids },
      allocatedAtMs: this.config.clock.now(),
    };
    // Config file, then checkpoint, both before the answer. Either may land without the other if
    // the process dies: a config file nobody holds is removed by the sweep; a checkpointed
    // allocation kubelet never got an answer for is matched again when kubelet retries with the
    // same devices (rule 2 in matcher.ts), which GetPreferredAllocation steers it to.
    const entry: LedgerEntry = { allocation, answered: new Set([kind]), recovered: false };
    const files = writeContainerFiles(
      containerDirs(this.config.configRoot, allocation.podUID, allocation.container),
      configFor(allocation),
      true,
    );
    try {
      this.config.faultHook?.('before-checkpoint');
      this.ledger.set(keyOf(allocation), entry);
      await Promise.all([this.recordAllocation(allocation), files]);
    } catch (err) {
      this.ledger.delete(keyOf(allocation));
      await files.catch(() => undefined);
      throw err;
    }
    this.config.faultHook?.('after-checkpoint');
    log.info(
      {
        pod: podName(pod),
        container: match.container,
        resource: this.names[kind],
        gpus: shares.map((s) => s.index),
      },
      'allocated',
    );
    return entry;
  }

  /** Never hands out more of a GPU than it has, whatever the assignment says. */
  private checkCapacity(
    pod: string,
    shares: ReadonlyArray<{ index: number; core: number; memoryMiB: number }>,
  ): void {
    const gpus = this.config.gpus.gpus();
    for (const share of shares) {
      let core = share.core;
      let memory = share.memoryMiB;
      for (const e of this.ledger.values()) {
        for (const s of e.allocation.shares) {
          if (s.index !== share.index) continue;
          core += s.core;
          memory += s.memoryMiB;
        }
      }
      const gpu = gpus.find((g) => g.index === share.index);
      if (core > VGPU_CORE_PER_GPU || (gpu && memory > gpu.memoryMiB)) {
        throw new GrpcError(
          status.RESOURCE_EXHAUSTED,
          `pod ${pod}: GPU ${share.index} would be over-committed (core ${core}/${VGPU_CORE_PER_GPU}, memory ${memory}/${gpu?.memoryMiB ?? '?'} MiB)`,
        );
      }
    }
  }

  /** Resolves true at the next change of the GPU inventory, false when none comes in time. */
  private inventoryChange(
    reason: string,
    timeoutMs = this.config.inventoryWaitMs ?? INVENTORY_WAIT_MS,
  ): Promise<boolean> {
    this.config.logger.info(
      { reason, waitMs: Math.round(timeoutMs) },
      'Allocate waits for the GPU inventory',
    );
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        unsubscribe();
        resolve(false);
      }, timeoutMs);
      const unsubscribe = this.config.gpus.subscribe(() => {
        clearTimeout(timer);
        unsubscribe();
        resolve(true);
      });
      this.emit('waitingForGpus', reason);
    });
  }

  private async waitReady(): Promise<void> {
    if (!this.ready) throw new GrpcError(status.UNAVAILABLE, 'the device plugin has not started');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new GrpcError(
              status.UNAVAILABLE,
              'pods on this node are not known yet (API server unreachable?)',
            ),
          ),
        READY_WAIT_MS,
      );
    });
    try {
      await Promise.race([this.ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async listPodsNow(): Promise<V1Pod[]> {
    try {
      const list = await this.core.listPodForAllNamespaces(
        { fieldSelector: `spec.nodeName=${this.config.nodeName}` },
        requestOptions(this.config.apiTimeoutMs ?? 5000),
      );
      return list.items;
    } catch (err) {
      this.config.logger.warn({ err: errorMessage(err) }, 'listing pods for Allocate failed');
      return this.pods.list();
    }
  }

  /** One allocation made or changed: a journal append, not a rewrite of the whole ledger. */
  private recordAllocation(allocation: ContainerAllocation): Promise<void> {
    return this.checkpoint.record(this.config.nodeName, allocation, () =>
      [...this.ledger.values()].map((e) => e.allocation),
    );
  }

  private saveCheckpoint(): Promise<void> {
    return this.checkpoint.save(
      this.config.nodeName,
      [...this.ledger.values()].map((e) => e.allocation),
    );
  }

  // ---- marking pods ------------------------------------------------------------------------

  /**
   * markIfComplete after the answer has gone out: building the PATCH (the API client's request
   * and serialisation) ran synchronously inside Allocate before kubelet got its answer. Tracked
   * like the PATCH itself, so settled() and stop() wait for it.
   */
  private markSoon(podUID: string): void {
    const work: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.markIfComplete(podUID))
      .catch((err: unknown) =>
        this.config.logger.warn({ err: errorMessage(err) }, 'could not mark the pod allocated'),
      )
      .finally(() => this.marking.delete(work));
    this.marking.add(work);
  }

  /** Annotates the pod once every GPU container of it is allocated; in the background, off the Allocate path. */
  private markIfComplete(podUID: string, requireRunning = false): Promise<void> | undefined {
    const pod = this.pods.list().find((p) => p.metadata?.uid === podUID);
    if (!pod || isMarkedAllocated(pod)) return undefined;
    if (requireRunning && pod.status?.phase !== 'Running') return undefined;
    const containers = gpuContainers(pod);
    const complete =
      containers.length > 0 &&
      containers.every((c) => {
        const entry = this.ledger.get(`${podUID}/${c.name}`);
        if (!entry) return false;
        return KINDS.every((k) => c.request[k] === 0 || entry.allocation.deviceIds[k] !== undefined);
      });
    if (!complete) return undefined;
    const work = this.patchAllocated(pod).finally(() => this.marking.delete(work));
    this.marking.add(work);
    return work;
  }

  private async patchAllocated(pod: V1Pod): Promise<void> {
    const namespace = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    try {
      const patched = await this.core.patchNamespacedPod(
        {
          name,
          namespace,
          body: {
            metadata: {
              annotations: { [VGPU_ALLOCATED_ANNOTATION]: formatRfc3339(this.config.clock.now()) },
            },
          },
        },
        requestOptions(this.config.apiTimeoutMs ?? 5000, PatchStrategy.MergePatch),
      );
      this.pods.offer(patched);
      this.emit('marked', { namespace, name });
    } catch (err) {
      // The allocation stands (it is checkpointed); the sweep tries the annotation again.
      const level = apiStatus(err) === 404 ? 'info' : 'warn';
      this.config.logger[level](
        { pod: `${namespace}/${name}`, err: errorMessage(err) },
        'could not mark the pod allocated',
      );
    }
  }

  // ---- recovery and sweep --------------------------------------------------------------------

  /** A pod that failed admission for a vGPU resource: an Event, and a delete when a controller owns it. */
  private recoverAdmission(pod: V1Pod): void {
    if (this.stopped) return;
    const work = this.recovery.check(pod);
    if (!work) return;
    const tracked = work.finally(() => this.marking.delete(tracked));
    this.marking.add(tracked);
  }

  /**
   * Adds allocations that pods carry (vgpu-allocated + assignment) but the ledger lacks: all of
   * them after a corrupt checkpoint, any stragglers otherwise. They count against capacity and are
   * never handed out again.
   */
  /** Config files are written without fsync; after a restart they are made again from the ledger. */
  private async rewriteConfigFiles(): Promise<void> {
    for (const { allocation: a } of this.ledger.values()) {
      try {
        await writeContainerFiles(containerDirs(this.config.configRoot, a.podUID, a.container), configFor(a));
      } catch (err) {
        this.config.logger.warn(
          { pod: `${a.namespace}/${a.podName}`, container: a.container, err: errorMessage(err) },
          'could not rewrite a container vGPU config',
        );
      }
    }
  }

  private async adoptAnnotatedPods(rebuild: boolean): Promise<void> {
    let added = 0;
    for (const pod of this.pods.list()) {
      if (!isMarkedAllocated(pod) || isPodFinished(pod) || !pod.metadata?.uid) continue;
      const gpus = this.config.gpus.gpus();
      for (const c of gpuContainers(pod)) {
        const key = `${pod.metadata.uid}/${c.name}`;
        if (this.ledger.has(key)) continue;
        const shares = c.shares.map((s) => ({
          ...s,
          uuid: gpus.find((g) => g.index === s.index)?.uuid ?? `unknown-${s.index}`,
        }));
        this.ledger.set(key, {
          allocation: {
            podUID: pod.metadata.uid,
            namespace: pod.metadata.namespace ?? '',
            podName: pod.metadata.name ?? '',
            container: c.name,
            shares,
            request: { ...c.request },
            deviceIds: {},
            allocatedAtMs: this.config.clock.now(),
          },
          answered: new Set(),
          recovered: true,
        });
        added++;
      }
    }
    if (added > 0 || rebuild) {
      await this.saveCheckpoint();
      this.config.logger.info({ added, rebuilt: rebuild }, 'vGPU allocations taken from pod annotations');
    }
  }

  /**
   * Frees allocations of pods that are gone or finished (confirmed with the API, so a watch that
   * trails behind cannot free a live pod), retries annotations that failed, and removes container
   * directories nobody holds. Runs every sweep interval; tests call it directly.
   */
  async sweep(): Promise<{ freed: number }> {
    if (!this.pods.synced) return { freed: 0 };
    const work = this.queue.then(() => this.sweepNow());
    this.queue = work.catch(() => undefined);
    return work;
  }

  private async sweepNow(): Promise<{ freed: number }> {
    const live = new Map(this.pods.list().map((p) => [p.metadata?.uid ?? '', p]));
    const freedUIDs = new Set<string>();
    for (const entry of this.ledger.values()) {
      const a = entry.allocation;
      if (freedUIDs.has(a.podUID)) continue;
      const cached = live.get(a.podUID);
      if (cached && !isPodFinished(cached)) continue;
      if (!(await this.podGone(a.namespace, a.podName, a.podUID))) continue;
      freedUIDs.add(a.podUID);
    }
    let freed = 0;
    for (const [key, entry] of [...this.ledger]) {
      if (!freedUIDs.has(entry.allocation.podUID)) continue;
      this.ledger.delete(key);
      freed++;
    }
    if (freed > 0) {
      await this.saveCheckpoint();
      this.config.logger.info(
        { freed, pods: freedUIDs.size },
        'freed vGPU allocations of pods that are gone',
      );
    }
    // A delete that failed, or one a minute old on a pod still there, is tried again here.
    for (const pod of live.values()) this.recoverAdmission(pod);
    const held = new Set([...this.ledger.values()].map((e) => e.allocation.podUID));
    for (const uid of await podsWithFiles(this.config.configRoot)) {
      if (!held.has(uid) && !live.has(uid)) await removePodFiles(this.config.configRoot, uid);
    }
    for (const uid of held) {
      const answeredHere = [...this.ledger.values()].some((e) => e.allocation.podUID === uid && !e.recovered);
      // A recovered allocation may never have reached kubelet; a running pod shows that it did.
      void this.markIfComplete(uid, !answeredHere); // tracked in `marking`; never rejects
    }
    return { freed };
  }

  private async podGone(namespace: string, name: string, uid: string): Promise<boolean> {
    try {
      const pod = await this.core.readNamespacedPod(
        { namespace, name },
        requestOptions(this.config.apiTimeoutMs ?? 5000),
      );
      return pod.metadata?.uid !== uid || isPodFinished(pod);
    } catch (err) {
      return apiStatus(err) === 404;
    }
  }

  private sweepFailed(err: unknown): void {
    this.config.logger.warn({ err: errorMessage(err) }, 'vGPU sweep failed; will try again');
  }
}

function keyOf(a: ContainerAllocation): string {
  return `${a.podUID}/${a.container}`;
}

function podName(pod: V1Pod): string {
  return `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

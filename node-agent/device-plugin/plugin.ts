// The vGPU device plugin: two kubelet device plugins (vgpu-core and vgpu-memory) in one object.
// It advertises unit devices per GPU, registers with kubelet (again whenever kubelet restarts),
// and answers Allocate with the GPUs the extender assigned to the pod starting, which it infers
// by the rule in matcher.ts. Allocations are checkpointed; nothing is global, so tests run several
// plugins, or a plugin and its restarted self, in one process.
//
// This file is the lifecycle: it builds the parts and wires them together, starts and stops them
// in order, and registers with kubelet. The parts, one job each: ledger.ts (the allocations and
// their checkpoint), allocate.ts (device lists, GetPreferredAllocation, Allocate), recovery.ts
// (recovery after a start, the sweep), marking.ts (the `vgpu-allocated` annotation),
// serial-queue.ts (the queue Allocate and the sweep share).
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { status } from '@grpc/grpc-js';
import type { Clock } from '../../common/clock.ts';
import { errorMessage, requestOptions, reuseConnections } from '../../common/kube.ts';
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
} from '../../contracts/device-plugin.ts';
import { DEFAULT_VGPU_MEMORY_UNIT_MIB, type VgpuResourceNameSet } from '../../contracts/resources.ts';
import { AdmissionRecovery } from './admission-recovery.ts';
import { Allocator, type FaultPoint } from './allocate.ts';
import { Checkpoint } from './checkpoint.ts';
import { removeContainerTemps } from './container-files.ts';
import type { GpuSource } from './devices.ts';
import { KubeletSocketWatcher, socketIdentity } from './kubelet-watch.ts';
import { AllocationLedger } from './ledger.ts';
import { PodMarker } from './marking.ts';
import type { ContainerAllocation } from './matcher.ts';
import type { Device, DevicePluginOptions } from './proto.ts';
import { Recovery } from './recovery.ts';
import { KubeletRegistrar } from './registrar.ts';
import { GrpcError, ResourceServer } from './resource-server.ts';
import { SerialQueue } from './serial-queue.ts';

export { DEFAULT_DEVICE_PLUGIN_DIR };
export type { FaultPoint };

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
  private readonly ledger: AllocationLedger;
  private readonly names: Readonly<Record<VgpuResourceKind, string>>;
  /** Allocate and the sweep, one at a time; stop() and settled() wait for it to drain. */
  private readonly queue = new SerialQueue();
  private ready: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly registrar: KubeletRegistrar;
  private readonly admission: AdmissionRecovery;
  private readonly marker: PodMarker;
  private readonly recovery: Recovery;
  private readonly allocator: Allocator;
  private stopped = true;
  /** start() found the inventory unknown and left registering to the first reading. */
  private awaitingInventory = false;

  constructor(private readonly config: DevicePluginConfig) {
    super();
    this.names = vgpuResourceNames(config.resourceNames ?? 'loadwise');
    const logger = config.logger;
    // The PATCH that marks each allocated pod (and the reads Allocate may fall back to) over kept-alive
    // connections: client-node otherwise connects, and against a real API server handshakes TLS, per
    // request. On a view of the agent's config (Object.create), so its other clients stay as they are.
    this.core = reuseConnections(Object.create(config.kubeConfig) as KubeConfig).makeApiClient(CoreV1Api);
    this.checkpoint = new Checkpoint(config.checkpointDir, () => config.clock.now());
    this.ledger = new AllocationLedger({
      checkpoint: this.checkpoint,
      nodeName: config.nodeName,
      gpus: config.gpus,
    });
    const server = (kind: VgpuResourceKind) =>
      new ResourceServer(
        join(config.socketDir, VGPU_PLUGIN_SOCKETS[kind]),
        {
          options: () => this.options(),
          devices: () => this.devices(kind),
          preferred: async (req) => this.allocator.preferred(kind, req),
          allocate: (req) => this.allocator.allocate(kind, req),
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
        this.recovery.podChanged(type, pod);
      },
    });
    this.admission = new AdmissionRecovery({
      core: this.core,
      nodeName: config.nodeName,
      clock: config.clock,
      logger: logger.child({ part: 'admission-recovery' }),
      apiTimeoutMs: config.apiTimeoutMs,
      retryMs: config.recoveryRetryMs,
    });
    this.marker = new PodMarker({
      core: this.core,
      pods: this.pods,
      ledger: this.ledger,
      clock: config.clock,
      logger,
      apiTimeoutMs: config.apiTimeoutMs,
      onMarked: (pod) => this.emit('marked', pod),
    });
    this.recovery = new Recovery({
      ledger: this.ledger,
      queue: this.queue,
      pods: this.pods,
      core: this.core,
      gpus: config.gpus,
      admission: this.admission,
      marker: this.marker,
      isStopped: () => this.stopped,
      configRoot: config.configRoot,
      clock: config.clock,
      logger,
      apiTimeoutMs: config.apiTimeoutMs,
    });
    this.allocator = new Allocator({
      ledger: this.ledger,
      queue: this.queue,
      gpus: config.gpus,
      listPods: () => this.pods.list(),
      listPodsNow: () => this.listPodsNow(),
      waitReady: () => this.waitReady(),
      isStopped: () => this.stopped,
      marker: this.marker,
      broadcast: (kind, devices) => this.servers[kind].broadcast(devices),
      onWaitingForGpus: (reason) => this.emit('waitingForGpus', reason),
      names: this.names,
      memoryUnitMiB: config.memoryUnitMiB ?? DEFAULT_VGPU_MEMORY_UNIT_MIB,
      configRoot: config.configRoot,
      devRoot: config.devRoot,
      libraryDir: config.libraryDir,
      inventoryWaitMs: config.inventoryWaitMs,
      clock: config.clock,
      logger,
      faultHook: config.faultHook,
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
      this.ledger.restore(loaded.allocations);
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
      .then(() => this.recovery.adoptAnnotatedPods(rebuild))
      .then(() => this.recovery.sweepNow().catch((err: unknown) => this.recovery.sweepFailed(err)))
      .then(() => this.recovery.rewriteConfigFiles());
    // Allocate waits for this itself; an unreachable API must not make start() fail or hang.
    this.ready.catch(() => undefined);
    this.allocator.refreshDevices();
    this.unsubscribe = this.config.gpus.subscribe(() => {
      this.allocator.refreshDevices();
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
      () => void this.recovery.sweep().catch((err: unknown) => this.recovery.sweepFailed(err)),
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
    await this.queue.idle();
    await this.marker.settled();
    await Promise.all(KINDS.map((kind) => this.servers[kind].stop()));
    await this.pods.stop();
    this.checkpoint.close();
  }

  /** Resolves once pods are known and the checkpoint is reconciled with them (Allocate waits for this). */
  async whenReady(): Promise<void> {
    await this.waitReady();
  }

  /** A pod on this node by UID, as the watch has it (the GPU watchdog names containers from it). */
  pod(uid: string): V1Pod | undefined {
    return this.pods.list().find((p) => p.metadata?.uid === uid);
  }

  /** Allocations held now (a copy), for tests, metrics and the GPU inventory. */
  allocations(): ContainerAllocation[] {
    return this.ledger.allocations();
  }

  /** Waits until every annotation patch in flight has finished. */
  async settled(): Promise<void> {
    await this.queue.idle();
    await this.marker.settled();
  }

  options(): DevicePluginOptions {
    return { pre_start_required: false, get_preferred_allocation_available: true };
  }

  devices(kind: VgpuResourceKind): Device[] {
    return this.allocator.devices(kind);
  }

  /**
   * Frees allocations of pods that are gone or finished (confirmed with the API, so a watch that
   * trails behind cannot free a live pod), retries annotations that failed, and removes container
   * directories nobody holds. Runs every sweep interval; tests call it directly.
   */
  sweep(): Promise<{ freed: number }> {
    return this.recovery.sweep();
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
}

// The node agent assembled: GPU provider → sampler → HTTP, and the vGPU device plugin beside it
// when there are GPUs and a cluster. The DaemonSet command (main.ts) and the local all-in-one mode
// start it through this one function, so both run the same parts in the same order.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/log.ts';
import type { AgentCompatMode } from '../contracts/node-metrics.ts';
import type { VgpuResourceNameSet } from '../contracts/resources.ts';
import type { DevicePlugin } from './device-plugin/plugin.ts';
import type { EnforceMode, GpuWatchdog } from './gpu-watchdog/watchdog.ts';
import { defaultRunner } from './gpu/nvidia-smi-provider.ts';
import { NodeAgent } from './agent.ts';
import { chooseGpuProvider } from './gpu/choose.ts';
import { allocatedPerGpu, InventorySource } from './gpu/inventory-source.ts';
import type { GpuProvider, GpuProviderChoice } from './gpu/provider.ts';

export interface DevicePluginSettings {
  mode: 'auto' | 'on' | 'off';
  socketDir: string;
  checkpointDir: string;
  configRoot: string;
  libraryDir: string;
  devRoot: string;
  memoryUnitMiB: number;
  /** Resource names to register: loadwise's, or gpu-manager's tencent.com/vcuda-* (default loadwise). */
  resourceNames?: VgpuResourceNameSet;
  /** Resolves the cluster; throws when there is none (then `auto` leaves the plugin off). */
  kubeConfig: () => KubeConfig | Promise<KubeConfig>;
}

/** The outside GPU memory watchdog (gpu-watchdog/watchdog.ts); it runs where nvidia-smi and the device plugin do. */
export interface GpuWatchdogSettings {
  /** off, report (metric + Event), kill (also SIGKILL the processes over the share). */
  enforce: EnforceMode;
  contextAllowanceMiB: number;
  intervalMs: number;
}

export interface NodeAgentAppOptions {
  nodeName: string;
  procPath: string;
  sampleIntervalMs: number;
  gpuProvider: GpuProviderChoice;
  gpuInventory?: string;
  devicePlugin: DevicePluginSettings;
  /** Absent: off (the local mode's simulated GPUs have no processes to watch). */
  gpuWatchdog?: GpuWatchdogSettings;
  /** Also serve node-metrics' documents (see AgentOptions.compat). */
  compat?: AgentCompatMode;
  clock: Clock;
  logger: Logger;
}

/** How long the start waits for the first GPU reading before it starts the device plugin anyway. */
const FIRST_READING_WAIT_MS = 15_000;

/** A started agent; `plugin` is undefined when the device plugin stayed off. */
export interface NodeAgentApp {
  readonly agent: NodeAgent;
  readonly gpu: GpuProvider | undefined;
  readonly plugin: DevicePlugin | undefined;
  listen(host: string, port: number): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Sets up the GPU provider and the device plugin and starts sampling. Throws with a readable
 * message when a part that was asked for explicitly cannot start.
 */
export async function startNodeAgent(opts: NodeAgentAppOptions): Promise<NodeAgentApp> {
  const { logger } = opts;
  // The device plugin's ledger is what the GPUs report as allocated (simulated GPUs follow it too).
  let plugin: DevicePlugin | undefined;
  let kubeConfig: KubeConfig | undefined;
  const allocations = () =>
    plugin ? allocatedPerGpu(plugin.allocations()) : new Map<number, { core: number; memoryMiB: number }>();
  let gpu: GpuProvider | undefined;
  try {
    gpu = await chooseGpuProvider(opts.gpuProvider, opts.gpuInventory, opts.nodeName, allocations);
  } catch (err) {
    throw new Error(`cannot set up the GPU provider: ${(err as Error).message}`);
  }
  logger.info({ gpuProvider: gpu?.name ?? 'none' }, 'GPU provider');

  const inventory = new InventorySource();
  const agent = new NodeAgent({
    gpu,
    gpuAllocations: allocations,
    onGpuReading: (snapshot) => inventory.update(snapshot.devices),
    nodeName: opts.nodeName,
    procPath: opts.procPath,
    sampleIntervalMs: opts.sampleIntervalMs,
    compat: opts.compat,
    clock: opts.clock,
    logger,
  });
  // Sampling first: its first GPU reading is the inventory the device plugin advertises. The
  // plugin registers with kubelet only once that is known (plugin.ts); waiting for it here, a
  // while, makes the usual start register at once.
  agent.startSampling();
  if (gpu && opts.devicePlugin.mode !== 'off') {
    if (!(await inventory.whenKnown(FIRST_READING_WAIT_MS))) {
      logger.warn(
        { waitedMs: FIRST_READING_WAIT_MS },
        'no GPU reading yet; the device plugin registers with kubelet once there is one',
      );
    }
    try {
      const started = await startDevicePlugin(opts, inventory);
      plugin = started?.plugin;
      kubeConfig = started?.kubeConfig;
    } catch (err) {
      await agent.stop();
      throw err;
    }
  }
  const watchdog =
    plugin && kubeConfig && gpu?.name === 'nvidia-smi'
      ? await startGpuWatchdog(opts, plugin, kubeConfig, agent)
      : undefined;
  return {
    agent,
    gpu,
    plugin,
    listen: (host, port) => agent.listen(host, port),
    stop: async () => {
      await Promise.all([agent.stop(), plugin?.stop(), watchdog?.stop()]);
    },
  };
}

async function startGpuWatchdog(
  opts: NodeAgentAppOptions,
  plugin: DevicePlugin,
  kubeConfig: KubeConfig,
  agent: NodeAgent,
): Promise<GpuWatchdog | undefined> {
  const settings = opts.gpuWatchdog;
  if (!settings || settings.enforce === 'off') return undefined;
  const { GpuWatchdog } = await import('./gpu-watchdog/watchdog.ts');
  const { kubernetesEventSink } = await import('./gpu-watchdog/events.ts');
  const logger = opts.logger.child({ part: 'gpu-watchdog' });
  const watchdog = new GpuWatchdog({
    nodeName: opts.nodeName,
    procPath: opts.procPath,
    exec: defaultRunner(),
    allocations: () => plugin.allocations(),
    pod: (uid) => plugin.pod(uid),
    event: kubernetesEventSink(kubeConfig, opts.nodeName, opts.clock, logger),
    enforce: settings.enforce,
    contextAllowanceMiB: settings.contextAllowanceMiB,
    clock: opts.clock,
    logger,
    registry: agent.metrics.registry,
  });
  watchdog.start(settings.intervalMs);
  logger.info(
    {
      enforce: settings.enforce,
      contextAllowanceMiB: settings.contextAllowanceMiB,
      intervalMs: settings.intervalMs,
    },
    'GPU memory watchdog started',
  );
  return watchdog;
}

async function startDevicePlugin(
  opts: NodeAgentAppOptions,
  inventory: InventorySource,
): Promise<{ plugin: DevicePlugin; kubeConfig: KubeConfig } | undefined> {
  const settings = opts.devicePlugin;
  let kubeConfig: KubeConfig;
  try {
    kubeConfig = await settings.kubeConfig();
  } catch (err) {
    if (settings.mode === 'on')
      throw new Error(`--device-plugin on needs a cluster: ${(err as Error).message}`);
    opts.logger.info(
      { reason: (err as Error).message },
      'no cluster configured: the device plugin stays off',
    );
    return undefined;
  }
  // Loaded only here: gRPC and the plugin are not needed on a node without GPUs.
  const { DevicePlugin } = await import('./device-plugin/plugin.ts');
  const plugin = new DevicePlugin({
    socketDir: settings.socketDir,
    nodeName: opts.nodeName,
    gpus: inventory,
    kubeConfig,
    checkpointDir: settings.checkpointDir,
    configRoot: settings.configRoot,
    libraryDir: settings.libraryDir,
    devRoot: settings.devRoot,
    memoryUnitMiB: settings.memoryUnitMiB,
    resourceNames: settings.resourceNames,
    clock: opts.clock,
    logger: opts.logger.child({ part: 'device-plugin' }),
  });
  try {
    await plugin.start();
  } catch (err) {
    throw new Error(`cannot start the device plugin: ${(err as Error).message}`);
  }
  return { plugin, kubeConfig };
}

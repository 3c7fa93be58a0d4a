// `npm run agent -- [flags]`: the entry point the DaemonSet runs.
import { accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { listenOption, logLevelOption, parsePositiveDuration, parsePositiveInt } from '../common/cli.ts';
import { systemClock } from '../common/clock.ts';
import { exitOnSignals } from '../common/lifecycle.ts';
import { createLogger } from '../common/log.ts';
import { AGENT_DEFAULT_PORT, DEFAULT_VGPU_MEMORY_UNIT_MIB } from '../contracts/index.ts';
import { DEFAULT_DEVICE_PLUGIN_DIR } from '../contracts/device-plugin.ts';
import type { DevicePlugin } from './device-plugin/plugin.ts';
import { allocatedPerGpu, InventorySource } from './gpu/inventory-source.ts';
import { NodeAgent } from './agent.ts';
import { chooseGpuProvider } from './gpu/choose.ts';
import { GPU_PROVIDERS, type GpuProvider, type GpuProviderChoice } from './gpu/provider.ts';

const MIN_INTERVAL_MS = 100;
const MAX_INTERVAL_MS = 60_000;

function parseInterval(text: string): number {
  const ms = parsePositiveDuration(text);
  if (ms < MIN_INTERVAL_MS || ms > MAX_INTERVAL_MS) {
    // Above a minute the 1-minute window would hold at most one sample; below 100 ms /proc reads dominate.
    throw new InvalidArgumentError(`must be between 100ms and 1m, got "${text}"`);
  }
  return ms;
}

const program = new Command()
  .name('loadwise-agent')
  .description(
    "loadwise node agent: samples this node's real CPU, memory and GPU use into an in-memory day of " +
      'history and serves the windows on /statistics (JSON) and /metrics (Prometheus); on a GPU node ' +
      'it is also the kubelet device plugin for the loadwise.io/vgpu-core and vgpu-memory resources.',
  )
  .addOption(listenOption(AGENT_DEFAULT_PORT, '/statistics, /metrics, /healthz and /readyz'))
  .addOption(
    new Option(
      '--proc-path <dir>',
      "the /proc to read (a DaemonSet mounts the host's /proc elsewhere)",
    ).default('/proc'),
  )
  .addOption(
    new Option('--sample-interval <duration>', 'time between samples, Go-style (e.g. 10s, 500ms); 100ms..1m')
      .default(10_000, '10s')
      .argParser(parseInterval),
  )
  .addOption(
    new Option('--node-name <name>', 'node name reported in /statistics and metric labels')
      .env('NODE_NAME')
      .default(hostname(), 'NODE_NAME, then the hostname'),
  )
  .addOption(
    new Option(
      '--gpu-provider <provider>',
      'where GPUs come from: auto (nvidia-smi when on PATH, else none), nvidia-smi, simulated, none',
    )
      .choices(GPU_PROVIDERS)
      .default('auto'),
  )
  .addOption(
    new Option(
      '--gpu-inventory <file>',
      'GPU inventory for --gpu-provider simulated (see configs/gpus.sample.yaml)',
    ),
  )
  .addOption(
    new Option(
      '--device-plugin <mode>',
      'serve the kubelet device plugin for the vGPU resources: auto (when there are GPUs and a cluster), on, off',
    )
      .choices(['auto', 'on', 'off'])
      .default('auto'),
  )
  .addOption(
    new Option('--device-plugin-path <dir>', "kubelet's device-plugin directory").default(
      DEFAULT_DEVICE_PLUGIN_DIR,
    ),
  )
  .addOption(
    new Option('--checkpoint-path <dir>', 'where vGPU allocations are checkpointed').default(
      '/var/lib/loadwise/device-plugin',
    ),
  )
  .addOption(
    new Option('--vgpu-config-root <dir>', 'host directory for per-container vGPU config').default(
      '/var/lib/loadwise/vgpu',
    ),
  )
  .addOption(
    new Option(
      '--vgpu-library-dir <dir>',
      'host directory holding libvcuda-control.so and ld.so.preload',
    ).default('/usr/local/loadwise/lib'),
  )
  .addOption(
    new Option('--vgpu-memory-unit <MiB>', 'MiB per loadwise.io/vgpu-memory unit')
      .default(DEFAULT_VGPU_MEMORY_UNIT_MIB)
      .argParser(parsePositiveInt),
  )
  .addOption(new Option('--dev-root <dir>', "where the host's /dev is visible").default('/dev'))
  .addOption(
    new Option(
      '--kubeconfig <path>',
      'kubeconfig for the device plugin; default: in-cluster, then ~/.kube/config',
    ),
  )
  .addOption(logLevelOption())
  .showHelpAfterError('(run with --help for usage)');

program.parse();
const opts = program.opts<{
  listen: { host: string; port: number };
  procPath: string;
  sampleInterval: number;
  nodeName: string;
  gpuProvider: GpuProviderChoice;
  gpuInventory?: string;
  devicePlugin: 'auto' | 'on' | 'off';
  devicePluginPath: string;
  checkpointPath: string;
  vgpuConfigRoot: string;
  vgpuLibraryDir: string;
  vgpuMemoryUnit: number;
  devRoot: string;
  kubeconfig?: string;
  logLevel: string;
}>();

const logger = createLogger({ level: opts.logLevel, name: 'node-agent' });
try {
  accessSync(join(opts.procPath, 'stat'), constants.R_OK);
} catch {
  // Keep running: the mount may appear later, and /readyz stays 503 until it does.
  logger.warn({ procPath: opts.procPath }, 'cannot read <proc-path>/stat; will keep trying every interval');
}

// The device plugin's ledger is what the GPUs report as allocated (simulated GPUs also follow it).
let plugin: DevicePlugin | undefined;
const allocations = () =>
  plugin ? allocatedPerGpu(plugin.allocations()) : new Map<number, { core: number; memoryMiB: number }>();
let gpu: GpuProvider | undefined;
try {
  gpu = await chooseGpuProvider(opts.gpuProvider, opts.gpuInventory, opts.nodeName, allocations);
} catch (err) {
  logger.fatal({ err: (err as Error).message }, 'cannot set up the GPU provider');
  process.exit(1);
}
logger.info({ gpuProvider: gpu?.name ?? 'none' }, 'GPU provider');

const inventory = new InventorySource();
if (gpu && opts.devicePlugin !== 'off') {
  plugin = await startDevicePlugin();
}

/** The device plugin needs the cluster (to find the pods the extender placed here). */
async function startDevicePlugin(): Promise<DevicePlugin | undefined> {
  // Loaded only here: the Kubernetes client is the agent's largest dependency, and a node without
  // GPUs never needs it.
  const { loadKubeConfig } = await import('../common/kubeconfig.ts');
  let kubeConfig;
  try {
    kubeConfig = loadKubeConfig(opts.kubeconfig).kubeConfig;
  } catch (err) {
    if (opts.devicePlugin === 'on') {
      logger.fatal({ err: (err as Error).message }, '--device-plugin on needs a cluster');
      process.exit(1);
    }
    logger.info({ reason: (err as Error).message }, 'no cluster configured: the device plugin stays off');
    return undefined;
  }
  const { DevicePlugin } = await import('./device-plugin/plugin.ts');
  const started = new DevicePlugin({
    socketDir: opts.devicePluginPath,
    nodeName: opts.nodeName,
    gpus: inventory,
    kubeConfig,
    checkpointDir: opts.checkpointPath,
    configRoot: opts.vgpuConfigRoot,
    libraryDir: opts.vgpuLibraryDir,
    devRoot: opts.devRoot,
    memoryUnitMiB: opts.vgpuMemoryUnit,
    clock: systemClock,
    logger: logger.child({ part: 'device-plugin' }),
  });
  try {
    await started.start();
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'cannot start the device plugin');
    process.exit(1);
  }
  return started;
}

const agent = new NodeAgent({
  gpu,
  gpuAllocations: allocations,
  onGpuReading: (snapshot) => inventory.update(snapshot.devices),
  nodeName: opts.nodeName,
  procPath: opts.procPath,
  sampleIntervalMs: opts.sampleInterval,
  clock: systemClock,
  logger,
});

exitOnSignals(logger, async () => {
  await Promise.all([agent.stop(), plugin?.stop()]);
});

try {
  agent.startSampling();
  const address = await agent.listen(opts.listen.host, opts.listen.port);
  logger.info(
    { address, node: opts.nodeName, procPath: opts.procPath, sampleIntervalMs: opts.sampleInterval },
    'node agent listening',
  );
} catch (err) {
  logger.fatal({ err }, `cannot listen on ${opts.listen.host}:${opts.listen.port}`);
  process.exit(1);
}

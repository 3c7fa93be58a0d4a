// `npm run agent -- [flags]`: the entry point the DaemonSet runs.
import { accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  type ListenAddress,
  listenOption,
  logLevelOption,
  parseListen,
  parsePositiveDuration,
  parsePositiveInt,
  HELP_LAYOUT,
} from '../common/cli.ts';
import { systemClock } from '../common/clock.ts';
import { exitOnSignals } from '../common/lifecycle.ts';
import { createLogger } from '../common/log.ts';
import {
  AGENT_COMPAT_MODES,
  AGENT_DEFAULT_PORT,
  type AgentCompatMode,
  DEFAULT_SAMPLE_INTERVAL_SECONDS,
  DEFAULT_VGPU_MEMORY_UNIT_MIB,
  GPU_MANAGER_MEMORY_UNIT_MIB,
  VGPU_RESOURCE_NAME_SET_CHOICES,
  type VgpuResourceNameSet,
} from '../contracts/index.ts';
import { DEFAULT_DEVICE_PLUGIN_DIR } from '../contracts/device-plugin.ts';
import { type NodeAgentApp, startNodeAgent } from './app.ts';
import {
  DEFAULT_CONTEXT_ALLOWANCE_MIB,
  DEFAULT_WATCHDOG_INTERVAL_MS,
  ENFORCE_MODES,
  type EnforceMode,
} from './gpu-watchdog/watchdog.ts';
import { GPU_PROVIDERS, type GpuProviderChoice } from './gpu/provider.ts';

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

function parseWatchdogInterval(text: string): number {
  const ms = parsePositiveDuration(text);
  // Each check runs nvidia-smi, which takes tens of milliseconds and wakes the driver.
  if (ms < 1_000 || ms > 600_000) throw new InvalidArgumentError(`must be between 1s and 10m, got "${text}"`);
  return ms;
}

const program = new Command()
  .configureHelp(HELP_LAYOUT)
  .name('loadwise-agent')
  .description(
    "loadwise node agent: samples this node's real CPU, memory and GPU use into an in-memory day of " +
      'history and serves the windows on /statistics (JSON) and /metrics (Prometheus); on a GPU node ' +
      'it is also the kubelet device plugin for the loadwise.io/vgpu-core and vgpu-memory resources.',
  )
  .addOption(
    listenOption(AGENT_DEFAULT_PORT, '/statistics, /loadwise/v1/statistics, /metrics, /healthz and /readyz'),
  )
  .addOption(
    new Option(
      '--web.listen-address <host:port>',
      "alias of --listen, node-metrics' spelling, so its DaemonSet arguments keep working",
    ).argParser(parseListen),
  )
  .addOption(
    new Option(
      '--compat <system>',
      "also speak another agent's protocol: node-metrics (GET /statistics answers node-metrics' flat " +
        "document in percent unless the request accepts loadwise's statistics media type, " +
        "/metrics adds node_<figure> gauges in percent; loadwise's document stays on /loadwise/v1/statistics)",
    )
      .choices(AGENT_COMPAT_MODES)
      .default('none'),
  )
  .addOption(
    new Option(
      '--proc-path <dir>',
      "the /proc to read (a DaemonSet mounts the host's /proc elsewhere)",
    ).default('/proc'),
  )
  .addOption(
    new Option('--sample-interval <duration>', 'time between samples, Go-style (e.g. 10s, 500ms); 100ms..1m')
      .default(DEFAULT_SAMPLE_INTERVAL_SECONDS * 1000, `${DEFAULT_SAMPLE_INTERVAL_SECONDS}s`)
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
  .addOption(
    new Option(
      '--resource-names <set>',
      'extended resources the device plugin registers: loadwise (loadwise.io/vgpu-core, loadwise.io/vgpu-memory) ' +
        "or gpu-manager (tencent.com/vcuda-core, tencent.com/vcuda-memory, for pod specs and quotas written for Tencent's " +
        'gpu-manager; memory units are 256 MiB). One set per node, never both; the extender reads either',
    )
      .choices(VGPU_RESOURCE_NAME_SET_CHOICES)
      .default('loadwise'),
  )
  .addOption(new Option('--dev-root <dir>', "where the host's /dev is visible").default('/dev'))
  .addOption(
    new Option(
      '--kubeconfig <path>',
      'kubeconfig for the device plugin; default: in-cluster, then ~/.kube/config',
    ),
  )
  .addOption(
    new Option(
      '--enforce-gpu-memory <mode>',
      "the outside GPU memory watchdog (with nvidia-smi and the device plugin): compares each vGPU container's real " +
        'GPU memory (nvidia-smi --query-compute-apps) with its share; report: a metric and a Warning Event on the ' +
        'pod; kill: also SIGKILL its processes, largest first, until it fits (needs hostPID); off',
    )
      .choices(ENFORCE_MODES)
      .default('report'),
  )
  .addOption(
    new Option(
      '--gpu-context-allowance <MiB>',
      "GPU memory per process the watchdog allows on top of a container's share, for the CUDA context the vGPU library does not count",
    )
      .default(DEFAULT_CONTEXT_ALLOWANCE_MIB)
      .argParser(parsePositiveInt),
  )
  .addOption(
    new Option('--gpu-watchdog-interval <duration>', 'time between GPU watchdog checks, Go-style; 1s..10m')
      .default(DEFAULT_WATCHDOG_INTERVAL_MS, '10s')
      .argParser(parseWatchdogInterval),
  )
  .addOption(logLevelOption())
  .showHelpAfterError('(run with --help for usage)');

program.parse();
const opts = program.opts<{
  listen: ListenAddress;
  'web.listenAddress'?: ListenAddress;
  compat: AgentCompatMode;
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
  resourceNames: VgpuResourceNameSet;
  devRoot: string;
  kubeconfig?: string;
  enforceGpuMemory: EnforceMode;
  gpuContextAllowance: number;
  gpuWatchdogInterval: number;
  logLevel: string;
}>();

if (opts['web.listenAddress'] && program.getOptionValueSource('listen') === 'cli')
  program.error('error: --listen and --web.listen-address are the same setting; give one');
const listen = opts['web.listenAddress'] ?? opts.listen;
if (opts.resourceNames === 'gpu-manager' && opts.vgpuMemoryUnit !== GPU_MANAGER_MEMORY_UNIT_MIB)
  program.error(
    `error: --resource-names gpu-manager counts tencent.com/vcuda-memory in ${GPU_MANAGER_MEMORY_UNIT_MIB} MiB units; --vgpu-memory-unit must stay ${GPU_MANAGER_MEMORY_UNIT_MIB}`,
  );

const logger = createLogger({ level: opts.logLevel, name: 'node-agent' });
try {
  accessSync(join(opts.procPath, 'stat'), constants.R_OK);
} catch {
  // Keep running: the mount may appear later, and /readyz stays 503 until it does.
  logger.warn({ procPath: opts.procPath }, 'cannot read <proc-path>/stat; will keep trying every interval');
}

let app: NodeAgentApp;
try {
  app = await startNodeAgent({
    nodeName: opts.nodeName,
    procPath: opts.procPath,
    sampleIntervalMs: opts.sampleInterval,
    gpuProvider: opts.gpuProvider,
    gpuInventory: opts.gpuInventory,
    compat: opts.compat,
    devicePlugin: {
      mode: opts.devicePlugin,
      socketDir: opts.devicePluginPath,
      checkpointDir: opts.checkpointPath,
      configRoot: opts.vgpuConfigRoot,
      libraryDir: opts.vgpuLibraryDir,
      devRoot: opts.devRoot,
      memoryUnitMiB: opts.vgpuMemoryUnit,
      resourceNames: opts.resourceNames,
      // Loaded only when needed: the Kubernetes client is the agent's largest dependency, and a
      // node without GPUs never needs it.
      kubeConfig: async () =>
        (await import('../common/kubeconfig.ts')).loadKubeConfig(opts.kubeconfig).kubeConfig,
    },
    gpuWatchdog: {
      enforce: opts.enforceGpuMemory,
      contextAllowanceMiB: opts.gpuContextAllowance,
      intervalMs: opts.gpuWatchdogInterval,
    },
    clock: systemClock,
    logger,
  });
} catch (err) {
  logger.fatal({ err: (err as Error).message }, 'cannot start the node agent');
  process.exit(1);
}

exitOnSignals(logger, () => app.stop());

try {
  const address = await app.listen(listen.host, listen.port);
  logger.info(
    {
      address,
      node: opts.nodeName,
      procPath: opts.procPath,
      sampleIntervalMs: opts.sampleInterval,
      compat: opts.compat,
    },
    'node agent listening',
  );
} catch (err) {
  logger.fatal({ err }, `cannot listen on ${listen.host}:${listen.port}`);
  process.exit(1);
}

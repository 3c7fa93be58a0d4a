// `npm run agent -- [flags]`: the entry point the DaemonSet runs.
import { accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { listenOption, logLevelOption, parsePositiveDuration } from '../common/cli.ts';
import { systemClock } from '../common/clock.ts';
import { exitOnSignals } from '../common/lifecycle.ts';
import { createLogger } from '../common/log.ts';
import { AGENT_DEFAULT_PORT } from '../contracts/index.ts';
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
    "loadwise node agent: samples this node's real CPU and memory use from /proc into an in-memory " +
      'day of history and serves the windows on /statistics (JSON) and /metrics (Prometheus).',
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
  logLevel: string;
}>();

const logger = createLogger({ level: opts.logLevel, name: 'node-agent' });
try {
  accessSync(join(opts.procPath, 'stat'), constants.R_OK);
} catch {
  // Keep running: the mount may appear later, and /readyz stays 503 until it does.
  logger.warn({ procPath: opts.procPath }, 'cannot read <proc-path>/stat; will keep trying every interval');
}

let gpu: GpuProvider | undefined;
try {
  gpu = await chooseGpuProvider(opts.gpuProvider, opts.gpuInventory, opts.nodeName);
} catch (err) {
  logger.fatal({ err: (err as Error).message }, 'cannot set up the GPU provider');
  process.exit(1);
}
logger.info({ gpuProvider: gpu?.name ?? 'none' }, 'GPU provider');

const agent = new NodeAgent({
  gpu,
  nodeName: opts.nodeName,
  procPath: opts.procPath,
  sampleIntervalMs: opts.sampleInterval,
  clock: systemClock,
  logger,
});

exitOnSignals(logger, () => agent.stop());

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

// `npm run scheduler -- [flags]`: the kube-scheduler extender.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { EXTENDER_DEFAULT_PORT } from '../contracts/index.ts';
import {
  craneTimeZoneOption,
  listenOption,
  logLevelOption,
  parsePositiveDuration,
  parseTimeZone,
} from '../common/cli.ts';
import { systemClock } from '../common/clock.ts';
import { exitOnSignals } from '../common/lifecycle.ts';
import { createLogger } from '../common/log.ts';
import { loadPolicyFile } from '../common/policy.ts';
import { watchPolicyFile } from '../common/policy-watch.ts';
import { loadKubeConfig } from '../common/kubeconfig.ts';
import { SchedulerApp } from './app.ts';
import { GPU_POLICIES, type GpuPolicy } from './core/vgpu/fit.ts';

const program = new Command()
  .name('loadwise-scheduler')
  .description(
    'loadwise scheduler extender: kube-scheduler calls it to filter and score nodes on their real load ' +
      '(the node annotations the controller writes) and to bind, counting its own bindings at once.',
  )
  .addOption(listenOption(EXTENDER_DEFAULT_PORT, '/filter, /prioritize, /bind, /healthz and /metrics'))
  .addOption(
    new Option('--policy <path>', 'policy file (SchedulerPolicy or crane DynamicSchedulerPolicy)').default(
      'configs/policy.yaml',
    ),
  )
  .addOption(
    new Option('--kubeconfig <path>', 'kubeconfig; default: in-cluster, then $KUBECONFIG or ~/.kube/config'),
  )
  .addOption(new Option('--tls-cert <path>', 'serve HTTPS with this certificate (PEM); needs --tls-key'))
  .addOption(new Option('--tls-key <path>', 'private key (PEM) for --tls-cert'))
  .addOption(
    new Option(
      '--crane-keys',
      "also read crane-scheduler's bare annotation keys (cpu_usage_avg_5m, node_hot_value) in crane's format " +
        'and zone (see --crane-timezone); loadwise.io/ keys win where both exist',
    ).default(false),
  )
  .addOption(craneTimeZoneOption())
  .addOption(
    new Option('--policy-poll-interval <duration>', 'how often the policy file is checked for changes')
      .default(5_000, '5s')
      .argParser(parsePositiveDuration),
  )
  .addOption(
    new Option('--api-timeout <duration>', 'timeout of one Kubernetes API request (bind)')
      .default(5_000, '5s')
      .argParser(parsePositiveDuration),
  )
  .addOption(
    new Option(
      '--gpu-policy <policy>',
      'how vGPU pods are scored and their GPUs chosen: fgd (the node and GPUs whose placement adds the ' +
        'least GPU fragmentation against the last 1000 vGPU requests seen), binpack (fullest GPU that ' +
        'fits) or spread (emptiest); each is averaged with the load score',
    )
      .choices(GPU_POLICIES)
      .default('fgd'),
  )
  .addOption(logLevelOption())
  .showHelpAfterError('(run with --help for usage)');

program.parse();
const opts = program.opts<{
  listen: { host: string; port: number };
  policy: string;
  kubeconfig?: string;
  tlsCert?: string;
  tlsKey?: string;
  craneKeys: boolean;
  craneTimezone: string;
  policyPollInterval: number;
  apiTimeout: number;
  gpuPolicy: GpuPolicy;
  logLevel: string;
}>();

const logger = createLogger({ level: opts.logLevel, name: 'scheduler' });
if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey))
  program.error('error: --tls-cert and --tls-key go together');
try {
  parseTimeZone(opts.craneTimezone);
} catch (err: unknown) {
  program.error(`error: --crane-timezone (default from TZ): ${(err as Error).message}`);
}

const loaded = await loadPolicyFile(opts.policy);
if (!loaded.ok) {
  logger.fatal({ error: loaded.error }, 'cannot start without a valid policy');
  process.exit(1);
}
let cluster;
try {
  cluster = loadKubeConfig(opts.kubeconfig);
} catch (err) {
  logger.fatal({ err: (err as Error).message }, 'no cluster');
  process.exit(1);
}
const app = new SchedulerApp({
  kubeConfig: cluster.kubeConfig,
  policy: loaded.policy,
  craneKeys: opts.craneKeys,
  craneTimeZone: opts.craneTimezone,
  clock: systemClock,
  logger,
  apiTimeoutMs: opts.apiTimeout,
  gpuPolicy: opts.gpuPolicy,
  https:
    opts.tlsCert && opts.tlsKey
      ? { cert: readFileSync(opts.tlsCert), key: readFileSync(opts.tlsKey) }
      : undefined,
});
const stopWatching = watchPolicyFile({
  path: opts.policy,
  intervalMs: opts.policyPollInterval,
  initialText: readFileSync(opts.policy, 'utf8'),
  onChange: (result) => app.applyPolicy(result),
});

exitOnSignals(logger, async () => {
  stopWatching();
  await app.stop();
});

app.start();
try {
  const address = await app.listen(opts.listen.host, opts.listen.port);
  logger.info({ address, cluster: cluster.source, policy: opts.policy }, 'scheduler extender listening');
} catch (err) {
  logger.fatal({ err }, `cannot listen on ${opts.listen.host}:${opts.listen.port}`);
  process.exit(1);
}

// `npm run scheduler -- [flags]`: the kube-scheduler extender.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { DEFAULT_SCHEDULER_NAME, EXTENDER_DEFAULT_HOST, EXTENDER_DEFAULT_PORT } from '../contracts/index.ts';
import {
  craneTimeZoneOption,
  isLoopback,
  listenOption,
  logLevelOption,
  parsePositiveDuration,
  parseTimeZone,
  repeatable,
  HELP_LAYOUT,
} from '../common/cli.ts';
import { systemClock } from '../common/clock.ts';
import { exitOnSignals } from '../common/lifecycle.ts';
import { createLogger } from '../common/log.ts';
import { loadPolicyFile } from '../common/policy.ts';
import { watchPolicyFile } from '../common/policy-watch.ts';
import { loadKubeConfig } from '../common/kubeconfig.ts';
import { loadTls, type TlsFiles, type TlsMaterial, TlsReloader } from '../common/tls.ts';
import { SchedulerApp } from './app.ts';
import { GPU_POLICIES, type GpuPolicy } from './core/vgpu-fit/fit.ts';

const DEFAULT_SCHEDULER_NAMES: readonly string[] = [DEFAULT_SCHEDULER_NAME];

const program = new Command()
  .configureHelp(HELP_LAYOUT)
  .name('loadwise-scheduler')
  .description(
    'loadwise scheduler extender: kube-scheduler calls it to filter and score nodes on their real load ' +
      '(the node annotations the controller writes) and to bind, counting its own bindings at once.',
  )
  .addOption(
    listenOption(
      EXTENDER_DEFAULT_PORT,
      '/filter, /prioritize, /bind, /metrics, /healthz and /readyz; loopback by default (the ' +
        'extender as a second container of the kube-scheduler Pod); another address needs ' +
        '--tls-client-ca or --insecure-listen',
      EXTENDER_DEFAULT_HOST,
    ),
  )
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
      '--tls-client-ca <path>',
      'mutual TLS: answer 401/403 to every client without a certificate signed by this CA (PEM), ' +
        'except on /healthz and /readyz (kubelet probes present none); needs --tls-cert and --tls-key',
    ),
  )
  .addOption(
    new Option(
      '--tls-poll-interval <duration>',
      'how often --tls-cert, --tls-key and --tls-client-ca are checked for changes; new files apply ' +
        'to new connections, an unusable change is logged and the last good files stay',
    )
      .default(10_000, '10s')
      .argParser(parsePositiveDuration),
  )
  .addOption(
    new Option(
      '--insecure-listen',
      'allow --listen on a non-loopback address without --tls-client-ca: anyone who reaches the ' +
        'port can then call /bind (a test cluster only)',
    ).default(false),
  )
  .addOption(
    new Option(
      '--scheduler-name <name>',
      '/bind binds only pods with this spec.schedulerName; repeat the flag for several',
    )
      .default(DEFAULT_SCHEDULER_NAMES, DEFAULT_SCHEDULER_NAME)
      .argParser(repeatable(DEFAULT_SCHEDULER_NAMES)),
  )
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
  .addOption(
    new Option(
      '--sync-record-namespace <namespace>',
      'namespace of the controller\'s "synced up to" Lease (its --lease-namespace), which releases ' +
        'pending bindings on nodes whose figures the controller found unmoved; "" to go by annotation ' +
        'timestamps alone',
    )
      .env('POD_NAMESPACE')
      .default('kube-system', 'POD_NAMESPACE, then kube-system'),
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
  tlsClientCa?: string;
  tlsPollInterval: number;
  insecureListen: boolean;
  schedulerName: string[];
  craneKeys: boolean;
  craneTimezone: string;
  policyPollInterval: number;
  apiTimeout: number;
  gpuPolicy: GpuPolicy;
  syncRecordNamespace: string;
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
if (opts.tlsClientCa && !opts.tlsCert) program.error('error: --tls-client-ca needs --tls-cert and --tls-key');
if (!isLoopback(opts.listen.host) && !opts.tlsClientCa && !opts.insecureListen) {
  program.error(
    `error: --listen ${opts.listen.host} is reachable from other machines, and whoever reaches /bind ` +
      'binds pods: listen on 127.0.0.1 (the extender beside kube-scheduler in its Pod), or give ' +
      '--tls-cert, --tls-key and --tls-client-ca (mutual TLS), or --insecure-listen for a test cluster',
  );
}
const tlsFiles: TlsFiles | undefined =
  opts.tlsCert && opts.tlsKey
    ? { cert: opts.tlsCert, key: opts.tlsKey, ...(opts.tlsClientCa ? { clientCa: opts.tlsClientCa } : {}) }
    : undefined;
let tls: TlsMaterial | undefined;
try {
  tls = tlsFiles ? await loadTls(tlsFiles) : undefined;
} catch (err) {
  program.error(`error: ${(err as Error).message}`);
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
  schedulerNames: opts.schedulerName,
  syncRecordNamespace: opts.syncRecordNamespace || undefined,
  https: tls,
});
const reloader =
  tlsFiles && tls
    ? new TlsReloader({
        files: tlsFiles,
        current: tls,
        apply: (material) => app.setTls(material),
        onReload: (reload) => {
          if (reload.result === 'ok') logger.info(tlsFiles, 'TLS files reloaded');
          if (reload.result === 'invalid')
            logger.error({ error: reload.error }, 'TLS files rejected; keeping the last good ones');
          if (reload.result !== 'unchanged') app.metrics.tlsReloads.inc({ result: reload.result });
        },
      })
    : undefined;
reloader?.start(opts.tlsPollInterval);
const stopWatching = watchPolicyFile({
  path: opts.policy,
  intervalMs: opts.policyPollInterval,
  initialText: readFileSync(opts.policy, 'utf8'),
  onChange: (result) => app.applyPolicy(result),
});

exitOnSignals(logger, async () => {
  stopWatching();
  reloader?.stop();
  await app.stop();
});

app.start();
try {
  const address = await app.listen(opts.listen.host, opts.listen.port);
  logger.info(
    {
      address,
      cluster: cluster.source,
      policy: opts.policy,
      clientAuth: opts.tlsClientCa ? 'mutual TLS' : 'none',
      schedulerNames: opts.schedulerName,
    },
    'scheduler extender listening',
  );
} catch (err) {
  logger.fatal({ err }, `cannot listen on ${opts.listen.host}:${opts.listen.port}`);
  process.exit(1);
}

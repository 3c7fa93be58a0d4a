// `npm run controller -- [flags]`: the entry point the controller Deployment runs.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  craneTimeZoneOption,
  listenOption,
  logLevelOption,
  parsePositiveDuration,
  parsePositiveInt,
  HELP_LAYOUT,
  parseTimeZone,
} from '../common/cli.ts';
import { systemClock } from '../common/clock.ts';
import { exitOnSignals } from '../common/lifecycle.ts';
import { createLogger } from '../common/log.ts';
import { DEFAULT_POLICY_PATH, parsePolicy } from '../common/policy.ts';
import { watchPolicyFile } from '../common/policy-watch.ts';
import { AGENT_DEFAULT_PORT } from '../contracts/agent-api.ts';
import {
  CONTROLLER_DEFAULT_PORT,
  CONTROLLER_LEASE_NAME,
  DEFAULT_AGENT_URL_TEMPLATE,
} from '../contracts/controller.ts';
import { SYNC_RECORD_LEASE_NAME } from '../contracts/sync-record.ts';
import type { loadKubeConfig as LoadKubeConfig } from '../common/kubeconfig.ts';

const SHUTDOWN_GRACE_MS = 5000;
const POLICY_POLL_MS = 5000;

function parsePort(text: string): number {
  const port = parsePositiveInt(text);
  if (port > 65535) throw new InvalidArgumentError(`expected a port 1..65535, got "${text}"`);
  return port;
}

function parseFraction(text: string): number {
  const n = Number(text);
  if (!/^\d*\.?\d+$/.test(text) || !(n >= 0 && n <= 1)) {
    throw new InvalidArgumentError(`expected a fraction between 0 and 1 (e.g. 0.02), got "${text}"`);
  }
  return n;
}

function parseBool(text: string): boolean {
  if (text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0') return false;
  throw new InvalidArgumentError(`expected true or false, got "${text}"`);
}

function parseService(text: string): { namespace: string; service: string; portName?: string } {
  const m = /^([a-z0-9-]{1,63})\/([a-z0-9-]{1,63})(?::([a-z0-9-]{1,15}))?$/.exec(text);
  if (!m)
    throw new InvalidArgumentError(
      `expected NAMESPACE/SERVICE or NAMESPACE/SERVICE:PORT-NAME, got "${text}"`,
    );
  return { namespace: m[1]!, service: m[2]!, portName: m[3] };
}

function parseTemplate(text: string): string {
  if (!text.includes('{ip}') && !text.includes('{name}')) {
    throw new InvalidArgumentError(`the template must contain {ip} or {name}, got "${text}"`);
  }
  try {
    new URL(text.replaceAll('{ip}', '127.0.0.1').replaceAll('{port}', '1').replaceAll('{name}', 'n'));
  } catch {
    throw new InvalidArgumentError(`not a URL template: "${text}"`);
  }
  return text;
}

const program = new Command()
  .configureHelp(HELP_LAYOUT)
  .name('loadwise-controller')
  .description(
    "loadwise controller: polls every node's agent and writes its real load onto the Node as " +
      'annotations (loadwise.io/<figure>), plus the hot value of recent bindings; one replica writes, ' +
      'elected on a Lease.',
  )
  .addOption(
    new Option(
      '--kubeconfig <path>',
      'kubeconfig file (default: in-cluster config, then $KUBECONFIG or ~/.kube/config)',
    ),
  )
  .addOption(
    new Option(
      '--policy <path>',
      'scheduling policy file (loadwise SchedulerPolicy or crane DynamicSchedulerPolicy); reloaded when it changes',
    ).default(DEFAULT_POLICY_PATH),
  )
  .addOption(
    new Option('--agent-port <port>', "port of each node's agent")
      .default(AGENT_DEFAULT_PORT)
      .argParser(parsePort),
  )
  .addOption(
    new Option(
      '--agent-url <template>',
      "URL of a node's /statistics; {ip} = InternalIP, {port} = --agent-port, {name} = node name",
    )
      .default(DEFAULT_AGENT_URL_TEMPLATE)
      .argParser(parseTemplate),
  )
  .addOption(
    new Option(
      '--agent-service <namespace/name[:port]>',
      "find each node's agent through this Service's EndpointSlices (the agent Pod's IP and port) instead of the Node's InternalIP",
    ).argParser(parseService),
  )
  .addOption(
    new Option('--sync-period <duration>', 'time between sync cycles (cycles never overlap)')
      .default(30_000, '30s')
      .argParser(parsePositiveDuration),
  )
  .addOption(
    new Option('--concurrency <n>', 'agents polled (and nodes patched) at once')
      .default(32)
      .argParser(parsePositiveInt),
  )
  .addOption(
    new Option('--request-timeout <duration>', 'timeout of one agent request')
      .default(2000, '2s')
      .argParser(parsePositiveDuration),
  )
  .addOption(
    new Option('--api-timeout <duration>', 'timeout of one Kubernetes API request')
      .default(10_000, '10s')
      .argParser(parsePositiveDuration),
  )
  .addOption(
    new Option(
      '--min-change <fraction>',
      'rewrite a figure when it moved by at least this much (else when half its validity is gone)',
    )
      .default(0.02)
      .argParser(parseFraction),
  )
  .addOption(
    new Option(
      '--crane-compat [bool]',
      "also write crane-scheduler's bare annotation keys (cpu_usage_avg_5m, ..., node_hot_value) in crane's " +
        'own format and zone (see --crane-timezone), so crane-scheduler reads them during a migration',
    )
      .default(false)
      .preset('true')
      .argParser(parseBool),
  )
  .addOption(craneTimeZoneOption())
  .addOption(
    new Option(
      '--node-selector <labels>',
      'manage only the Nodes matching this label selector (default: all)',
    ),
  )
  .addOption(
    new Option(
      '--leader-elect [bool]',
      'elect one writing replica on a Lease; --leader-elect=false to run alone',
    )
      .default(true)
      .preset('true')
      .argParser(parseBool),
  )
  .addOption(
    new Option('--lease-namespace <namespace>', 'namespace of the leader-election Lease')
      .env('POD_NAMESPACE')
      .default('kube-system', 'POD_NAMESPACE, then kube-system'),
  )
  .addOption(
    new Option(
      '--sync-record [bool]',
      `after every cycle, write the cluster-wide "synced up to" record (Lease ${SYNC_RECORD_LEASE_NAME} in ` +
        '--lease-namespace) that lets the extender release pending bindings on quiet nodes',
    )
      .default(true)
      .preset('true')
      .argParser(parseBool),
  )
  .addOption(
    new Option('--lease-name <name>', 'name of the leader-election Lease').default(CONTROLLER_LEASE_NAME),
  )
  .addOption(
    new Option(
      '--lease-duration <duration>',
      'how long a silent leader keeps the Lease before others may take it',
    )
      .default(15_000, '15s')
      .argParser(parsePositiveDuration),
  )
  .addOption(
    new Option('--renew-deadline <duration>', 'a leader that could not renew for this long stops writing')
      .default(10_000, '10s')
      .argParser(parsePositiveDuration),
  )
  .addOption(
    new Option('--retry-period <duration>', 'time between Lease renewals and acquisition attempts')
      .default(2000, '2s')
      .argParser(parsePositiveDuration),
  )
  .addOption(listenOption(CONTROLLER_DEFAULT_PORT, '/metrics, /healthz and /readyz'))
  .addOption(logLevelOption())
  .showHelpAfterError('(run with --help for usage)');

program.parse();
const opts = program.opts<{
  kubeconfig?: string;
  policy: string;
  agentPort: number;
  agentUrl: string;
  agentService?: { namespace: string; service: string; portName?: string };
  syncPeriod: number;
  concurrency: number;
  requestTimeout: number;
  apiTimeout: number;
  minChange: number;
  craneCompat: boolean;
  craneTimezone: string;
  nodeSelector?: string;
  leaderElect: boolean;
  leaseNamespace: string;
  syncRecord: boolean;
  leaseName: string;
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  listen: { host: string; port: number };
  logLevel: string;
}>();

const logger = createLogger({ level: opts.logLevel, name: 'controller' });
try {
  parseTimeZone(opts.craneTimezone);
} catch (err: unknown) {
  program.error(`error: --crane-timezone (default from TZ): ${(err as Error).message}`);
}

if (opts.leaderElect && !(opts.retryPeriod < opts.renewDeadline && opts.renewDeadline < opts.leaseDuration)) {
  logger.fatal('leader election needs --retry-period < --renew-deadline < --lease-duration');
  process.exit(1);
}

let policyText: string;
try {
  policyText = readFileSync(opts.policy, 'utf8');
} catch (err: unknown) {
  logger.fatal({ err: (err as Error).message }, `cannot read the policy file ${opts.policy}`);
  process.exit(1);
}
const loaded = parsePolicy(policyText, opts.policy);
if (!loaded.ok) {
  logger.fatal({ error: loaded.error }, 'invalid policy file');
  process.exit(1);
}
for (const warning of loaded.warnings) logger.warn({ policy: opts.policy }, warning);

// The Kubernetes client, fastify and prom-client are loaded only once the flags and the policy
// are good, so --help, a mistyped flag or a broken policy answer at once.
const [{ Controller }, { loadKubeConfig }, { ControllerMetrics }, { buildControllerServer }] =
  await Promise.all([
    import('./controller.ts'),
    import('../common/kubeconfig.ts'),
    import('./metrics.ts'),
    import('./server.ts'),
  ]);

let cluster: ReturnType<typeof LoadKubeConfig>;
try {
  cluster = loadKubeConfig(opts.kubeconfig);
} catch (err: unknown) {
  logger.fatal({ err: (err as Error).message }, 'cannot load a kubeconfig');
  process.exit(1);
}

const identity = `${hostname()}_${randomBytes(4).toString('hex')}`;
const metrics = new ControllerMetrics({ processMetrics: true });
metrics.policyReloads.inc({ result: 'ok' });
const controller = new Controller({
  kubeConfig: cluster.kubeConfig,
  policy: loaded.policy,
  agentPort: opts.agentPort,
  agentUrlTemplate: opts.agentUrl,
  agentService: opts.agentService,
  syncPeriodMs: opts.syncPeriod,
  concurrency: opts.concurrency,
  requestTimeoutMs: opts.requestTimeout,
  apiTimeoutMs: opts.apiTimeout,
  minChange: opts.minChange,
  craneCompat: opts.craneCompat,
  craneTimeZone: opts.craneTimezone,
  nodeSelector: opts.nodeSelector,
  syncRecordNamespace: opts.syncRecord ? opts.leaseNamespace : undefined,
  leaderElection: opts.leaderElect
    ? {
        namespace: opts.leaseNamespace,
        name: opts.leaseName,
        identity,
        leaseDurationMs: opts.leaseDuration,
        renewDeadlineMs: opts.renewDeadline,
        retryPeriodMs: opts.retryPeriod,
      }
    : undefined,
  clock: systemClock,
  logger,
  metrics,
});

const server = buildControllerServer({ logger, metrics, ready: () => controller.ready });
const stopWatchingPolicy = watchPolicyFile({
  path: opts.policy,
  intervalMs: POLICY_POLL_MS,
  initialText: policyText,
  onChange: (result) => {
    if (result.ok) {
      controller.setPolicy(result.policy);
      metrics.policyReloads.inc({ result: 'ok' });
      for (const warning of result.warnings) logger.warn({ policy: opts.policy }, warning);
      logger.info({ policy: opts.policy }, 'policy reloaded');
    } else {
      metrics.policyReloads.inc({ result: 'invalid' });
      logger.error({ error: result.error }, 'policy file rejected; the last good policy stays in force');
    }
  },
});

const startAbort = new AbortController();
exitOnSignals(
  logger,
  async () => {
    stopWatchingPolicy();
    startAbort.abort();
    await Promise.allSettled([controller.stop(), server.close()]);
  },
  SHUTDOWN_GRACE_MS,
);
// Every loop catches its own failures; anything that still escapes is a bug to log, not a reason
// to drop the Lease and stop annotating the cluster.
process.on('unhandledRejection', (reason: unknown) => {
  logger.error({ err: reason instanceof Error ? reason.stack : String(reason) }, 'unhandled rejection');
});

try {
  const address = await server.listen({ host: opts.listen.host, port: opts.listen.port });
  logger.info(
    {
      address,
      cluster: cluster.kubeConfig.getCurrentCluster()?.server,
      kubeconfig: cluster.source,
      identity,
      leaderElect: opts.leaderElect,
      syncPeriodMs: opts.syncPeriod,
    },
    'controller listening',
  );
} catch (err: unknown) {
  logger.fatal({ err }, `cannot listen on ${opts.listen.host}:${opts.listen.port}`);
  process.exit(1);
}

controller.start({ signal: startAbort.signal }).then(
  () => logger.info('node cache synced; syncing'),
  (err: unknown) => {
    if (!startAbort.signal.aborted)
      logger.error({ err: (err as Error).message }, 'controller failed to start');
  },
);

// `npm start`: the local all-in-one mode. With no cluster configured it runs everything in this
// process against an embedded cluster (local/, doubles/); with --kubeconfig it runs the agent, the
// controller and the extender as their own commands against that cluster instead.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import {
  listenOption,
  logLevelOption,
  parsePositiveDuration,
  parsePositiveInt,
  HELP_LAYOUT,
} from '../common/cli.ts';
import { systemClock } from '../common/clock.ts';
import { exitOnSignals } from '../common/lifecycle.ts';
import { createLogger } from '../common/log.ts';
import { DEFAULT_POLICY_PATH, loadPolicyFile } from '../common/policy.ts';
import { AGENT_DEFAULT_PORT } from '../contracts/agent-api.ts';
import type { LocalCluster as LocalClusterType } from './local-cluster.ts';
import { stopSummary } from './stop-summary.ts';

/**
 * How long the local mode may take to close every part after a signal before it exits anyway:
 * under the 5 s a user (or a supervisor) waits, above what a loaded laptop needs.
 */
const LOCAL_STOP_GRACE_MS = 4000;

const program = new Command()
  .configureHelp(HELP_LAYOUT)
  .name('loadwise-start')
  .description(
    'loadwise local all-in-one mode: an embedded cluster (this machine plus simulated nodes), the node ' +
      'agents, the controller, the scheduler extender and a demo workload in one process, with a live ' +
      'status page. With --kubeconfig, runs the agent, controller and extender against that cluster instead.',
  )
  .addOption(
    new Option('--config <file>', 'the embedded cluster: nodes, load patterns and demo workload').default(
      'configs/local-cluster.yaml',
    ),
  )
  .addOption(
    new Option('--policy <file>', 'scheduling policy for the controller and extender').default(
      DEFAULT_POLICY_PATH,
    ),
  )
  // Loopback by default: the page shows the cluster's kubeconfig path and the extender's address,
  // and nothing on it is meant for the network. `--listen 0.0.0.0:8080` exposes it on purpose.
  .addOption(
    listenOption(8080, 'the status page (this machine only unless you name another address)', '127.0.0.1'),
  )
  .addOption(
    new Option('--agent-port <port>', "port of every node's agent (each on its own 127.0.0.x address)")
      .default(AGENT_DEFAULT_PORT)
      .argParser(parsePositiveInt),
  )
  .addOption(
    new Option('--extender-port <port>', 'port of the scheduler extender on 127.0.0.1 (0: any free port)')
      .default(0)
      .argParser((t) => (t === '0' ? 0 : parsePositiveInt(t))),
  )
  .addOption(
    new Option('--duration <duration>', 'stop after this long (default: until Ctrl-C)').argParser(
      parsePositiveDuration,
    ),
  )
  .addOption(
    new Option(
      '--kubeconfig <path>',
      'run against this cluster instead: the agent, controller and extender as separate commands, no demo workload',
    ),
  )
  .addOption(logLevelOption().default('warn'))
  .showHelpAfterError('(run with --help for usage)');

program.parse();
const opts = program.opts<{
  config: string;
  policy: string;
  listen: { host: string; port: number };
  agentPort: number;
  extenderPort: number;
  duration?: number;
  kubeconfig?: string;
  logLevel: string;
}>();
const logger = createLogger({ level: opts.logLevel, name: 'local' });

function fail(message: string): never {
  process.stderr.write(`loadwise: ${message}\n`);
  process.exit(1);
}

if (opts.kubeconfig !== undefined) await runAgainstCluster(opts.kubeconfig);
else await runLocal();

async function runLocal(): Promise<void> {
  const [
    { loadLocalCluster },
    { LocalCluster },
    { createStatusServer },
    { gatherStatus },
    { StatusHistory, sampleInto },
  ] = await Promise.all([
    import('./cluster-config.ts'),
    import('./local-cluster.ts'),
    import('./status-page.ts'),
    import('./status.ts'),
    import('./status-history.ts'),
  ]);
  let spec;
  try {
    spec = await loadLocalCluster(opts.config);
  } catch (err) {
    fail((err as Error).message);
  }
  const policy = await loadPolicyFile(opts.policy);
  if (!policy.ok) fail(policy.error);

  const count = spec.nodes.length + (spec.thisMachine.include ? 1 : 0);
  process.stdout.write(`loadwise local mode: starting ${count} node${count === 1 ? '' : 's'}…\n`);
  let cluster: LocalClusterType;
  try {
    cluster = await LocalCluster.start({
      spec,
      policy: policy.policy,
      agentPort: opts.agentPort,
      extenderListen: { host: '127.0.0.1', port: opts.extenderPort },
      clock: systemClock,
      logger,
    });
  } catch (err) {
    fail(`cannot start the local cluster: ${(err as Error).message}`);
  }
  const history = new StatusHistory(systemClock);
  const stopSampling = sampleInto(history, () => gatherStatus(cluster.statusSource()));
  const status = createStatusServer({
    logger,
    status: () => gatherStatus(cluster.statusSource()),
    history,
  });
  let page: string;
  try {
    page = await status.listen({ host: opts.listen.host, port: opts.listen.port });
  } catch (err) {
    stopSampling();
    await cluster.stop();
    fail(
      `cannot serve the status page on ${opts.listen.host}:${opts.listen.port}: ${(err as Error).message}`,
    );
  }
  const startedAt = Date.now();
  const summary = (reason: string, leftBehind?: string) =>
    stopSummary({ reason, elapsedMs: Date.now() - startedAt, counts: cluster.workload.counts, leftBehind });
  const stop = async () => {
    stopSampling();
    await status.close();
    await cluster.stop();
  };
  exitOnSignals(
    logger,
    async (signal) => {
      await stop();
      process.stdout.write(summary(signal));
    },
    LOCAL_STOP_GRACE_MS,
    (signal) => process.stdout.write(summary(signal, cluster.dir)),
  );
  const lines = [
    '',
    `  status page     ${page}/`,
    `  status (JSON)   ${page}/api/status`,
    `  API server      ${cluster.api.url}   (kubectl --kubeconfig ${cluster.kubeconfigPath} get nodes,pods -A)`,
    `  extender        ${cluster.extenderUrl}/filter, /prioritize, /bind, /metrics`,
    ...cluster.nodes.map(
      (n) =>
        `  agent           ${n.agentUrl}/statistics   ${n.name}${n.simulated ? ' (simulated)' : ' (this machine)'}`,
    ),
    '',
    `A demo pod every ${spec.workload.intervalMs / 1000}s, each living ${spec.workload.lifetimeMs / 1000}s. Ctrl-C stops everything.`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
  if (opts.duration !== undefined) {
    setTimeout(() => {
      void stop().then(() => {
        process.stdout.write(summary('--duration'));
        process.exit(0);
      });
    }, opts.duration);
  }
}

/** Each component as its own command (what the Deployments and the DaemonSet run), against the cluster. */
async function runAgainstCluster(kubeconfig: string): Promise<void> {
  if (!existsSync(kubeconfig)) fail(`--kubeconfig ${kubeconfig}: no such file`);
  const tsx = ['--import', 'tsx'];
  const common = [
    '--kubeconfig',
    kubeconfig,
    '--log-level',
    opts.logLevel === 'warn' ? 'info' : opts.logLevel,
  ];
  const commands: [string, string[]][] = [
    ['agent', [...tsx, 'node-agent/main.ts', '--listen', `0.0.0.0:${opts.agentPort}`, ...common]],
    [
      'controller',
      [
        ...tsx,
        'controller/main.ts',
        '--policy',
        opts.policy,
        '--leader-elect=false',
        '--agent-port',
        String(opts.agentPort),
        ...common,
      ],
    ],
    ['scheduler', [...tsx, 'scheduler/main.ts', '--policy', opts.policy, ...common]],
  ];
  const children: ChildProcess[] = [];
  let stopping = false;
  for (const [name, args] of commands) {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code, signal) => {
      if (stopping) return;
      process.stderr.write(`loadwise: ${name} exited (${signal ?? code}); stopping the others\n`);
      stopping = true;
      for (const c of children) c.kill('SIGTERM');
      process.exitCode = 1;
    });
    children.push(child);
    process.stdout.write(`started ${name}: node ${args.slice(2).join(' ')}\n`);
  }
  exitOnSignals(logger, async (signal) => {
    stopping = true;
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
          }),
      ),
    );
    process.stdout.write(`loadwise stopped (${signal}): agent, controller and extender exited\n`);
  });
}

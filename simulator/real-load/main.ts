// `simulate real-load`: the load half's measure. Draws PAI 2020 tasks, offers them at each load,
// and compares requests-only, crane-style and loadwise scheduling on the same arrivals.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parsePositiveDuration, parsePositiveInt } from '../../common/cli.ts';
import { loadPolicyFile, DEFAULT_POLICY_PATH } from '../../common/policy.ts';
import { parseQuantity } from '../../common/quantity.ts';
import { parseSeeds } from '../seeds.ts';
import { REAL_LOAD_POLICIES, type RealLoadPolicy, type RealLoadResult, simulateRealLoad } from './engine.ts';
import { DEFAULT_PAI_TRACE, loadPai } from './pai.ts';
import { realLoadCsv, realLoadHtml, realLoadTable, summarizeRealLoad } from './report.ts';

/** The trace beside the repository (`../shared/traces/pai2020/`), wherever the command runs from. */
const BESIDE_REPO = fileURLToPath(new URL(`../../${DEFAULT_PAI_TRACE}`, import.meta.url));

function fail(message: string): never {
  throw new InvalidArgumentError(message);
}

function percents(value: string): number[] {
  const out = value.split(',').map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((n) => !Number.isFinite(n) || n <= 0 || n > 500))
    fail('percentages of the requested capacity, e.g. 60,80,100,120');
  return out;
}

function policies(value: string): RealLoadPolicy[] {
  const names = value.split(',').map((s) => s.trim());
  const unknown = names.filter((n) => !(REAL_LOAD_POLICIES as readonly string[]).includes(n));
  if (names.length === 0 || unknown.length > 0)
    fail(`unknown ${unknown.join(', ')}; known: ${REAL_LOAD_POLICIES.join(', ')}`);
  return names as RealLoadPolicy[];
}

function fraction(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n >= 1) fail('a fraction in 0..1');
  return n;
}

function bytes(value: string): number {
  const n = parseQuantity(value);
  if (n === undefined || n <= 0) fail('a Kubernetes quantity, e.g. 512Gi');
  return n;
}

function seeds(value: string): number[] {
  try {
    return parseSeeds(value);
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  }
}

export async function realLoadMain(argv: readonly string[]): Promise<RealLoadResult[]> {
  const program = new Command()
    .name('simulate real-load')
    .description(
      'Replay PAI 2020 tasks (request, real use, duration) as a Poisson stream on a simulated cluster, ' +
        'through the agent window maths, the controller PATCH rule and the extender filter/score, and ' +
        'compare requests-only (LeastAllocated), crane-style and loadwise scheduling on the same arrivals.',
    )
    .option(
      '--trace <file>',
      'PAI 2020 instance CSV',
      existsSync(BESIDE_REPO) ? BESIDE_REPO : DEFAULT_PAI_TRACE,
    )
    .option('--nodes <n>', 'nodes in the cluster', parsePositiveInt, 100)
    .option('--node-cpu <cores>', 'CPU cores per node (the trace machines: 96)', parsePositiveInt, 96)
    .addOption(
      new Option('--node-memory <quantity>', 'memory per node')
        .default(512 * 2 ** 30, '512Gi')
        .argParser(bytes),
    )
    .addOption(
      new Option('--load <percents>', 'offered load, % of the requested CPU capacity, comma list')
        .default([100], '100')
        .argParser(percents),
    )
    .option('--policy <names>', `policies: ${REAL_LOAD_POLICIES.join(', ')}`, policies, [
      ...REAL_LOAD_POLICIES,
    ])
    .option('--seeds <spec>', 'seeds: N, N..M or a comma list', seeds, [1])
    .addOption(
      new Option('--warmup <duration>', 'simulated time before measuring')
        .default(3_600_000, '1h')
        .argParser(parsePositiveDuration),
    )
    .addOption(
      new Option('--measure <duration>', 'simulated time measured')
        .default(7_200_000, '2h')
        .argParser(parsePositiveDuration),
    )
    .addOption(
      new Option(
        '--max-duration <duration>',
        'longest task (longer ones are cut, so a run reaches a steady state)',
      )
        .default(7_200_000, '2h')
        .argParser(parsePositiveDuration),
    )
    .addOption(
      new Option('--sample-interval <duration>', 'agent sampling period')
        .default(10_000, '10s')
        .argParser(parsePositiveDuration),
    )
    .addOption(
      new Option('--sync-period <duration>', 'controller sync period (a multiple of the sampling period)')
        .default(30_000, '30s')
        .argParser(parsePositiveDuration),
    )
    .option('--min-change <fraction>', 'the controller --min-change', fraction, 0.02)
    .option('--noise <fraction>', 'relative noise (sd) of each agent sample', fraction, 0.1)
    .option(
      '--policy-file <file>',
      'scheduling policy (thresholds, weights, hot value, estimate)',
      DEFAULT_POLICY_PATH,
    )
    .requiredOption('--out <dir>', 'output directory for summary.csv and report.html')
    .exitOverride();
  program.parse([...argv], { from: 'user' });
  const o = program.opts<{
    trace: string;
    nodes: number;
    nodeCpu: number;
    nodeMemory: number;
    load: number[];
    policy: RealLoadPolicy[];
    seeds: number[];
    warmup: number;
    measure: number;
    maxDuration: number;
    sampleInterval: number;
    syncPeriod: number;
    minChange: number;
    noise: number;
    policyFile: string;
    out: string;
  }>();
  if (o.syncPeriod % o.sampleInterval !== 0 || o.warmup % 60_000 !== 0 || o.measure % 60_000 !== 0)
    throw new Error(
      '--sync-period must be a multiple of --sample-interval, --warmup and --measure whole minutes',
    );
  if (60_000 % o.sampleInterval !== 0) throw new Error('--sample-interval must divide a minute');
  const policy = await loadPolicyFile(o.policyFile);
  if (!policy.ok) throw new Error(`${o.policyFile}: ${policy.error}`);
  const tasks = loadPai(o.trace, o.maxDuration / 1000);
  const results: RealLoadResult[] = [];
  for (const load of o.load) {
    for (const seed of o.seeds) {
      for (const name of o.policy) {
        const r = simulateRealLoad(
          tasks,
          {
            policy: name,
            seed,
            nodes: o.nodes,
            nodeCpuCores: o.nodeCpu,
            nodeMemoryBytes: o.nodeMemory,
            offeredLoad: load / 100,
            warmupMs: o.warmup,
            measureMs: o.measure,
            sampleMs: o.sampleInterval,
            syncMs: o.syncPeriod,
            minChange: o.minChange,
            noise: o.noise,
            policyFile: policy.policy,
          },
          () => performance.now(),
        );
        results.push(r);
        process.stdout.write(
          `${load}% ${name} seed ${seed}: ${r.hot80NodeMinutes} node-min > 80% CPU, wait p99 ${r.waitP99S.toFixed(0)} s, ${r.seconds.toFixed(1)} s\n`,
        );
        // Let the progress line out between long synchronous runs.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }
  const rows = summarizeRealLoad(results);
  const setup =
    `${o.nodes} nodes of ${o.nodeCpu} cores, ${tasks.length} PAI 2020 tasks drawn with replacement, ` +
    `warm-up ${o.warmup / 60_000} min, measured ${o.measure / 60_000} min, sampling ${o.sampleInterval / 1000} s, ` +
    `sync ${o.syncPeriod / 1000} s, --min-change ${o.minChange}, noise ${o.noise}, policy ${o.policyFile}.`;
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'summary.csv'), realLoadCsv(results));
  writeFileSync(join(o.out, 'report.html'), realLoadHtml(rows, setup));
  process.stdout.write(
    `\n${realLoadTable(rows)}\n\n${setup}\nwrote ${join(o.out, 'summary.csv')}, report.html\n`,
  );
  return results;
}

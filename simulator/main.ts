// The trace simulator's command line:
//   simulate --nodes FILE --pods FILE[,FILE...] --policy NAME[,NAME...] --seeds 42..51 --out DIR [--workers N]
//   simulate real-load [--load 60,80,100,120] --out DIR ...   (the load half: real-load/main.ts)
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HELP_LAYOUT } from '../common/cli.ts';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { type Job } from './job.ts';
import { POLICY_NAMES } from './policies/index.ts';
import { runJobs } from './pool.ts';
import { curvesCsv, summaryCsv } from './report/csv.ts';
import { reportHtml } from './report/html.ts';
import { provenance } from './report/provenance.ts';
import { formatTable, summarize } from './report/summary.ts';
import { type RunResult } from './run.ts';
import { realLoadMain } from './real-load/main.ts';
import { parseSeeds } from './seeds.ts';
import { traceName } from './trace/openb.ts';

function list(value: string): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError('empty list');
  return items;
}

function policies(value: string): string[] {
  const names = list(value);
  const unknown = names.filter((n) => !POLICY_NAMES.includes(n));
  if (unknown.length > 0)
    throw new InvalidArgumentError(`unknown ${unknown.join(', ')}; known: ${POLICY_NAMES.join(', ')}`);
  return names;
}

function seeds(value: string): number[] {
  try {
    return parseSeeds(value);
  } catch (e) {
    throw new InvalidArgumentError(e instanceof Error ? e.message : String(e));
  }
}

function workers(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
  return n;
}

export async function main(argv: readonly string[]): Promise<RunResult[]> {
  const program = new Command()
    .configureHelp(HELP_LAYOUT)
    .name('simulate')
    .description(
      'Replay openb pod traces against a node list under GPU placement policies (FGD artifact protocol).',
    )
    .requiredOption('--nodes <file>', 'node list CSV (sn,cpu_milli,memory_mib,gpu,model)')
    .requiredOption('--pods <files>', 'pod list CSV(s), comma separated', list)
    .requiredOption('--policy <names>', `policies, comma separated: ${POLICY_NAMES.join(', ')}`, policies)
    .addOption(
      new Option('--seeds <spec>', 'seeds: N, N..M or a comma list')
        .argParser(seeds)
        .default(parseSeeds('42..51'), '42..51'),
    )
    .requiredOption('--out <dir>', 'output directory for summary.csv, curves.csv, report.html')
    .option('--workers <n>', 'worker threads', workers, Math.max(1, availableParallelism() - 1))
    .exitOverride();
  program.parse([...argv], { from: 'user' });
  const o = program.opts<{
    nodes: string;
    pods: string[];
    policy: string[];
    seeds: number[];
    out: string;
    workers: number;
  }>();

  const jobs: Job[] = [];
  for (const podsPath of o.pods) {
    for (const policy of o.policy) {
      for (const seed of o.seeds)
        jobs.push({ nodesPath: o.nodes, podsPath, trace: traceName(podsPath), policy, seed });
    }
  }
  process.stdout.write(`${jobs.length} runs on ${Math.min(o.workers, jobs.length)} worker(s)\n`);
  const results = await runJobs(jobs, o.workers, (r) => {
    process.stdout.write(
      `${r.trace} ${r.policy} seed ${r.seed}: unallocated ${r.unallocatedPctAt100.toFixed(2)}% at 100%, ${r.failedTasks} failed, ${r.seconds.toFixed(2)} s\n`,
    );
  });
  const rows = summarize(results);
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'summary.csv'), summaryCsv(results));
  writeFileSync(join(o.out, 'curves.csv'), curvesCsv(results));
  const made = provenance(argv, { nodes: o.nodes, traces: o.pods, seeds: o.seeds });
  writeFileSync(join(o.out, 'report.html'), reportHtml(results, rows, made));
  process.stdout.write(
    `\n${formatTable(rows)}\n\nwrote ${join(o.out, 'summary.csv')}, curves.csv, report.html\n`,
  );
  return results;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(resolve(entry)).href) {
  const args = process.argv.slice(2);
  const run = args[0] === 'real-load' ? realLoadMain(args.slice(1)) : main(args);
  run.catch((e: unknown) => {
    // commander has already said what was wrong with the arguments.
    if (e instanceof CommanderError) process.exit(e.exitCode);
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  });
}

// `npm run bench`: every benchmark, each printing its figures beside a baseline measured in the
// same run. Benchmarks never fail on a number; they report. `npm run bench -- agent` runs one.
import { cpus } from 'node:os';
import { runControllerBench } from './controller.ts';
import { runNativeBench } from './native.ts';
import { runDevicePluginBench } from './device-plugin.ts';
import { runSchedulerBench } from './scheduler.ts';
import { runSchedulerReplayBench } from './scheduler-replay.ts';
import { runAgentBench } from './agent.ts';

const benches: Record<string, () => Promise<void>> = {
  agent: runAgentBench,
  controller: runControllerBench,
  native: runNativeBench,
  'device-plugin': runDevicePluginBench,
  scheduler: runSchedulerBench,
  'scheduler-replay': () => runSchedulerReplayBench(),
};

const HELP = `Usage: npm run bench [-- BENCHMARK...]

Runs the benchmarks and prints their figures, each beside a baseline measured
in the same run on the same machine. A benchmark never fails on a number: it
reports. Without BENCHMARK, all of them.

Benchmarks:
  ${Object.keys(benches).join(', ')}

Options:
  -h, --help  display this help

scheduler-replay reads its settings from the environment (defaults in brackets):
  REPLAY_NODES [1000], REPLAY_PODS [500], REPLAY_GPU_NODES [200],
  REPLAY_GPU_PODS [300], REPLAY_WARMUP [100], REPLAY_ROUNDS [2],
  REPLAY_API_LATENCY_MS [3], REPLAY_BIND_CONCURRENCY [16],
  REPLAY_CPU_PROF [unset: a folder for the extender's V8 CPU profiles].
Run it directly for the same as flags:
  npx tsx bench/scheduler-replay.ts --help
`;

const wanted = process.argv.slice(2);
if (wanted.includes('-h') || wanted.includes('--help')) {
  process.stdout.write(HELP);
  process.exit(0);
}
const unknown = wanted.filter((w) => !(w in benches));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}
console.log(
  `# loadwise benchmarks — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}\n`,
);
for (const [name, run] of Object.entries(benches)) {
  if (wanted.length === 0 || wanted.includes(name)) await run();
}

// Added cost of the hooks per cuLaunchKernel and per cuMemAlloc+cuMemFree pair, against a direct
// call to the same fake-driver function in the same process (native/bench/bench.c). Printed only:
// wall-clock figures never gate anything.
import { encodeVgpuConfig } from '../contracts/vgpu-config.ts';
import { buildNative, configDir, programEnv, removeConfigDirs, runProgram } from '../native/harness.ts';

const CALLS = 1_000_000;

const FIGURES = [
  'launch_added_ns',
  'launch_direct_ns',
  'alloc_free_added_ns',
  'alloc_free_direct_ns',
] as const;
type Figures = Record<(typeof FIGURES)[number], number>;

async function measure(dir: string | undefined): Promise<Figures> {
  // 1 ns per block: kernels cost the fake almost nothing, so the bench measures calls, not GPU
  // time, yet the throttle still sees utilisation and runs its calibrated path.
  const env = programEnv(dir, { FAKE_GPU_NS_PER_BLOCK: '1' });
  const out = await runProgram('bench', [String(CALLS)], env, 120_000);
  if (out.code !== 0) throw new Error(`native bench failed: ${out.stdout}${out.stderr}`);
  const printed = new Map<string, number>();
  for (const m of out.stdout.matchAll(/(\w+)=(-?[\d.]+)/g)) printed.set(m[1]!, Number(m[2]));
  if (printed.get('preloaded') !== 1) throw new Error('native bench ran without the library preloaded');
  const figures = {} as Figures;
  for (const name of FIGURES) {
    const value = printed.get(name);
    if (value === undefined) throw new Error(`native bench printed no ${name}: ${out.stdout}`);
    figures[name] = value;
  }
  return figures;
}

function config(coreLimitPercent: number): string {
  return encodeVgpuConfig({
    coreLimitPercent,
    coreMode: 'hard',
    devices: [{ index: 0, memoryLimitBytes: 8 * 1024 ** 3 }],
  });
}

export async function runNativeBench(): Promise<void> {
  await buildNative();
  const cases: Array<[string, string | undefined]> = [
    ['no config (pass-through)', undefined],
    ['memory limit, core 100% (no throttle)', await configDir(config(100))],
    ['memory limit, core 50% (token bucket)', await configDir(config(50))],
  ];
  console.log('native: added cost per hooked call vs a direct call to the fake driver (ns/op, median of 7)');
  try {
    for (const [name, dir] of cases) {
      const f = await measure(dir);
      const launch = `cuLaunchKernel +${f.launch_added_ns.toFixed(1)} ns (direct ${f.launch_direct_ns.toFixed(1)})`;
      const alloc = `cuMemAlloc+cuMemFree +${f.alloc_free_added_ns.toFixed(1)} ns (direct ${f.alloc_free_direct_ns.toFixed(1)})`;
      console.log(`  ${name.padEnd(40)} ${launch}  ${alloc}`);
    }
  } finally {
    await removeConfigDirs();
  }
}

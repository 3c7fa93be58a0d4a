// The programs in native/gpu/ load a hand-written PTX kernel (gpu/spin.ptx) with cuModuleLoadData
// and reach the driver through dlopen, like a CUDA runtime, so the same binaries run twice: against
// the fake driver always (the code path is exercised in CI), and against the real driver where
// `nvidia-smi -L` lists a GPU; there each check otherwise skips, saying why. Measured figures
// (utilisation per limit, per-launch cost) are printed as test diagnostics.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { encodeVgpuConfig } from '../contracts/vgpu-config.ts';
import {
  buildNative,
  configDir,
  NATIVE_DIR,
  type Outcome,
  programEnv,
  realDriverEnv,
  realGpu,
  removeConfigDirs,
  runProgram,
} from './harness.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

interface Target {
  name: string;
  driver: 'fake' | 'real';
  skip: string | false;
  env(dir: string | undefined, extra?: Record<string, string>): NodeJS.ProcessEnv;
  /** Cycles one spin kernel runs; the grid is one block per multiprocessor. */
  cycles: number;
  /** Seconds a throttle run lasts. */
  seconds: number;
}

const gpu = await realGpu();

const targets: Target[] = [
  {
    name: 'the fake driver',
    driver: 'fake',
    skip: false,
    // 100 multiprocessors x 2 us per block: a 200 us kernel, whatever the cycles say.
    env: (dir, extra = {}) => programEnv(dir, { FAKE_GPU_NS_PER_BLOCK: '2000', ...extra }),
    cycles: 0,
    seconds: 2.5,
  },
  {
    name: 'the real driver',
    driver: 'real',
    skip: gpu.ok ? false : `no GPU here (${gpu.why}): real-driver checks skipped`,
    env: realDriverEnv,
    // About 0.5-1 ms per kernel at 1-2 GHz: long against the launch cost, short against a period.
    cycles: 1_000_000,
    seconds: 4,
  },
];

function config(coreLimitPercent: number, memoryLimitBytes = GiB): string {
  return encodeVgpuConfig({ coreLimitPercent, coreMode: 'hard', devices: [{ index: 0, memoryLimitBytes }] });
}

function ok(outcome: Outcome, target: Target): Map<string, string> {
  assert.equal(
    outcome.code,
    0,
    `exit ${outcome.code} ${outcome.signal ?? ''}\n${outcome.stdout}\n${outcome.stderr}`,
  );
  const printed = new Map<string, string>();
  for (const m of outcome.stdout.matchAll(/(\w+)=(\S+)/g)) printed.set(m[1]!, m[2]!);
  assert.equal(printed.get('driver'), target.driver, `ran against the wrong driver:\n${outcome.stdout}`);
  return printed;
}

function figure(printed: Map<string, string>, name: string): number {
  const value = Number(printed.get(name));
  assert.ok(Number.isFinite(value), `no ${name} in ${JSON.stringify([...printed])}`);
  return value;
}

before(async () => {
  await buildNative();
});

after(async () => {
  await removeConfigDirs();
});

// Without a GPU, the fake cannot tell whether the PTX is valid; ptxas, where a CUDA toolkit is
// installed, can. CUDA 13's ptxas knows sm_75 and later; a driver JIT-compiles for its own GPU.
describe('gpu/spin.ptx', () => {
  it('assembles with ptxas for sm_75 and sm_90', async (t: TestContext) => {
    const out = await mkdtemp(join(tmpdir(), 'loadwise-ptx-'));
    try {
      for (const arch of ['sm_75', 'sm_90']) {
        const cubin = join(out, `${arch}.cubin`);
        try {
          await promisify(execFile)(
            'ptxas',
            [`-arch=${arch}`, join(NATIVE_DIR, 'gpu', 'spin.ptx'), '-o', cubin],
            {
              timeout: 60_000,
            },
          );
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
            t.skip('no ptxas here (no CUDA toolkit): PTX syntax not checked');
            return;
          }
          throw error;
        }
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

for (const target of targets) {
  describe(`PTX programs on ${target.name}`, () => {
    const skip = target.skip;

    it(
      'memory: up to the limit succeeds, one beyond fails, frees return it, through every path',
      { skip },
      async () => {
        const dir = await configDir(config(100));
        const out = await runProgram('gpu_memory', [String(GiB), String(64 * MiB)], target.env(dir), 60_000);
        ok(out, target);
        // One line per check passed: cuMemGetInfo, cuMemAlloc, free, cuGetProcAddress, cuMemCreate.
        for (const check of ['info', 'alloc', 'free', 'procaddr', 'vmm'])
          assert.match(out.stdout, new RegExp(`^${check} `, 'm'), out.stdout);
      },
    );

    for (const limit of [30, 50, 70]) {
      it(`throttle: holds a ${limit}% hard limit within 5 points`, { skip }, async (t: TestContext) => {
        const dir = await configDir(config(limit));
        const out = await runProgram(
          'gpu_throttle',
          [String(target.seconds), String(target.cycles), 'sm'],
          target.env(dir),
          60_000,
        );
        const printed = ok(out, target);
        const util = figure(printed, 'util');
        t.diagnostic(
          `${target.driver} limit ${limit}%: util ${util}% (kernel time), NVML ${printed.get('nvml')}% ` +
            `(after 0.5 s: ${printed.get('nvml_steady')}%), ${printed.get('launches')} launches of ` +
            `${printed.get('kernel_us')} us on ${printed.get('grid')} blocks`,
        );
        assert.ok(Math.abs(util - limit) <= 5, out.stdout);
      });
    }

    it('throttle: two processes under one 40% limit share it', { skip }, async (t: TestContext) => {
      const dir = await configDir(config(40));
      // The fake GPU is per process unless its timeline is shared, as a real GPU is.
      const env = target.env(dir, { FAKE_GPU_SHARED_STATE: join(dir, 'fake-gpu.state') });
      const seconds = String(target.driver === 'fake' ? 3 : target.seconds);
      const runs = await Promise.all(
        [0, 1].map(() => runProgram('gpu_throttle', [seconds, String(target.cycles), 'sm'], env, 60_000)),
      );
      const printed = runs.map((out) => ok(out, target));
      const own = printed.map((p) => figure(p, 'util'));
      // NVML's device figure is both processes' kernels together, as each process saw it.
      const device = printed.map((p) => figure(p, 'nvml'));
      const combined = own[0]! + own[1]!;
      t.diagnostic(
        `${target.driver} two processes, limit 40%: kernel time ${own.join('% + ')}% = ` +
          `${combined.toFixed(2)}%, NVML device ${device.join('% / ')}%`,
      );
      const text = runs.map((out) => out.stdout).join('');
      assert.ok(Math.abs(combined - 40) <= 5, text);
      // The fake's NVML is exact over the run; the real one's trailing window (up to a second) lags
      // the start, so there it is printed only.
      if (target.driver === 'fake') for (const d of device) assert.ok(Math.abs(d - 40) <= 5, text);
    });

    it('launch: per-launch cost with and without the library', { skip }, async (t: TestContext) => {
      const dir = await configDir(config(100));
      // Kernels that cost the fake nothing: the figure is the calls alone.
      const extra = { FAKE_GPU_NS_PER_BLOCK: '0' };
      // Rounds short enough that a real driver's launch queue never fills (a full queue would make
      // a launch wait for the GPU, and the figure would be the kernel's, not the call's).
      const args = ['500', '41'];
      const hooked = ok(await runProgram('gpu_launch', args, target.env(dir, extra), 60_000), target);
      const bare = target.env(dir, extra);
      delete bare.LD_PRELOAD;
      const direct = ok(await runProgram('gpu_launch', args, bare, 60_000), target);
      const withLib = figure(hooked, 'ns_per_launch');
      const without = figure(direct, 'ns_per_launch');
      // Printed, never gated: a wall-clock figure on a shared machine.
      t.diagnostic(
        `${target.driver} per launch: ${withLib} ns with the library, ${without} ns without, ` +
          `${(withLib - without).toFixed(1)} ns added (median of 41 rounds of 500)`,
      );
    });
  });
}

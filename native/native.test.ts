// libvcuda-control.so against the fake CUDA driver and NVML (native/fake/), through LD_PRELOAD:
// every C program here is linked to "libcuda.so.1" like a real CUDA program, and our library is put
// in front of it. Nothing needs a GPU; the real-driver checks (here at the end, and
// real-gpu.test.ts) skip without one.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  decodeVgpuConfig,
  encodeVgpuConfig,
  VGPU_CORE_LIMIT_ENV,
  VGPU_SHARED_REGION_FILE,
  type VgpuConfig,
  vgpuMemoryLimitEnv,
} from '../contracts/vgpu-config.ts';
import {
  BUILD_DIR,
  buildNative,
  configDir,
  configPath,
  kill,
  type Outcome,
  programEnv,
  realDriverEnv,
  realGpu,
  removeConfigDirs,
  runProgram,
  startUntil,
} from './harness.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
// The fake driver's device 0, as NVML and nvidia-smi print it.
const FAKE_UUID_0 = 'GPU-f0010203-0405-0607-0809-0a0b0c0d0e0f';

function config(memoryLimitBytes: number, more: Partial<VgpuConfig> = {}): string {
  return encodeVgpuConfig({
    coreLimitPercent: 100,
    coreMode: 'hard',
    devices: [{ index: 0, memoryLimitBytes }],
    ...more,
  });
}

function ok(outcome: Outcome): void {
  assert.equal(
    outcome.code,
    0,
    `exit ${outcome.code} ${outcome.signal ?? ''}\n${outcome.stdout}\n${outcome.stderr}`,
  );
}

async function memory(
  scenario: string,
  bytes: number,
  dir: string | undefined,
  env: Record<string, string> = {},
) {
  return runProgram('t_memory', [scenario, String(bytes)], programEnv(dir, env));
}

before(async () => {
  await buildNative();
});

after(async () => {
  await removeConfigDirs();
});

describe('config file: the C parser agrees with contracts/vgpu-config.ts', () => {
  const samples: string[] = [
    config(GiB),
    config(3 * GiB, { coreLimitPercent: 30, coreMode: 'soft', sharedRegionPath: '/var/run/loadwise/x.shm' }),
    encodeVgpuConfig({
      coreLimitPercent: 55,
      coreMode: 'hard',
      devices: [
        { index: 0, uuid: FAKE_UUID_0, memoryLimitBytes: 1 },
        { index: 15, memoryLimitBytes: 9007199254740991 },
      ],
    }),
    '# only a comment\nversion=1\n',
    'version=1\ncore_limit=50\ncore_mode=hard\ndevice.0.memory_limit=1024',
    'version=1\ncore_limit=50\ncore_mode=hard\ndevice.0.memory_limit=1024\ndevice.16.memory_limit=1\n',
    'version=1\ncore_limit=50\ncore_mode=hard\ndevice.0.memory_limit=1024\ndevice.00.memory_limit=1\n',
    'version=1\ncore_limit=50\ncore_mode=hard\ndevice.0.memory_limit=9007199254740992\n',
    'version=1\ncore_limit=50\ncore_mode=hard\ndevice.0.memory_limit=1024\ncore_limit=50\n',
    'version=1\r\ncore_limit=50\ncore_mode=hard\ndevice.0.memory_limit=1024\n',
    'version=1\ncore_limit=50\ncore_mode=hard\ndevice.1.uuid=GPU-1\n',
    'version=1\ncore_limit=50\ncore_mode=hard\ndevice.0.memory_limit=1\nshared_region=/a/../b\n',
    'version=1\ncore_limit=50\ncore_mode=hard\ndevice.0.memory_limit=1\nshared_region=/a/..b\n',
    `version=1\ncore_limit=50\ncore_mode=hard\ndevice.0.memory_limit=1\n#${'x'.repeat(254)}\n`,
    `version=1\ncore_limit=50\ncore_mode=hard\ndevice.0.memory_limit=1\n#${'x'.repeat(255)}\n`,
    'version=2\ncore_limit=50\ncore_mode=hard\ndevice.0.memory_limit=1\n',
    'version=1\ncore_limit=101\ncore_mode=hard\ndevice.0.memory_limit=1\n',
    'version=1\ncore_limit=50\ncore_mode=hard\ndevice.0.memory_limit=1\n=x\n',
    'version=1\ncore_limit=50\ncore_mode=hard\ndevice.0.memory_limit=1\n\n\n# trailing\n',
    'version=1\ncore_limit=50\ncore_mode=soft\ndevice.0.memory_limit=1\ndevice.0.uuid=\n',
  ];

  it('accepts and rejects the same texts, and reads the same values', async () => {
    const dir = await configDir();
    for (const [i, text] of samples.entries()) {
      const file = join(dir, `sample-${i}`);
      await writeFile(file, text);
      const c = await runProgram('config_check', [file], { PATH: process.env.PATH ?? '' });
      const ts = decodeVgpuConfig(text);
      assert.equal(
        c.code === 0,
        ts.ok,
        `sample ${i}: C said ${c.stdout.trim()}, TS said ${JSON.stringify(ts)}`,
      );
      if (!ts.ok) continue;
      // The C side prints what it parsed as config lines; the TS encoder must write the same.
      const expected = encodeVgpuConfig(ts.config).split('\n').slice(2).join('\n');
      assert.equal(c.stdout, expected, `sample ${i}`);
    }
  });

  it('a TS-encoded file is what the preloaded library enforces', async () => {
    const dir = await configDir();
    const text = encodeVgpuConfig({
      coreLimitPercent: 40,
      coreMode: 'soft',
      sharedRegionPath: join(dir, 'elsewhere.shm'),
      devices: [{ index: 0, uuid: FAKE_UUID_0, memoryLimitBytes: 768 * MiB }],
    });
    await writeFile(configPath(dir), text);
    const described = await memory('describe', 0, dir);
    ok(described);
    assert.equal(
      described.stdout,
      [
        'enabled=1',
        'core_limit=40',
        'core_mode=soft',
        `shared_region=${join(dir, 'elsewhere.shm')}`,
        `device.0.uuid=${FAKE_UUID_0}`,
        `device.0.memory_limit=${768 * MiB}`,
        'device.0.used=0',
        'device.0.tokens_per_second=0',
        'device.0.utilisation=0',
        '',
      ].join('\n'),
    );
    ok(await memory('limit', 768 * MiB, dir));
    assert.ok(existsSync(join(dir, 'elsewhere.shm')), 'the configured shared region was not used');
  });
});

describe('memory limit', () => {
  it('allows allocations up to the limit, refuses one beyond it, and frees return capacity', async () => {
    const dir = await configDir(config(GiB));
    const out = await memory('limit', GiB, dir);
    ok(out);
    const lines = out.stderr.trim().split('\n');
    assert.equal(lines.length, 3, 'one stderr line per refused allocation');
    assert.match(
      lines[0]!,
      /cuMemAlloc of 1 bytes refused: the container's GPU memory limit on device 0 is 1073741824 bytes/,
    );
  });

  it('counts managed, async, pool, VMM (cuMemCreate), pitched and array allocations', async () => {
    const dir = await configDir(config(GiB));
    ok(await memory('paths', GiB, dir));
  });

  it('shows the container its share through cuMemGetInfo, cuDeviceTotalMem and NVML', async () => {
    const dir = await configDir(config(GiB));
    ok(await memory('info', GiB, dir));
  });

  it('limits functions reached through dlsym and cuGetProcAddress(_v2)', async () => {
    const dir = await configDir(config(GiB));
    ok(await memory('lookup', GiB, dir));
  });

  it('matches a configured device by UUID, not by position', async () => {
    // Config device 0 is the fake's second GPU (ordinal 1); ordinal 0 is not ours to limit.
    const dir = await configDir(
      encodeVgpuConfig({
        coreLimitPercent: 100,
        coreMode: 'hard',
        devices: [{ index: 0, uuid: FAKE_UUID_0.replace('GPU-f0', 'GPU-f1'), memoryLimitBytes: 256 * MiB }],
      }),
    );
    const env = programEnv(dir, { FAKE_GPU_COUNT: '2' });
    ok(await runProgram('t_memory', ['try', String(512 * MiB), '0'], env));
    assert.equal((await runProgram('t_memory', ['try', String(512 * MiB), '1'], env)).code, 3);
  });

  it('takes env overrides over the file, and env alone is a config', async () => {
    const dir = await configDir(config(GiB));
    ok(await memory('limit', 512 * MiB, dir, { [vgpuMemoryLimitEnv(0)]: String(512 * MiB) }));
    const bare = await configDir();
    ok(await memory('limit', 256 * MiB, bare, { [vgpuMemoryLimitEnv(0)]: String(256 * MiB) }));
  });
});

describe('shared accounting across the container', () => {
  it('two processes share one limit', async () => {
    const dir = await configDir(config(GiB));
    const env = programEnv(dir);
    const holder = await startUntil('t_memory', ['hold', String(600 * MiB)], env, 'held');
    try {
      const refused = await runProgram('t_memory', ['try', String(600 * MiB)], env);
      assert.equal(refused.code, 3, refused.stdout + refused.stderr);
      ok(await runProgram('t_memory', ['try', String(400 * MiB)], env));
    } finally {
      await kill(holder);
    }
  });

  it('lets exactly as many racing processes in as the limit holds', async () => {
    const dir = await configDir(config(GiB));
    const env = programEnv(dir);
    const racers = await Promise.allSettled(
      Array.from({ length: 8 }, () => startUntil('t_memory', ['hold', String(200 * MiB)], env, 'held')),
    );
    const holding = racers.filter((r) => r.status === 'fulfilled');
    try {
      assert.equal(holding.length, 5, '5 x 200 MiB fit in 1 GiB, a 6th does not');
    } finally {
      await Promise.all(holding.map((r) => kill(r.value)));
    }
  });

  it('gives a forked child its own share of the same limit and reclaims it after exit', async () => {
    const dir = await configDir(config(GiB));
    ok(await memory('fork', GiB, dir));
  });

  it("reclaims a killed process's memory", async () => {
    const dir = await configDir(config(GiB));
    const env = programEnv(dir);
    const holder = await startUntil('t_memory', ['hold', String(900 * MiB)], env, 'held');
    assert.equal((await runProgram('t_memory', ['try', String(200 * MiB)], env)).code, 3);
    await kill(holder, 'SIGKILL');
    ok(await runProgram('t_memory', ['try', String(GiB)], env));
  });

  it('survives a process killed while it holds the shared lock', async () => {
    const dir = await configDir(config(GiB));
    const env = programEnv(dir);
    const locker = await startUntil('t_memory', ['lock', '0'], env, 'locked');
    await kill(locker, 'SIGKILL');
    // Without a robust lock this would block until the timeout kills it.
    ok(await runProgram('t_memory', ['try', String(GiB)], env, 5_000));
  });
});

describe('dlsym interposition', () => {
  it('keeps dlsym(RTLD_NEXT) relative to its real caller', async () => {
    ok(await runProgram('t_dlnext', [], programEnv(undefined)));
  });
});

describe('no or broken config', () => {
  it('passes everything through without a config, silently and without files', async () => {
    const dir = await configDir();
    const out = await memory('passthrough', GiB, dir);
    ok(out);
    assert.equal(out.stderr, '');
    assert.ok(!existsSync(join(dir, VGPU_SHARED_REGION_FILE)));
    const described = await memory('describe', 0, dir);
    assert.equal(described.stdout, 'enabled=0\n');
  });

  it('passes through a broken config file with one clear stderr line', async () => {
    const dir = await configDir('version=1\ncore_limit=500\ncore_mode=hard\ndevice.0.memory_limit=1\n');
    const out = await memory('passthrough', GiB, dir);
    ok(out);
    assert.equal(out.stderr.trim().split('\n').length, 1, out.stderr);
    assert.match(
      out.stderr,
      /vgpu\.config: line 2: core_limit must be 1\.\.100; GPU limits are NOT enforced/,
    );
  });

  it('passes through a malformed env override with one clear stderr line', async () => {
    const dir = await configDir(config(GiB));
    const out = await memory('passthrough', GiB, dir, { [VGPU_CORE_LIMIT_ENV]: '30%' });
    ok(out);
    assert.match(
      out.stderr,
      /LOADWISE_VGPU_CORE_LIMIT="30%" is not a percent 1\.\.100; GPU limits are NOT enforced/,
    );
    const bare = await memory('passthrough', GiB, await configDir(), { [VGPU_CORE_LIMIT_ENV]: '30' });
    ok(bare);
    assert.match(bare.stderr, /LOADWISE_VGPU_CORE_LIMIT is set but no device limit is/);
  });
});

describe('compute throttle', () => {
  async function utilisation(limit: number, mode: 'hard' | 'soft', seconds: number, kind = 'kernel') {
    const dir = await configDir(config(GiB, { coreLimitPercent: limit, coreMode: mode }));
    const out = await runProgram('t_throttle', [String(seconds), kind], programEnv(dir), 30_000);
    ok(out);
    const m = /util=([\d.]+) steady=([\d.]+)/.exec(out.stdout);
    assert.ok(m, out.stdout);
    return { util: Number(m[1]), steady: Number(m[2]), text: out.stdout.trim() };
  }

  for (const limit of [30, 70]) {
    it(`holds average utilisation within 5 points of a ${limit}% hard limit`, async () => {
      const { util, text } = await utilisation(limit, 'hard', 2.5);
      assert.ok(Math.abs(util - limit) <= 5, text);
    });
  }

  it('throttles cuLaunchKernelEx, cuLaunchCooperativeKernel and cuGraphLaunch too', async () => {
    const { util, text } = await utilisation(30, 'hard', 1.5, 'mix');
    assert.ok(Math.abs(util - 30) <= 5, text);
  });

  it('lets a soft limit borrow a GPU that is otherwise idle', async () => {
    const { steady, text } = await utilisation(30, 'soft', 1, 'kernel');
    assert.ok(steady >= 70, text);
  });

  it('does not throttle without a config', async () => {
    // A 200 ms launch queue (real drivers hold about a thousand launches) keeps the GPU fed
    // while a busy CI machine preempts the launching thread; a throttle would still show.
    const env = programEnv(undefined, { FAKE_GPU_QUEUE_NS: String(200_000_000) });
    const out = await runProgram('t_throttle', ['0.5', 'kernel'], env);
    ok(out);
    const util = Number(/util=([\d.]+)/.exec(out.stdout)?.[1]);
    assert.ok(util >= 95, out.stdout);
  });
});

// More real-driver checks (memory, throttle, launch cost) are in real-gpu.test.ts.
const gpu = await realGpu();

describe('on a real GPU', () => {
  it(
    'nvidia-smi inside the limit shows the container its share',
    { skip: gpu.ok ? false : `no GPU here (${gpu.why}): real-driver checks skipped` },
    async () => {
      assert.ok(gpu.ok);
      const dir = await configDir(config(GiB));
      const { stdout } = await promisify(execFile)(
        gpu.smi,
        ['--query-gpu=memory.total', '--format=csv,noheader,nounits', '-i', '0'],
        { env: realDriverEnv(dir), timeout: 30_000 },
      );
      assert.equal(Number(stdout.trim()), 1024, stdout);
    },
  );

  it('builds into native/build, which git ignores', async () => {
    const ignore = await readFile(join(BUILD_DIR, '..', '..', '.gitignore'), 'utf8');
    assert.match(ignore, /^\/native\/build\/$/m);
  });
});

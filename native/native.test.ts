// libvcuda-control.so against the fake CUDA driver and NVML (native/fake/), through LD_PRELOAD:
// every C program here is linked to "libcuda.so.1" like a real CUDA program, and our library is put
// in front of it. Nothing needs a GPU; the real-driver checks (here at the end, and
// real-gpu.test.ts) skip without one.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  decodeVgpuConfig,
  encodeVgpuConfig,
  VGPU_CONFIG_DIR_ENV,
  VGPU_CORE_LIMIT_ENV,
  VGPU_SHARED_REGION_FILE,
  type VgpuConfig,
  vgpuMemoryLimitEnv,
} from '../contracts/vgpu-config.ts';
import {
  buildNative,
  configDir,
  configPath,
  kill,
  MOUNT_DIR,
  mountedEnv,
  NATIVE_DIR,
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

  it('notices a process zeroing the recorded use in the shared region, restores it, and still refuses', async () => {
    const dir = await configDir(config(GiB));
    const out = await memory('tamper', GiB, dir, {
      TAMPER_REGION: join(dir, VGPU_SHARED_REGION_FILE),
    });
    ok(out);
    assert.match(
      out.stderr,
      /the shared region was changed behind this process's back \(slot 0: .*\); restored from this process's own record/,
    );
    assert.equal(out.stderr.match(/changed behind/g)?.length, 1, 'said once');
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

  it('fails closed on a broken config file: every allocation refused, saying why', async () => {
    const dir = await configDir('version=1\ncore_limit=500\ncore_mode=hard\ndevice.0.memory_limit=1\n');
    const out = await memory('try', 1, dir);
    assert.equal(out.code, 3, out.stdout + out.stderr);
    const lines = out.stderr.trim().split('\n');
    assert.equal(lines.length, 2, out.stderr);
    assert.match(
      lines[0]!,
      /vgpu\.config: line 2: core_limit must be 1\.\.100; GPU memory allocations are refused until it is fixed$/,
    );
    assert.match(
      lines[1]!,
      /cuMemAlloc of 1 bytes refused: .*vgpu\.config: line 2: core_limit must be 1\.\.100$/,
    );
  });

  it('ignores a malformed env override next to a config file, whose limits hold', async () => {
    const dir = await configDir(config(GiB));
    const out = await memory('limit', GiB, dir, { [VGPU_CORE_LIMIT_ENV]: '30%' });
    ok(out);
    assert.match(
      out.stderr,
      /LOADWISE_VGPU_CORE_LIMIT="30%" is not a percent 1\.\.100; ignored, the config's 100% holds/,
    );
  });

  it('passes through a malformed env override where there is no config file, with one clear line', async () => {
    const bad = await memory('passthrough', GiB, await configDir(), { [VGPU_CORE_LIMIT_ENV]: '30%' });
    ok(bad);
    assert.match(
      bad.stderr,
      /LOADWISE_VGPU_CORE_LIMIT="30%" is not a percent 1\.\.100; GPU limits are NOT enforced/,
    );
    const bare = await memory('passthrough', GiB, await configDir(), { [VGPU_CORE_LIMIT_ENV]: '30' });
    ok(bare);
    assert.match(bare.stderr, /LOADWISE_VGPU_CORE_LIMIT is set but no device limit is/);
  });
});

// The attacks of issue 13 ("the environment lifts the GPU share"), each performed by a process in
// a container the device plugin set up: its config mounted (here: MOUNT_DIR, the mount point the
// library under test was built with), its shared region in a run directory of its own.
describe('a process in the container cannot lift its share', () => {
  let runDir = '';

  /** Plays the device plugin: mounts `text` as vgpu.config (null: the directory without a file). */
  async function mount(text: string | null): Promise<void> {
    await rm(MOUNT_DIR, { recursive: true, force: true });
    await mkdir(MOUNT_DIR, { recursive: true });
    runDir = await configDir();
    if (text !== null) await writeFile(configPath(MOUNT_DIR), text);
  }

  /** Mounts the grant every attack starts from: 1 GiB and 30 % of GPU 0. */
  async function mountGranted(): Promise<void> {
    await mount(null);
    await writeFile(configPath(MOUNT_DIR), granted());
  }

  const granted = () => config(GiB, { coreLimitPercent: 30, sharedRegionPath: join(runDir, 'vgpu.shm') });

  async function attempt(scenario: string, bytes: number, env: Record<string, string> = {}) {
    return runProgram('t_memory', [scenario, String(bytes)], mountedEnv(env));
  }

  after(async () => {
    await rm(MOUNT_DIR, { recursive: true, force: true });
  });

  it(`${vgpuMemoryLimitEnv(0)}=17179869184 cannot raise the mounted 1 GiB; a lower value applies`, async () => {
    await mountGranted();
    const lifted = await attempt('try', 2 * GiB, { [vgpuMemoryLimitEnv(0)]: String(16 * GiB) });
    assert.equal(lifted.code, 3, lifted.stdout + lifted.stderr);
    assert.match(
      lifted.stderr,
      /LOADWISE_VGPU_MEMORY_LIMIT_0=17179869184 would raise the config's 1073741824 bytes; ignored \(the environment may only lower a limit\)/,
    );
    ok(await attempt('limit', GiB, { [vgpuMemoryLimitEnv(0)]: String(16 * GiB) }));
    // Lowering is the user's own business and is honoured, silently.
    const lowered = await attempt('limit', 512 * MiB, { [vgpuMemoryLimitEnv(0)]: String(512 * MiB) });
    ok(lowered);
    // A device the config does not list cannot be added.
    const added = await attempt('describe', 0, { [vgpuMemoryLimitEnv(1)]: String(GiB) });
    assert.doesNotMatch(added.stdout, /device\.1\./);
    assert.match(
      added.stderr,
      /LOADWISE_VGPU_MEMORY_LIMIT_1 is set but the config lists no device 1; ignored/,
    );
  });

  it(`${VGPU_CORE_LIMIT_ENV}=abc does not turn enforcement off, and no value raises the core limit`, async () => {
    await mountGranted();
    const abc = await attempt('try', 2 * GiB, { [VGPU_CORE_LIMIT_ENV]: 'abc' });
    assert.equal(abc.code, 3, abc.stdout + abc.stderr);
    assert.match(
      abc.stderr,
      /LOADWISE_VGPU_CORE_LIMIT="abc" is not a percent 1\.\.100; ignored, the config's 30% holds/,
    );
    assert.doesNotMatch(abc.stderr, /NOT enforced/);
    const raised = await attempt('describe', 0, { [VGPU_CORE_LIMIT_ENV]: '100' });
    assert.match(raised.stdout, /^core_limit=30$/m);
    assert.match(raised.stderr, /LOADWISE_VGPU_CORE_LIMIT=100 would raise the config's 30%; ignored/);
    const lowered = await attempt('describe', 0, { [VGPU_CORE_LIMIT_ENV]: '10' });
    assert.match(lowered.stdout, /^core_limit=10$/m);
  });

  it(`${VGPU_CONFIG_DIR_ENV}=/nonexistent (or a generous config elsewhere) does not move the config`, async () => {
    await mountGranted();
    const away = await attempt('try', 2 * GiB, { [VGPU_CONFIG_DIR_ENV]: '/nonexistent' });
    assert.equal(away.code, 3, away.stdout + away.stderr);
    assert.match(
      away.stderr,
      /LOADWISE_VGPU_CONFIG_DIR="\/nonexistent" ignored: the config mounted at .* is the authority/,
    );
    const generous = await configDir(config(64 * GiB));
    const elsewhere = await attempt('try', 2 * GiB, { [VGPU_CONFIG_DIR_ENV]: generous });
    assert.equal(elsewhere.code, 3, elsewhere.stdout + elsewhere.stderr);
  });

  for (const [name, text] of [
    [
      'an out-of-range value',
      'version=1\ncore_limit=500\ncore_mode=hard\ndevice.0.memory_limit=1073741824\n',
    ],
    ['a truncated file', 'version=1\ncore_limit=30\ncore_mo'],
    ['binary garbage', '\u0000\u00ff\u0001garbage'],
    ['an empty file', ''],
  ] as const) {
    it(`a corrupt mounted config (${name}) fails closed: allocations refused with the reason`, async () => {
      await mount(text);
      const out = await attempt('try', 1);
      assert.equal(out.code, 3, out.stdout + out.stderr);
      assert.match(out.stderr, /vgpu\.config: .*; GPU memory allocations are refused until it is fixed/);
      assert.match(out.stderr, /cuMemAlloc of 1 bytes refused: /);
      const described = await attempt('describe', 0);
      assert.match(described.stdout, /^enabled=1\nclosed=/);
    });
  }

  it('a mounted directory without its config fails closed', async () => {
    await mount(null);
    const out = await attempt('try', 1);
    assert.equal(out.code, 3, out.stdout + out.stderr);
    assert.match(
      out.stderr,
      /vgpu\.config is missing from the directory the device plugin mounts; GPU memory allocations are refused/,
    );
  });

  it('creates the shared region private to its user and trusts no other', async () => {
    await mountGranted();
    const region = join(runDir, 'vgpu.shm');
    ok(await attempt('limit', GiB));
    assert.equal((await stat(region)).mode & 0o777, 0o600);

    // A region someone made writable by every user could have been rewritten: not trusted.
    await chmod(region, 0o666);
    const shared = await attempt('try', 1);
    assert.equal(shared.code, 3, shared.stdout + shared.stderr);
    assert.match(
      shared.stderr,
      /the shared region .*vgpu\.shm is not a private file of this user \(uid \d+, mode 0666\)/,
    );

    // Nor a symlink to a file of the attacker's choosing.
    await rm(region);
    const decoy = join(runDir, 'decoy');
    await writeFile(decoy, '');
    await symlink(decoy, region);
    const linked = await attempt('try', 1);
    assert.equal(linked.code, 3, linked.stdout + linked.stderr);
    assert.match(linked.stderr, /cannot open the shared region .*vgpu\.shm: /);
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
    const ignore = await readFile(join(NATIVE_DIR, '..', '.gitignore'), 'utf8');
    assert.match(ignore, /^\/native\/build\/$/m);
  });
});

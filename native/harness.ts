// Builds native/ and runs its programs against the fake driver: shared by the tests and the bench.
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { VGPU_CONFIG_DIR_ENV, VGPU_CONFIG_FILE } from '../contracts/vgpu-config.ts';

export const NATIVE_DIR = fileURLToPath(new URL('.', import.meta.url));
/**
 * Set (to 1) by sanitize.test.ts when it runs the native tests again against the build under
 * AddressSanitizer and UndefinedBehaviorSanitizer (`make -C native sanitize`, in build/sanitize).
 */
export const SANITIZE_ENV = 'LOADWISE_NATIVE_SANITIZE';
export const SANITIZED = process.env[SANITIZE_ENV] === '1';
export const BUILD_DIR = join(NATIVE_DIR, SANITIZED ? 'build/sanitize' : 'build');
export const LIBRARY = join(BUILD_DIR, 'libvcuda-control.so');
/**
 * The same library built with its mount point (the directory the device plugin mounts, whose
 * config no environment variable can move) at MOUNT_DIR, so a test can play the device plugin.
 */
export const MOUNTED_LIBRARY = join(BUILD_DIR, 'mounted', 'libvcuda-control.so');
export const MOUNT_DIR = join(BUILD_DIR, 'mount', 'vgpu');

const run = promisify(execFile);

/**
 * `make -C native`: the library, the fake driver and NVML, the C test programs and the bench.
 * Under flock(1) where there is one: test files may run in parallel, and two makes writing the same
 * outputs (or one running a program the other is relinking) would break each other.
 */
export async function buildNative(): Promise<void> {
  const make = ['make', '-C', NATIVE_DIR, '-j2', SANITIZED ? 'sanitize' : 'all'];
  const lock = join(tmpdir(), 'loadwise-native-build.lock');
  const [command, ...args] = (await onPath('flock')) ? ['flock', lock, ...make] : make;
  await run(command!, args, { timeout: SANITIZED ? 300_000 : 120_000, maxBuffer: 16 << 20 });
}

async function onPath(program: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${program}`], { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a real GPU can be used here: `nvidia-smi -L` exists and lists a GPU. Otherwise the reason,
 * for the skip message of the real-driver checks.
 */
export async function realGpu(): Promise<
  { ok: true; smi: string; gpus: string } | { ok: false; why: string }
> {
  const smi = ['/usr/bin/nvidia-smi', '/usr/local/bin/nvidia-smi'].find((p) => existsSync(p));
  const command = smi ?? ((await onPath('nvidia-smi')) ? 'nvidia-smi' : undefined);
  if (command === undefined) return { ok: false, why: 'nvidia-smi not found' };
  try {
    const { stdout } = await run(command, ['-L'], { timeout: 30_000 });
    if (!/^GPU \d+/m.test(stdout)) return { ok: false, why: `nvidia-smi -L lists no GPU: ${stdout.trim()}` };
    return { ok: true, smi: command, gpus: stdout.trim() };
  } catch (error) {
    return { ok: false, why: `nvidia-smi -L failed: ${String(error).split('\n')[0]}` };
  }
}

const created: string[] = [];

/** A fresh config directory, with `text` as its config file when given. */
export async function configDir(text?: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'loadwise-vgpu-'));
  created.push(dir);
  if (text !== undefined) await writeFile(join(dir, VGPU_CONFIG_FILE), text);
  return dir;
}

/** Removes every directory `configDir` made. */
export async function removeConfigDirs(): Promise<void> {
  const dirs = created.splice(0);
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
}

/**
 * The environment a program under test gets: the fake driver on the library path, our library
 * preloaded (never through /etc/ld.so.preload), and no inherited loadwise or fake settings.
 */
export function programEnv(dir: string | undefined, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('LOADWISE_') && !key.startsWith('FAKE_GPU_') && key !== 'LD_PRELOAD')
      env[key] = value;
  }
  env.LD_LIBRARY_PATH = BUILD_DIR;
  env.LD_PRELOAD = preload(LIBRARY);
  // No directory given: point at one that does not exist, so a host's real config cannot leak in.
  env[VGPU_CONFIG_DIR_ENV] = dir ?? join(BUILD_DIR, 'no-such-config-dir');
  if (SANITIZED) Object.assign(env, SANITIZER_OPTIONS);
  return { ...env, ...extra };
}

/**
 * programEnv with the library whose config is the one "mounted" at MOUNT_DIR: what a process in a
 * container the device plugin set up gets. `extra` is what the container adds to its environment.
 */
export function mountedEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = programEnv(undefined);
  delete env[VGPU_CONFIG_DIR_ENV];
  env.LD_PRELOAD = preload(MOUNTED_LIBRARY);
  return { ...env, ...extra };
}

// A sanitized library in a program that is not: the sanitizer runtime must come first.
const SANITIZER_RUNTIME = SANITIZED
  ? execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim()
  : '';
const SANITIZER_OPTIONS = {
  // exitcode 86: a report is never mistaken for a scenario's own exit code.
  ASAN_OPTIONS: 'halt_on_error=1:exitcode=86:detect_leaks=1:abort_on_error=0',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1:exitcode=86',
};

function preload(library: string): string {
  return SANITIZED ? `${SANITIZER_RUNTIME} ${library}` : library;
}

export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * programEnv for the real driver: the same, but with the library path the tests were started with
 * (where a GPU machine may keep its libcuda.so.1), not the fake's.
 */
export function realDriverEnv(
  dir: string | undefined,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const env = programEnv(dir, extra);
  if (process.env.LD_LIBRARY_PATH === undefined) delete env.LD_LIBRARY_PATH;
  else env.LD_LIBRARY_PATH = process.env.LD_LIBRARY_PATH;
  return env;
}

/** Runs build/<program> to completion, killed after `timeoutMs`. */
export async function runProgram(
  program: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 20_000,
): Promise<Outcome> {
  const child = spawn(join(BUILD_DIR, program), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout = collect(child, 'stdout');
  const stderr = collect(child, 'stderr');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    return { code, signal, stdout: stdout(), stderr: stderr() };
  } finally {
    clearTimeout(timer);
  }
}

/** Starts build/<program> and resolves once it has printed `ready` on stdout (bounded wait). */
export async function startUntil(
  program: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: string,
  timeoutMs = 10_000,
): Promise<ChildProcess> {
  const child = spawn(join(BUILD_DIR, program), args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout = collect(child, 'stdout');
  const stderr = collect(child, 'stderr');
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    while (!stdout().includes(ready)) {
      await Promise.race([once(child.stdout!, 'data', { signal }), once(child, 'exit', { signal })]);
      if (child.exitCode !== null || child.signalCode !== null) break;
    }
  } catch {
    // Timed out: reported below with whatever the program said.
  }
  if (!stdout().includes(ready)) {
    child.kill('SIGKILL');
    throw new Error(`${program} ${args.join(' ')} never printed "${ready}": ${stdout()} ${stderr()}`);
  }
  return child;
}

/** Kills a child and waits until it is gone. */
export async function kill(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

function collect(child: ChildProcess, stream: 'stdout' | 'stderr'): () => string {
  let text = '';
  child[stream]?.setEncoding('utf8');
  child[stream]?.on('data', (chunk: string) => {
    text += chunk;
  });
  return () => text;
}

/** Path of the config file inside a config directory. */
export function configPath(dir: string): string {
  return join(dir, VGPU_CONFIG_FILE);
}

// The replay benchmark's child processes: the API-server double, and an extender (the real one
// as its image runs it, or the do-nothing baseline), each a bundle run by plain node so the CPU
// each burns is its own process's.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';
// @ts-expect-error: a plain ESM build script without type declarations.
import { bundle, ENTRIES, NODE_FLAGS } from '../../hack/build.mjs';
import type { ClusterReply, ClusterRequest, ClusterSettings } from './protocol.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;

export interface Bundles {
  cluster: string;
  nullExtender: string;
  scheduler: string;
  schedulerFlags: string[];
}

/** Bundles the three programs into `outDir` (relative to the repository), as `npm run build` does. */
export async function buildBundles(outDir: string): Promise<Bundles> {
  const entries = ENTRIES as Record<string, string>;
  const flags = NODE_FLAGS as Record<string, string[]>;
  const [cluster, nullExtender, scheduler] = (await Promise.all([
    bundle('bench/scheduler-replay/cluster.ts', `${outDir}/replay-cluster.mjs`),
    bundle('bench/scheduler-replay/null-extender.ts', `${outDir}/replay-null-extender.mjs`),
    bundle(entries.scheduler, `${outDir}/scheduler.mjs`, flags.scheduler),
  ])) as string[];
  return {
    cluster: cluster!,
    nullExtender: nullExtender!,
    scheduler: scheduler!,
    schedulerFlags: flags.scheduler!,
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function stopChild(child: ChildProcess, ask: () => void): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  ask();
  try {
    await withTimeout(exited, STOP_TIMEOUT_MS, 'child exit');
  } catch {
    child.kill('SIGKILL');
    await exited;
  }
}

/** The API-server double in its own process, driven over IPC. */
export class ClusterChild {
  private nextId = 0;
  private readonly waiting = new Map<number, (reply: ClusterReply) => void>();

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.on('message', (reply: ClusterReply) => {
      if ('id' in reply) this.waiting.get(reply.id)?.(reply);
    });
  }

  static async start(script: string, settings: ClusterSettings): Promise<ClusterChild> {
    const child = spawn(process.execPath, [script, JSON.stringify(settings)], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = new Promise<string>((resolve, reject) => {
      child.once('exit', (code) =>
        reject(new Error(`the API-server double exited (${code}) before it was ready`)),
      );
      child.once('message', (reply: ClusterReply) => {
        if (reply.type === 'ready') resolve(reply.url);
      });
    });
    try {
      return new ClusterChild(child, await withTimeout(ready, START_TIMEOUT_MS, 'API-server double start'));
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  private async ask(request: ClusterRequest & { id: number }): Promise<ClusterReply> {
    const answer = new Promise<ClusterReply>((resolve) => this.waiting.set(request.id, resolve));
    this.child.send(request);
    try {
      return await withTimeout(answer, START_TIMEOUT_MS, `API-server double ${request.type}`);
    } finally {
      this.waiting.delete(request.id);
    }
  }

  /** Creates `count` pending pods named `prefix-N`; returns them as the API server holds them. */
  async createPods(prefix: string, count: number, vgpu: boolean): Promise<V1Pod[]> {
    const reply = await this.ask({ type: 'pods', id: this.nextId++, prefix, count, vgpu });
    return reply.type === 'pods' ? reply.pods : [];
  }

  /** Pod name → the node the API server has it bound to ('' while unbound). */
  async placements(names: string[]): Promise<Record<string, string>> {
    const reply = await this.ask({ type: 'placements', id: this.nextId++, names });
    return reply.type === 'placements' ? reply.nodeNames : {};
  }

  stop(): Promise<void> {
    return stopChild(this.child, () => this.child.send({ type: 'stop' } satisfies ClusterRequest));
  }
}

/** An extender process (real or do-nothing), listening on loopback once started. */
export class ServerChild {
  private constructor(
    private readonly child: ChildProcess,
    readonly address: string,
    /** Log lines at warn level or above: a replay that looks fine while its server complains is not. */
    readonly complaints: string[],
  ) {}

  /** Starts `node FLAGS SCRIPT ARGS`; resolves once it logs "scheduler extender listening". */
  static async start(flags: string[], script: string, args: string[]): Promise<ServerChild> {
    const child = spawn(process.execPath, [...flags, script, ...args], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const complaints: string[] = [];
    const listening = new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before it listened`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let entry: { level?: number; msg?: string; address?: string };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          return;
        }
        if (entry.msg === 'scheduler extender listening' && entry.address) resolve(entry.address);
        // pino levels: 40 warn, 50 error, 60 fatal. Kept bounded.
        if ((entry.level ?? 0) >= 40 && complaints.length < 20) complaints.push(line);
      });
    });
    try {
      const address = await withTimeout(listening, START_TIMEOUT_MS, `${script} start`);
      return new ServerChild(child, address, complaints);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Waits until GET /readyz answers 200 (the extender's caches synced with the API server). */
  async ready(): Promise<void> {
    const deadline = performance.now() + START_TIMEOUT_MS;
    while (performance.now() < deadline) {
      const res = await fetch(`${this.address}/readyz`).catch(() => undefined);
      if (res?.status === 200) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${this.address}/readyz: not ready within ${START_TIMEOUT_MS} ms`);
  }

  /** SIGTERM, as the kubelet stops it; stdin's end stops the do-nothing one. */
  stop(): Promise<void> {
    return stopChild(this.child, () => {
      this.child.stdin?.end();
      this.child.kill('SIGTERM');
    });
  }
}

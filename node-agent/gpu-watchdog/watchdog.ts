// The outside watchdog: the vGPU library inside a container is a guardrail the container's own
// processes could get around (a static binary, raw driver ioctls, a forged shared region), so the
// agent also measures, from the host, what every process really holds on each GPU and compares each
// container's total with its share.
//
// Every check: `nvidia-smi --query-compute-apps` (host PIDs and MiB per GPU) → each PID's pod and
// container from `<proc>/<pid>/cgroup` and the pod's container statuses → per container and GPU,
// used vs. share + one context allowance per process (the CUDA context, which the library does not
// count, takes a few hundred MiB). Only containers of pods the device plugin allocated are judged;
// one of their containers without a share of that GPU has a share of 0.
//
// Over: a gauge while over, a counter per episode, a Warning Event on the pod when the episode
// starts and again every `eventIntervalMs` while it lasts (never more often, even for a container
// that flaps over and under), and in `kill` mode SIGKILL to the
// container's processes on that GPU, largest first, until the rest fits. A PID is re-checked against
// its cgroup right before the kill, so a PID reused by another process is not hit.
import type { V1Pod } from '@kubernetes/client-node';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../../common/clock.ts';
import type { Logger } from '../../common/log.ts';
import { GPU_WATCHDOG_METRICS } from '../../contracts/metrics.ts';
import type { ContainerAllocation } from '../device-plugin/matcher.ts';
import type { Runner } from '../gpu/nvidia-smi-provider.ts';
import { bareContainerID, type ContainerRef, containerOfPid } from './cgroup.ts';
import { COMPUTE_APPS_ARGS, parseComputeApps } from './compute-apps.ts';

export const ENFORCE_MODES = ['off', 'report', 'kill'] as const;
export type EnforceMode = (typeof ENFORCE_MODES)[number];

/** The default allowance per process for its CUDA context (MiB): what a context takes on current GPUs. */
export const DEFAULT_CONTEXT_ALLOWANCE_MIB = 512;
export const DEFAULT_WATCHDOG_INTERVAL_MS = 10_000;
export const DEFAULT_EVENT_INTERVAL_MS = 10 * 60_000;
export const OVER_SHARE_REASON = 'GPUMemoryOverShare';

const MiB = 1024 * 1024;

/** A Warning Event about one container, as the watchdog hands it to its sink. */
export interface ShareEvent {
  namespace: string;
  podName: string;
  podUID: string;
  container: string;
  reason: string;
  message: string;
}

export interface GpuWatchdogOptions {
  nodeName: string;
  procPath: string;
  /** Runs nvidia-smi with the given arguments and returns its stdout. */
  exec: Runner;
  /** The device plugin's allocations: the shares. */
  allocations: () => ContainerAllocation[];
  /** The pod with this UID as the agent's watch has it (for container IDs → names). */
  pod: (uid: string) => V1Pod | undefined;
  /** Records a Kubernetes Event; failures are the sink's to log. */
  event: (event: ShareEvent) => Promise<void>;
  enforce: Exclude<EnforceMode, 'off'>;
  contextAllowanceMiB?: number;
  eventIntervalMs?: number;
  /** Sends SIGKILL; replaceable so a test with a fake /proc kills nothing real by accident. */
  kill?: (pid: number) => void;
  clock: Clock;
  logger: Logger;
  registry: Registry;
}

/** One container's use of one GPU in one check. */
export interface ContainerUse {
  namespace: string;
  podName: string;
  podUID: string;
  container: string;
  gpuUuid: string;
  usedMiB: number;
  shareMiB: number;
  /** share + allowance × processes. */
  limitMiB: number;
  pids: Array<{ pid: number; usedMiB: number }>;
}

export interface CheckResult {
  uses: ContainerUse[];
  over: ContainerUse[];
  killed: number[];
}

export class GpuWatchdog {
  private readonly allowanceMiB: number;
  private readonly eventIntervalMs: number;
  private readonly kill: (pid: number) => void;
  /** Containers (per GPU) over their share at the last check. */
  private readonly over = new Set<string>();
  /**
   * When each container (per GPU) last got an Event. Kept past the episode: a container that
   * flaps over and under its share every check must not turn into an Event every other check.
   */
  private readonly lastEventMs = new Map<string, number>();
  private readonly overShare: Gauge<'node' | 'namespace' | 'pod' | 'container' | 'uuid'>;
  private readonly violations: Counter<'node' | 'action'>;
  private readonly errors: Counter<'node' | 'reason'>;
  private readonly checks: Counter<'node'>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(private readonly opts: GpuWatchdogOptions) {
    this.allowanceMiB = opts.contextAllowanceMiB ?? DEFAULT_CONTEXT_ALLOWANCE_MIB;
    this.eventIntervalMs = opts.eventIntervalMs ?? DEFAULT_EVENT_INTERVAL_MS;
    this.kill = opts.kill ?? ((pid) => process.kill(pid, 'SIGKILL'));
    const registers = [opts.registry];
    this.overShare = new Gauge({
      name: GPU_WATCHDOG_METRICS.overShare,
      help: 'Bytes a container uses on a GPU beyond its vGPU share plus the context allowance (present while over)',
      labelNames: ['node', 'namespace', 'pod', 'container', 'uuid'],
      registers,
    });
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Counter<L>({ name, help, labelNames, registers });
    this.violations = counter(
      GPU_WATCHDOG_METRICS.violations,
      'Containers that went over their GPU memory share (reported) and processes killed for it (killed)',
      ['node', 'action'],
    );
    this.errors = counter(GPU_WATCHDOG_METRICS.errors, 'GPU watchdog checks that could not run', [
      'node',
      'reason',
    ]);
    this.checks = counter(GPU_WATCHDOG_METRICS.checks, 'GPU watchdog checks run', ['node']);
  }

  /** Checks every `intervalMs`, one check at a time (a slow nvidia-smi delays, never overlaps). */
  start(intervalMs = DEFAULT_WATCHDOG_INTERVAL_MS): void {
    if (this.timer) return;
    const next = () => {
      this.timer = setTimeout(() => {
        this.running = this.check()
          .catch((err: unknown) => this.opts.logger.error({ err: String(err) }, 'GPU watchdog check failed'))
          .finally(() => {
            if (this.timer) next();
          });
      }, intervalMs);
      this.timer.unref();
    };
    next();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One check: measure, compare, report and (in kill mode) enforce. */
  async check(): Promise<CheckResult> {
    const node = this.opts.nodeName;
    this.checks.inc({ node });
    let output: string;
    try {
      output = await this.opts.exec([...COMPUTE_APPS_ARGS]);
    } catch (err) {
      this.errors.inc({ node, reason: 'nvidia-smi' });
      this.opts.logger.warn(
        { err: String(err).split('\n')[0] },
        'GPU watchdog: nvidia-smi --query-compute-apps failed',
      );
      return { uses: [], over: [], killed: [] };
    }
    const { apps, problems } = parseComputeApps(output);
    if (problems.length > 0)
      this.opts.logger.warn({ problems }, 'GPU watchdog: lines nvidia-smi printed that are not processes');
    const uses = await this.measure(apps);
    const over = uses.filter((u) => u.usedMiB > u.limitMiB);
    const killed: number[] = [];
    const now = this.opts.clock.now();
    const overKeys = new Set<string>();
    for (const use of over) {
      const key = keyOf(use);
      overKeys.add(key);
      this.overShare.set(labelsOf(node, use), (use.usedMiB - use.limitMiB) * MiB);
      const pids = this.opts.enforce === 'kill' ? await this.enforce(use) : [];
      killed.push(...pids);
      if (!this.over.has(key)) this.violations.inc({ node, action: 'reported' });
      if (pids.length > 0) this.violations.inc({ node, action: 'killed' }, pids.length);
      const last = this.lastEventMs.get(key);
      // A kill is always told; otherwise at most one Event per interval.
      if (pids.length > 0 || last === undefined || now - last >= this.eventIntervalMs) {
        this.lastEventMs.set(key, now);
        await this.report(use, pids);
      }
    }
    // Back under (or gone): the episode ends and the gauge goes away.
    for (const key of this.over) {
      if (overKeys.has(key)) continue;
      const [namespace, pod, container, uuid] = JSON.parse(key) as string[];
      this.overShare.remove({ node, namespace, pod, container, uuid });
    }
    this.over.clear();
    for (const key of overKeys) this.over.add(key);
    for (const [key, at] of this.lastEventMs) {
      if (now - at >= this.eventIntervalMs) this.lastEventMs.delete(key);
    }
    return { uses, over, killed };
  }

  /** Groups the processes by container and GPU and attaches each container's share. */
  private async measure(apps: ReturnType<typeof parseComputeApps>['apps']): Promise<ContainerUse[]> {
    const allocations = this.opts.allocations();
    const allocatedPods = new Set(allocations.map((a) => a.podUID));
    const uses = new Map<string, ContainerUse>();
    for (const app of apps) {
      const ref = await containerOfPid(this.opts.procPath, app.pid);
      if (!ref || !allocatedPods.has(ref.podUID)) continue; // not a loadwise-allocated pod's
      const container = this.containerName(ref);
      if (container === undefined) continue; // a container the pod's status does not list yet
      const allocation = allocations.find((a) => a.podUID === ref.podUID && a.container === container);
      const any = allocations.find((a) => a.podUID === ref.podUID)!;
      const share = allocation?.shares.find((s) => s.uuid.toLowerCase() === app.gpuUuid.toLowerCase());
      const use: ContainerUse = {
        namespace: any.namespace,
        podName: any.podName,
        podUID: ref.podUID,
        container,
        gpuUuid: app.gpuUuid,
        usedMiB: 0,
        shareMiB: share?.memoryMiB ?? 0,
        limitMiB: 0,
        pids: [],
      };
      const key = keyOf(use);
      const entry = uses.get(key) ?? use;
      uses.set(key, entry);
      const usedMiB = app.usedMiB ?? 0;
      entry.usedMiB += usedMiB;
      entry.pids.push({ pid: app.pid, usedMiB });
      entry.limitMiB = entry.shareMiB + this.allowanceMiB * entry.pids.length;
    }
    return [...uses.values()];
  }

  private containerName(ref: ContainerRef): string | undefined {
    const status = this.opts.pod(ref.podUID)?.status;
    const all = [...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])];
    return all.find((s) => bareContainerID(s.containerID) === ref.containerID)?.name;
  }

  /** Kills the container's processes on the GPU, largest first, until the rest fits the share. */
  private async enforce(use: ContainerUse): Promise<number[]> {
    const killed: number[] = [];
    let used = use.usedMiB;
    let processes = use.pids.length;
    for (const { pid, usedMiB } of [...use.pids].sort((a, b) => b.usedMiB - a.usedMiB)) {
      if (used <= use.shareMiB + this.allowanceMiB * processes) break;
      // The PID may have exited and been reused since nvidia-smi printed it.
      const ref = await containerOfPid(this.opts.procPath, pid);
      if (!ref || ref.podUID !== use.podUID || this.containerName(ref) !== use.container) continue;
      try {
        this.kill(pid);
        killed.push(pid);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
          this.opts.logger.error(
            { pid, err: String(err) },
            'GPU watchdog: cannot kill a process over its share',
          );
          continue;
        }
      }
      used -= usedMiB;
      processes--;
    }
    return killed;
  }

  private async report(use: ContainerUse, killed: number[]): Promise<void> {
    const what =
      `container ${use.container} uses ${use.usedMiB} MiB of GPU memory on ${use.gpuUuid}, ` +
      `over its share of ${use.shareMiB} MiB plus ${this.allowanceMiB} MiB context allowance ` +
      `for each of its ${use.pids.length} process(es) (pids ${use.pids.map((p) => p.pid).join(', ')})`;
    const action =
      this.opts.enforce === 'kill'
        ? killed.length > 0
          ? `; killed pid(s) ${killed.join(', ')} (--enforce-gpu-memory=kill)`
          : '; nothing could be killed'
        : '; reported only (--enforce-gpu-memory=report)';
    const message = `${what}${action}`;
    this.opts.logger.warn(
      {
        namespace: use.namespace,
        pod: use.podName,
        container: use.container,
        uuid: use.gpuUuid,
        usedMiB: use.usedMiB,
        limitMiB: use.limitMiB,
        killed,
      },
      'GPU memory over share',
    );
    await this.opts.event({
      namespace: use.namespace,
      podName: use.podName,
      podUID: use.podUID,
      container: use.container,
      reason: OVER_SHARE_REASON,
      message,
    });
  }
}

function keyOf(use: Pick<ContainerUse, 'namespace' | 'podName' | 'container' | 'gpuUuid'>): string {
  return JSON.stringify([use.namespace, use.podName, use.container, use.gpuUuid]);
}

function labelsOf(node: string, use: ContainerUse) {
  return { node, namespace: use.namespace, pod: use.podName, container: use.container, uuid: use.gpuUuid };
}

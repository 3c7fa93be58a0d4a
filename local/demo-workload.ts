// The local mode's demo workload: a pod every interval, drawn by weight from the configured shapes,
// scheduled through the extender's HTTP verbs (as kube-scheduler would), started by the node's
// kubelet, and deleted after its lifetime so the cluster settles into a steady state.
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../common/log.ts';
import { VGPU_CORE_RESOURCE, VGPU_MEMORY_RESOURCE } from '../contracts/resources.ts';
import { GPU_MODEL_ANNOTATION } from '../contracts/vgpu-pod.ts';
import type { PodShapeSpec } from './cluster-config.ts';

import { type SchedulingDecision, scheduleOne } from './scheduling-cycle.ts';

/** What kubelet did with a pod: the environment each vGPU container got, or why it could not start. */
export interface StartOutcome {
  containers: { container: string; env: Record<string, string> }[];
  error?: string;
}

/** What the status page shows of one decision: the extender's answers and what kubelet did. */
export interface DemoDecision extends SchedulingDecision {
  shape: string;
  /** The environment the device plugin gave each GPU container. */
  started?: StartOutcome;
}

export interface DemoWorkloadOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  extender: string;
  shapes: PodShapeSpec[];
  intervalMs: number;
  lifetimeMs: number;
  maxPods: number;
  nodeNames: () => string[];
  /** kubelet's part on the node the pod was bound to. */
  startPod: (node: string, pod: V1Pod, shape: PodShapeSpec) => Promise<StartOutcome>;
  /** The pod was deleted (after its lifetime, or because it could not start). */
  podGone: (node: string, pod: V1Pod, shape: PodShapeSpec) => void;
  logger: Logger;
  /** Kept decisions, newest first. */
  history?: number;
  random?: () => number;
}

export interface DemoCounts {
  submitted: number;
  bound: number;
  unschedulable: number;
  startFailed: number;
  running: number;
}

interface LivePod {
  node: string;
  pod: V1Pod;
  shape: PodShapeSpec;
  timer: NodeJS.Timeout;
}

export function podFor(shape: PodShapeSpec, name: string, namespace: string): V1Pod {
  const limits: Record<string, string> = {};
  if (shape.vgpuCore > 0) limits[VGPU_CORE_RESOURCE] = String(shape.vgpuCore);
  if (shape.vgpuMemory > 0) limits[VGPU_MEMORY_RESOURCE] = String(shape.vgpuMemory);
  const requests = { cpu: `${shape.cpuMilli}m`, memory: String(shape.memoryBytes), ...limits };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      labels: { app: shape.name, 'app.kubernetes.io/part-of': 'loadwise-demo' },
      ...(shape.gpuModel ? { annotations: { [GPU_MODEL_ANNOTATION]: shape.gpuModel } } : {}),
    },
    spec: {
      schedulerName: 'loadwise-scheduler',
      containers: [
        {
          name: 'main',
          image: 'registry.k8s.io/pause:3.10',
          resources: { requests, limits: Object.keys(limits).length > 0 ? limits : undefined },
        },
      ],
    },
  };
}

export class DemoWorkload {
  readonly counts: DemoCounts = { submitted: 0, bound: 0, unschedulable: 0, startFailed: 0, running: 0 };
  private readonly decisions: DemoDecision[] = [];
  private readonly live = new Map<string, LivePod>();
  private readonly core: CoreV1Api;
  private readonly totalWeight: number;
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private inFlight: Promise<void> = Promise.resolve();
  private stopping = false;

  constructor(private readonly opts: DemoWorkloadOptions) {
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.totalWeight = opts.shapes.reduce((s, p) => s + p.weight, 0);
  }

  /** Newest first. */
  recentDecisions(): readonly DemoDecision[] {
    return this.decisions;
  }

  /** Pods alive per node, by shape. */
  podsByNode(): Map<string, Record<string, number>> {
    const out = new Map<string, Record<string, number>>();
    for (const p of this.live.values()) {
      const counts = out.get(p.node) ?? {};
      counts[p.shape.name] = (counts[p.shape.name] ?? 0) + 1;
      out.set(p.node, counts);
    }
    return out;
  }

  start(): void {
    this.timer = setInterval(() => {
      // One pod at a time, like kube-scheduler's loop: a slow cycle delays the next, never overlaps it.
      this.inFlight = this.inFlight.then(() => this.submitOne());
    }, this.opts.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.inFlight;
    for (const p of this.live.values()) clearTimeout(p.timer);
    this.live.clear();
  }

  private pickShape(): PodShapeSpec {
    let r = (this.opts.random ?? Math.random)() * this.totalWeight;
    for (const s of this.opts.shapes) {
      r -= s.weight;
      if (r < 0) return s;
    }
    return this.opts.shapes[this.opts.shapes.length - 1]!;
  }

  private async submitOne(): Promise<void> {
    if (this.stopping || this.live.size >= this.opts.maxPods) return;
    const shape = this.pickShape();
    const name = `${shape.name}-${++this.seq}`;
    const { namespace, logger } = this.opts;
    let created: V1Pod;
    try {
      created = await this.core.createNamespacedPod({ namespace, body: podFor(shape, name, namespace) });
    } catch (err) {
      logger.warn({ err: (err as Error).message, pod: name }, 'demo: cannot create a pod');
      return;
    }
    this.counts.submitted++;
    const decision: DemoDecision = {
      ...(await scheduleOne(created, this.opts.nodeNames(), {
        extender: this.opts.extender,
        core: this.core,
      })),
      shape: shape.name,
    };
    this.remember(decision);
    if (!decision.node) {
      this.counts.unschedulable++;
      // kube-scheduler would retry it later; the demo drops it so pending pods do not pile up.
      await this.delete(name);
      return;
    }
    this.counts.bound++;
    const node = decision.node;
    decision.started = await this.opts.startPod(node, created, shape);
    if (decision.started.error) {
      this.counts.startFailed++;
      logger.warn({ pod: name, node, err: decision.started.error }, 'demo: pod could not start');
      this.opts.podGone(node, created, shape);
      await this.delete(name);
      return;
    }
    const timer = setTimeout(() => void this.expire(name), this.opts.lifetimeMs);
    timer.unref();
    this.live.set(name, { node, pod: created, shape, timer });
    this.counts.running = this.live.size;
  }

  private async expire(name: string): Promise<void> {
    const live = this.live.get(name);
    if (!live || this.stopping) return;
    this.live.delete(name);
    this.counts.running = this.live.size;
    await this.delete(name);
    this.opts.podGone(live.node, live.pod, live.shape);
  }

  private async delete(name: string): Promise<void> {
    try {
      await this.core.deleteNamespacedPod({ name, namespace: this.opts.namespace });
    } catch (err) {
      this.opts.logger.debug({ err: (err as Error).message, pod: name }, 'demo: delete failed');
    }
  }

  private remember(decision: DemoDecision): void {
    this.decisions.unshift(decision);
    if (this.decisions.length > (this.opts.history ?? 40)) this.decisions.pop();
  }
}

// The real-load simulation: tasks drawn from the PAI trace arrive as a Poisson stream, are placed by
// a policy, and make their node really busy. Between them runs the production path, on a simulated
// clock: the agent's windowed series per node (node-agent/), the controller's PATCH rule and hot
// value (controller/), the "synced up to" record, and the extender's filter, score and pending
// estimate (scheduler/core/load). Only the API server, kubelet and the network are left out.
import type { SchedulerPolicy } from '../../common/policy.ts';
import { hotValueHorizonMs } from '../../common/policy.ts';
import { BindingTracker } from '../../controller/hot-value.ts';
import { planNodePatch, planOptionsFor } from '../../controller/plan.ts';
import { readFigures } from '../../node-agent/statistics.ts';
import { WindowedSeries } from '../../node-agent/windowed-series.ts';
import { filterByLoad, type NodeLoad, scoreByLoad } from '../../scheduler/core/load/index.ts';
import { decodeNodeFigures, type NodeFigures } from '../../scheduler/core/load/node-figures.ts';
import { RecentBindings } from '../../scheduler/core/load/recent-bindings.ts';
import type { LoadRules } from '../../scheduler/core/load/rules.ts';
import { bindingHorizonMs, rulesFromPolicy } from '../../scheduler/policy-rules.ts';
import { Rng } from '../rng.ts';
import type { PaiTask } from './pai.ts';

export const REAL_LOAD_POLICIES = ['requests', 'crane', 'loadwise'] as const;
export type RealLoadPolicy = (typeof REAL_LOAD_POLICIES)[number];

export interface RealLoadSpec {
  policy: RealLoadPolicy;
  seed: number;
  nodes: number;
  nodeCpuCores: number;
  nodeMemoryBytes: number;
  /** Arrived requested CPU × duration over the cluster's CPU, e.g. 1.0 = 100 % offered load. */
  offeredLoad: number;
  /** Simulated time before measuring (the cluster fills), then measured time. */
  warmupMs: number;
  measureMs: number;
  /** The agent's sampling period and the controller's sync period. */
  sampleMs: number;
  syncMs: number;
  /** The controller's --min-change. */
  minChange: number;
  /** Relative sampling noise (standard deviation) on each agent sample. */
  noise: number;
  /** The policy file (filter thresholds, weights, validity, hot value, estimate). */
  policyFile: SchedulerPolicy;
}

export interface RealLoadResult {
  policy: RealLoadPolicy;
  seed: number;
  offeredLoadPct: number;
  nodes: number;
  /** Node-minutes (measured window) with real CPU above 80 % / 95 %. */
  hot80NodeMinutes: number;
  hot95NodeMinutes: number;
  nodeMinutes: number;
  meanNodeCpuPct: number;
  p99NodeCpuPct: number;
  /** Pods that arrived in the measured window. */
  arrived: number;
  placed: number;
  /** Pods not placed at their first attempt. */
  waited: number;
  /** Waits of the window's pods (a pod still waiting at the end counts with its wait so far). */
  waitP50S: number;
  waitP99S: number;
  /** Pods still waiting at the end of the run. */
  pendingAtEnd: number;
  /** Node PATCHes by the controller per node per hour (measured window). */
  patchesPerNodeHour: number;
  seconds: number;
}

/** kube-scheduler multiplies an extender's 0..10 score by 100/10 and by its weight (configs: 5). */
const EXTENDER_WEIGHT = 5;
/** A retry pass tries at most this many waiting pods (kube-scheduler's queue is FIFO with backoff). */
const MAX_RETRIES_PER_PASS = 2000;
/** Memory a node uses with no task (system daemons). */
const BASE_MEMORY_SHARE = 0.05;

interface Pod {
  id: number;
  task: PaiTask;
  arrivedMs: number;
  attempts: number;
}

interface Node {
  name: string;
  requestedCpu: number;
  requestedMemory: number;
  usedCpu: number;
  usedMemory: number;
  series: { cpu: WindowedSeries; mem: WindowedSeries; gpu: WindowedSeries };
  annotations: Record<string, string>;
  figures: NodeFigures;
}

/** A min-heap of running pods by end time. */
class Ends {
  private readonly items: { endMs: number; node: number; pod: Pod }[] = [];
  push(item: { endMs: number; node: number; pod: Pod }): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.endMs <= a[i]!.endMs) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  peek(): number {
    return this.items[0]?.endMs ?? Number.POSITIVE_INFINITY;
  }
  pop(): { endMs: number; node: number; pod: Pod } {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.endMs < a[m]!.endMs) m = l;
        if (r < a.length && a[r]!.endMs < a[m]!.endMs) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

function uniform(rng: Rng): number {
  return (rng.u32() + 0.5) / 4294967296;
}

function normal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(uniform(rng))) * Math.cos(2 * Math.PI * uniform(rng));
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** The crane-scheduler rule in loadwise's terms: annotated figures and hot value, no estimate. */
export function craneRules(rules: LoadRules): LoadRules {
  return { ...rules, estimate: { ...rules.estimate, cpuFactor: 0, memoryFactor: 0 }, hotValuePenalty: 1 };
}

const START_MS = Date.UTC(2026, 0, 1);

export function simulateRealLoad(
  tasks: readonly PaiTask[],
  spec: RealLoadSpec,
  now: () => number,
): RealLoadResult {
  const wallStart = now();
  // Arrivals come from their own stream, so every policy sees the same pods at the same times.
  const arrivalRng = new Rng(spec.seed);
  const noiseRng = new Rng(spec.seed ^ 0x5bd1e995);
  const tieRng = new Rng(spec.seed ^ 0x27d4eb2f);
  const baseRules = rulesFromPolicy(spec.policyFile);
  const rules = spec.policy === 'crane' ? craneRules(baseRules) : baseRules;
  const planOptions = planOptionsFor(spec.policyFile, spec.minChange, false);
  const tracker = new BindingTracker(hotValueHorizonMs(spec.policyFile));
  const recent = new RecentBindings(bindingHorizonMs(rules));
  const allocatable = { cpuCores: spec.nodeCpuCores, memoryBytes: spec.nodeMemoryBytes };
  const sampleS = spec.sampleMs / 1000;
  const nodes: Node[] = Array.from({ length: spec.nodes }, (_, i) => ({
    name: `node-${String(i).padStart(3, '0')}`,
    requestedCpu: 0,
    requestedMemory: 0,
    usedCpu: 0,
    usedMemory: 0,
    series: {
      cpu: new WindowedSeries(sampleS),
      mem: new WindowedSeries(sampleS),
      gpu: new WindowedSeries(sampleS),
    },
    annotations: {},
    figures: decodeNodeFigures(undefined, { craneKeys: false }),
  }));
  const meanWork = tasks.reduce((s, t) => s + t.requestCpu * t.durationS, 0) / tasks.length;
  const ratePerMs = (spec.offeredLoad * spec.nodes * spec.nodeCpuCores) / meanWork / 1000;
  const endMs = START_MS + spec.warmupMs + spec.measureMs;
  const measureFromMs = START_MS + spec.warmupMs;
  let nextArrivalMs = START_MS - Math.log(uniform(arrivalRng)) / ratePerMs;
  let podSeq = 0;
  let confirmedMs = Number.NaN;
  const ends = new Ends();
  const waiting: Pod[] = [];
  const waits: number[] = [];
  const measured = {
    arrived: 0,
    placed: 0,
    waited: 0,
    patches: 0,
    hot80: 0,
    hot95: 0,
    minutes: 0,
    cpuSum: 0,
  };
  const cpuHistogram = new Float64Array(1001);

  const inWindow = (ms: number) => ms >= measureFromMs && ms < endMs;

  /** Places `pod` at `nowMs` if a node takes it; kube-scheduler's filter and score with the extender's. */
  const tryPlace = (pod: Pod, nowMs: number): boolean => {
    const { task } = pod;
    const demand = { cpuCores: task.requestCpu, memoryBytes: task.requestMemory };
    let best = Number.NEGATIVE_INFINITY;
    let chosen = -1;
    let ties = 0;
    for (let n = 0; n < nodes.length; n++) {
      const node = nodes[n]!;
      const cpuLeft = spec.nodeCpuCores - node.requestedCpu - task.requestCpu;
      const memLeft = spec.nodeMemoryBytes - node.requestedMemory - task.requestMemory;
      // NodeResourcesFit: requests must fit, whatever the policy.
      if (cpuLeft < 0 || memLeft < 0) continue;
      // LeastAllocated: the mean free share of CPU and memory after the pod, 0..100.
      let score = 50 * (cpuLeft / spec.nodeCpuCores + memLeft / spec.nodeMemoryBytes);
      if (spec.policy !== 'requests') {
        const load: NodeLoad = {
          figures: node.figures,
          allocatable,
          bindings: spec.policy === 'loadwise' ? recent.forNode(node.name, nowMs) : [],
          confirmedMs: spec.policy === 'loadwise' ? confirmedMs : undefined,
        };
        if (!filterByLoad(load, rules, nowMs).ok) continue;
        score += EXTENDER_WEIGHT * 10 * scoreByLoad(load, demand, rules, nowMs).score;
      }
      if (score > best) {
        best = score;
        chosen = n;
        ties = 1;
      } else if (score === best && arrivalTie(++ties)) chosen = n;
    }
    pod.attempts++;
    if (chosen < 0) return false;
    const node = nodes[chosen]!;
    node.requestedCpu += task.requestCpu;
    node.requestedMemory += task.requestMemory;
    node.usedCpu += task.useCpu;
    node.usedMemory += task.useMemory;
    ends.push({ endMs: nowMs + task.durationS * 1000, node: chosen, pod });
    const key = `default/p${pod.id}`;
    if (spec.policy === 'loadwise') recent.record(node.name, { pod: key, boundAtMs: nowMs, demand });
    if (spec.policy !== 'requests') tracker.record(node.name, key, nowMs, nowMs);
    if (inWindow(pod.arrivedMs)) {
      measured.placed++;
      waits.push((nowMs - pod.arrivedMs) / 1000);
    }
    return true;
  };
  // kube-scheduler picks uniformly among the best-scored nodes (reservoir sampling).
  function arrivalTie(seen: number): boolean {
    return tieRng.int(seen) === 0;
  }

  const finishUntil = (ms: number) => {
    while (ends.peek() <= ms) {
      const { node: n, pod } = ends.pop();
      const node = nodes[n]!;
      node.requestedCpu -= pod.task.requestCpu;
      node.requestedMemory -= pod.task.requestMemory;
      node.usedCpu -= pod.task.useCpu;
      node.usedMemory -= pod.task.useMemory;
      if (spec.policy === 'loadwise') recent.departed(node.name, `default/p${pod.id}`);
    }
  };

  const sample = (ms: number) => {
    for (const node of nodes) {
      const cpu = Math.min(1, node.usedCpu / spec.nodeCpuCores);
      const noisy = Math.min(1, Math.max(0, cpu * (1 + spec.noise * normal(noiseRng))));
      node.series.cpu.add(ms, noisy, sampleS);
      node.series.mem.add(
        ms,
        Math.min(1, BASE_MEMORY_SHARE + node.usedMemory / spec.nodeMemoryBytes),
        sampleS,
      );
    }
  };

  const sync = (ms: number) => {
    for (const node of nodes) {
      const reading = readFigures(node.series, ms);
      const plan = planNodePatch(
        {
          annotations: node.annotations,
          stats: { figures: reading.values, measuredAtMs: ms },
          hotValue: tracker.hotValue(node.name, spec.policyFile.hotValue, ms),
          nowMs: ms,
        },
        planOptions,
      );
      if (!plan) continue;
      Object.assign(node.annotations, plan.annotations);
      node.figures = decodeNodeFigures(node.annotations, { craneKeys: false });
      if (inWindow(ms)) measured.patches++;
    }
    tracker.prune(ms);
    // Every agent answered and every PATCH went through: the whole cluster is confirmed.
    confirmedMs = Math.floor(ms / 1000) * 1000;
  };

  const minute = (ms: number) => {
    if (!inWindow(ms)) return;
    for (const node of nodes) {
      const cpu = Math.min(1, node.usedCpu / spec.nodeCpuCores);
      measured.minutes++;
      measured.cpuSum += cpu;
      if (cpu > 0.8) measured.hot80++;
      if (cpu > 0.95) measured.hot95++;
      cpuHistogram[Math.round(cpu * 1000)]!++;
    }
  };

  for (let t = START_MS + spec.sampleMs; t <= endMs; t += spec.sampleMs) {
    // Arrivals and departures in time order within the step; each arrival is tried at once.
    while (nextArrivalMs <= t) {
      finishUntil(nextArrivalMs);
      const pod: Pod = {
        id: podSeq++,
        task: tasks[arrivalRng.int(tasks.length)]!,
        arrivedMs: nextArrivalMs,
        attempts: 0,
      };
      if (inWindow(pod.arrivedMs)) measured.arrived++;
      if (!tryPlace(pod, nextArrivalMs)) {
        waiting.push(pod);
        if (inWindow(pod.arrivedMs)) measured.waited++;
      }
      nextArrivalMs -= Math.log(uniform(arrivalRng)) / ratePerMs;
    }
    finishUntil(t);
    sample(t);
    // requests-only needs no controller: kube-scheduler alone never reads the figures.
    if (spec.policy !== 'requests' && (t - START_MS) % spec.syncMs === 0) sync(t);
    if ((t - START_MS) % 60_000 === 0) minute(t);
    // Waiting pods are retried every step (kube-scheduler's backoff tops out at 10 s), oldest first.
    let tried = 0;
    for (let i = 0; i < waiting.length && tried < MAX_RETRIES_PER_PASS; i++, tried++) {
      if (tryPlace(waiting[i]!, t)) waiting.splice(i--, 1);
    }
  }
  for (const pod of waiting) if (inWindow(pod.arrivedMs)) waits.push((endMs - pod.arrivedMs) / 1000);
  waits.sort((a, b) => a - b);
  let p99Cpu = 0;
  for (let i = 0, seen = 0; i < cpuHistogram.length; i++) {
    seen += cpuHistogram[i]!;
    if (seen >= 0.99 * measured.minutes) {
      p99Cpu = i / 10;
      break;
    }
  }
  return {
    policy: spec.policy,
    seed: spec.seed,
    offeredLoadPct: Math.round(spec.offeredLoad * 100),
    nodes: spec.nodes,
    hot80NodeMinutes: measured.hot80,
    hot95NodeMinutes: measured.hot95,
    nodeMinutes: measured.minutes,
    meanNodeCpuPct: measured.minutes > 0 ? (100 * measured.cpuSum) / measured.minutes : 0,
    p99NodeCpuPct: p99Cpu,
    arrived: measured.arrived,
    placed: measured.placed,
    waited: measured.waited,
    waitP50S: quantile(waits, 0.5),
    waitP99S: quantile(waits, 0.99),
    pendingAtEnd: waiting.length,
    patchesPerNodeHour:
      spec.policy === 'requests' ? 0 : measured.patches / spec.nodes / (spec.measureMs / 3_600_000),
    seconds: (now() - wallStart) / 1000,
  };
}

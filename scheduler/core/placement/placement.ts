// loadwise's GPU placement. The FGD rule (Weng et al., ATC '23) picks the node and GPUs whose
// placement raises fragmentation against the target workload the least; its measure asks, for
// one task of each shape at a time, whether the node could still host it. It does not see that
// CPU given away now (above all to CPU-only tasks) leaves GPUs that later GPU tasks cannot be
// fed: on the openb clusters, CPU runs out before GPUs do. loadwise adds that cost: a node's
// stranded GPU is its free GPU beyond what its free CPU can feed at the workload's CPU-per-GPU
// ratio, and a placement is charged fragmentation increase + stranded-GPU increase.
// With model-constrained tasks in the mix, a task that could run anywhere also pays for taking
// GPUs of a model, in proportion to how much of that model the constrained tasks claim.
// FGD also judges a share's leftover on a GPU only by which shapes fit it right now, so it rates
// a 210m leftover (nothing common fits, wasted for good) better than a 360m one (the next 320m
// share closes it to 40m), and pairs 470m with 320m shares. When the cluster fills, what is left
// is exactly such leftovers, so a share also pays the change in its GPU's expected final waste
// (holeWaste): a hole is filled with a probability that grows with how much of the workload fits
// it, and what the filling leaves is valued the same way. With it the default openb trace ends
// with fewer 470+320 and more 650+320 GPUs.
// Costs in the same bucket go to the node that comes first in a fixed order, so successive tasks fill
// the same nodes and keep others whole. The extender and the simulator call these functions.
import { Misfit, type PreparedTask, misfit, prepareTask } from './filter.ts';
import { type GpuFleet } from './fleet.ts';
import { FragIndex } from './fragmentation.ts';
import { type TaskRequest, TaskKind, taskKind } from './task.ts';
import { GPU_MILLI } from './units.ts';
import { type TargetShape, targetWorkload } from './workload.ts';
import { acceptsGpuModel } from '../../../contracts/vgpu-pod.ts';

export interface PlacementOptions {
  /** Share of the seen tasks whose shapes make the target workload. */
  readonly coverage: number;
  /** Weight of the stranded-GPU increase against the fragmentation increase. */
  readonly strandedWeight: number;
  /** Costs are compared in buckets of this many GPU milli; equal buckets go to the earlier node. */
  readonly tolerance: number;
  /** Weight of the model pressure an unconstrained task adds by taking GPUs of a model in demand. */
  readonly modelPressureWeight: number;
  /** Weight of the change in a share's GPU hole's expected final waste (see holeWaste); 0 turns it off. */
  readonly holeWeight?: number;
  /** How many arrivals' worth of chances a hole gets to be filled before the cluster is full (see holeWaste). */
  readonly holeHorizon?: number;
}

/** GPU milli a task of the shape needs on one GPU; Infinity when it never fills part of a GPU. */
function holeNeed(s: TargetShape): number {
  if (s.gpuCount === 0 || s.gpuMilli === 0 || s.gpuCount > 1) return Infinity;
  return s.gpuMilli;
}

/**
 * Expected GPU milli a hole of l free milli on one GPU still wastes when the cluster is full, for
 * l = 0..1000. A hole gets about `horizon` arrivals' worth of chances: it is filled with
 * probability φ = 1 − exp(−horizon × P(a target task fits l)), by a task drawn from those that fit,
 * leaving a smaller hole that goes on the same way; otherwise all of it is wasted.
 */
export function holeWaste(shapes: readonly TargetShape[], horizon: number): Float64Array {
  const e = new Float64Array(GPU_MILLI + 1);
  for (let l = 1; l <= GPU_MILLI; l++) {
    let fit = 0;
    let next = 0;
    for (const s of shapes) {
      const need = holeNeed(s);
      if (need > l) continue;
      fit += s.popularity;
      next += s.popularity * e[l - need]!;
    }
    const phi = 1 - Math.exp(-horizon * fit);
    e[l] = fit > 0 ? (1 - phi) * l + (phi * next) / fit : l;
  }
  return e;
}

const DEFAULT_HOLE_WEIGHT = 4;
const DEFAULT_HOLE_HORIZON = 100;

export const DEFAULT_PLACEMENT_OPTIONS: PlacementOptions = {
  coverage: 0.95,
  strandedWeight: 1.5,
  tolerance: 20,
  modelPressureWeight: 2,
  holeWeight: DEFAULT_HOLE_WEIGHT,
  holeHorizon: DEFAULT_HOLE_HORIZON,
};

export interface NodeEvaluation {
  /**
   * Cost of the placement in GPU milli: fragmentation increase + weighted stranded increase
   * (+ model pressure; for a share, + weighted change of its GPU's expected final waste).
   */
  cost: number;
  /** For a share: the GPU inside the node it goes to; -1 otherwise. */
  gpu: number;
}

export interface GpuPlacement {
  readonly node: number;
  readonly gpus: readonly number[];
  readonly cost: number;
}

/**
 * Per model id of the fleet: the share of the target workload's GPU demand that can only run on
 * a set of models including this one (split evenly over that set), over the model's share of the
 * fleet's GPUs. 0 when no shape insists on a model; above 1, constrained demand alone would take
 * more than the model's fair part. FGD's per-node measure does not see this scarcity.
 */
export function modelPressure(fleet: GpuFleet, shapes: readonly TargetShape[]): Float64Array {
  const k = fleet.models.length;
  const gpus = new Float64Array(k);
  let total = 0;
  for (let n = 0; n < fleet.size; n++) {
    const id = fleet.modelId[n]!;
    if (id < 0) continue;
    gpus[id] = gpus[id]! + fleet.gpuCount[n]!;
    total += fleet.gpuCount[n]!;
  }
  const claim = new Float64Array(k);
  let demand = 0;
  for (const s of shapes) {
    const g = s.gpuCount * s.gpuMilli;
    demand += s.popularity * g;
    if (s.gpuModels.length === 0 || g === 0) continue;
    const accepted: number[] = [];
    fleet.models.forEach((m, i) => {
      if (acceptsGpuModel(s.gpuModels, m)) accepted.push(i);
    });
    for (const i of accepted) claim[i] = claim[i]! + (s.popularity * g) / accepted.length;
  }
  const out = new Float64Array(k);
  if (demand === 0 || total === 0) return out;
  for (let i = 0; i < k; i++) if (gpus[i]! > 0) out[i] = claim[i]! / demand / (gpus[i]! / total);
  return out;
}

/** CPU milli the seen GPU tasks ask per GPU milli (0 without GPU tasks). */
export function cpuPerGpuMilli(seen: readonly TaskRequest[]): number {
  let cpu = 0;
  let gpu = 0;
  for (const t of seen) {
    if (taskKind(t) === TaskKind.Cpu) continue;
    cpu += t.cpuMilli;
    gpu += t.gpuCount * t.gpuMilli;
  }
  return gpu > 0 ? cpu / gpu : 0;
}

/**
 * What a placer derives from the requests seen, whatever the fleet: the target workload, the CPU
 * asked per GPU, and the hole-waste table. The extender builds it once per change of its mix and
 * hands it to each call's placer instead of the requests.
 */
export interface WorkloadModel {
  readonly shapes: readonly TargetShape[];
  readonly cpuRatio: number;
  readonly hole: Float64Array;
}

export function workloadModel(
  seen: readonly TaskRequest[],
  options: PlacementOptions = DEFAULT_PLACEMENT_OPTIONS,
  /** shapeKey of each of `seen`, where the caller keeps them (see targetWorkload). */
  keys?: readonly string[],
): WorkloadModel {
  const shapes = targetWorkload(seen, options.coverage, 0, keys);
  return {
    shapes,
    cpuRatio: cpuPerGpuMilli(seen),
    hole: holeWaste(shapes, options.holeHorizon ?? DEFAULT_HOLE_HORIZON),
  };
}

/** Placement over a fleet, measuring against the mix of requests seen. */
export class GpuPlacer {
  readonly frag: FragIndex;
  readonly options: PlacementOptions;
  private readonly cpuRatio: number;
  /** Per model id, see modelPressure. */
  private readonly pressure: Float64Array;
  private readonly rank: Int32Array;
  /** Per free milli of a GPU, see holeWaste. */
  private readonly hole: Float64Array;
  private readonly holeWeight: number;
  private readonly cur: NodeEvaluation = { cost: 0, gpu: -1 };
  private readonly best: NodeEvaluation = { cost: 0, gpu: -1 };

  /** `order`: the fixed node order that near-equal costs follow (default: fleet order). */
  constructor(
    fleet: GpuFleet,
    seen: readonly TaskRequest[] | WorkloadModel,
    options: PlacementOptions = DEFAULT_PLACEMENT_OPTIONS,
    order?: readonly number[],
  ) {
    this.options = options;
    // A model must have been built with the same options; the requests are modelled here.
    const model = 'shapes' in seen ? seen : workloadModel(seen, options);
    this.frag = new FragIndex(fleet, model.shapes);
    this.cpuRatio = model.cpuRatio;
    this.pressure = modelPressure(fleet, this.frag.shapes);
    this.rank = new Int32Array(fleet.size);
    this.holeWeight = options.holeWeight ?? DEFAULT_HOLE_WEIGHT;
    this.hole = model.hole;
    const seq = order ?? Array.from({ length: fleet.size }, (_, i) => i);
    if (seq.length !== fleet.size) throw new Error('node order must list every node once');
    this.rank.fill(-1);
    seq.forEach((n, r) => {
      if (this.rank[n] !== -1) throw new Error('node order must list every node once');
      this.rank[n] = r;
    });
  }

  prepare(task: TaskRequest): PreparedTask {
    return prepareTask(this.frag.fleet, task);
  }

  /** GPU milli on node n that its free CPU cannot feed, if `cpu` more CPU and `gpu` more GPU milli were taken. */
  stranded(n: number, cpu: number, gpu: number): number {
    if (this.cpuRatio <= 0) return 0;
    const free = this.frag.freeMilli(n) - gpu;
    const fed = (this.frag.fleet.cpuLeft[n]! - cpu) / this.cpuRatio;
    return free > fed ? free - fed : 0;
  }

  /** Fills `out` for a node that can host the task; false when it cannot. */
  evaluate(n: number, task: PreparedTask, out: NodeEvaluation): boolean {
    const frag = this.frag;
    const fleet = frag.fleet;
    if (misfit(fleet, n, task) !== Misfit.None) return false;
    const t = task.task;
    const w = this.options.strandedWeight;
    // A task that could run anywhere pays for GPUs that model-constrained tasks will need.
    const mp =
      t.gpuModels.length === 0 && task.kind !== TaskKind.Cpu
        ? this.options.modelPressureWeight * this.pressure[fleet.modelId[n]!]!
        : 0;
    const before = frag.nodeFrag(n) + w * this.stranded(n, 0, 0);
    out.gpu = -1;
    if (task.kind === TaskKind.Cpu) {
      out.cost = frag.after(n, t.cpuMilli, -1, -1, 0) + w * this.stranded(n, t.cpuMilli, 0) - before;
      return true;
    }
    if (task.kind === TaskKind.Whole) {
      const g = t.gpuCount * GPU_MILLI;
      out.cost =
        frag.after(n, t.cpuMilli, -1, -1, t.gpuCount) + w * this.stranded(n, t.cpuMilli, g) - before + mp * g;
      return true;
    }
    const strandedAfter = w * this.stranded(n, t.cpuMilli, t.gpuMilli) + mp * t.gpuMilli;
    const o = fleet.gpuOffset[n]!;
    let best = Infinity;
    let bestLeft = Infinity;
    for (let g = 0; g < fleet.gpuCount[n]!; g++) {
      const l = fleet.gpuLeft[o + g]!;
      if (l === bestLeft || !fleet.takes(n, g, t)) continue;
      const cost =
        frag.after(n, t.cpuMilli, l, l - t.gpuMilli, 0) +
        strandedAfter -
        before +
        this.holeWeight * (this.hole[l - t.gpuMilli]! - this.hole[l]!);
      // Equal costs: the tighter GPU.
      if (cost < best - 1e-9 || (cost < best + 1e-9 && l < bestLeft)) {
        best = cost;
        bestLeft = l;
        out.gpu = g;
      }
    }
    out.cost = best;
    return true;
  }

  /** The best node and GPUs for the task, or null when no node can host it. */
  choose(task: PreparedTask): GpuPlacement | null {
    const tol = this.options.tolerance;
    const cur = this.cur;
    const best = this.best;
    let node = -1;
    let bestKey = Infinity;
    for (let n = 0; n < this.frag.fleet.size; n++) {
      if (!this.evaluate(n, task, cur)) continue;
      const key = tol > 0 ? Math.round(cur.cost / tol) : cur.cost;
      if (node < 0 || key < bestKey || (key === bestKey && this.rank[n]! < this.rank[node]!)) {
        node = n;
        bestKey = key;
        best.cost = cur.cost;
        best.gpu = cur.gpu;
      }
    }
    if (node < 0) return null;
    return { node, gpus: this.gpusOn(node, task, best.gpu), cost: best.cost };
  }

  /** The fleet changed on node n (a placement was applied or released). */
  committed(n: number): void {
    this.frag.refresh(n);
  }

  /** GPU indexes inside node n: the evaluated GPU for a share, the first that can take it for whole GPUs. */
  gpusOn(n: number, task: PreparedTask, shareGpu: number): number[] {
    if (task.kind === TaskKind.Cpu) return [];
    if (task.kind === TaskKind.Share) return [shareGpu];
    const fleet = this.frag.fleet;
    const out: number[] = [];
    for (let g = 0; g < fleet.gpuCount[n]! && out.length < task.task.gpuCount; g++) {
      if (fleet.takes(n, g, task.task)) out.push(g);
    }
    return out;
  }
}

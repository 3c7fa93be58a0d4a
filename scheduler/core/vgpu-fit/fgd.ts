// Fragmentation-aware vGPU placement (`--gpu-policy fgd`): the placement core's rule
// (../gpu: GpuFleet + GpuPlacer, FGD of Weng et al., ATC '23, plus loadwise's additions) applied to
// the candidate nodes of one extender call. This module only translates — the nodes' free GPUs
// into a scratch GpuFleet, a pod's containers into core tasks, the core's choice back into GPU
// shares — and checks what the core does not model (GPU memory, per-GPU model). The rule itself
// lives in ../gpu, where the trace simulator measures it.
//
// What the scratch fleet holds:
// - per node, its healthy non-MIG GPUs (what fitPod may use), each with its free compute:
//   inventory − what the ledger says is assigned (vgpu-core × 10 = milli);
// - the node's GPU model: the first of its GPUs the pod accepts (the core gives a node one model;
//   a node with mixed models is rare, and GPUs of a model the pod refuses are never chosen);
// - CPU and memory: unbounded, and every task asks 0. The extender does not track what the
//   node's pods requested (kube-scheduler's own NodeResourcesFit filters on that) and real load
//   is the load score's part, so fragmentation is measured on the GPU dimension alone and the
//   core's stranded-GPU term is 0.
import type { GpuDevice, GpuShare } from '../../../contracts/index.ts';
import {
  GPU_MILLI,
  GpuFleet,
  GpuPlacer,
  milliFromVgpuCore,
  type NodeEvaluation,
  type NodeSpec,
  type PreparedTask,
  TaskKind,
  type TaskRequest,
  type WorkloadModel,
} from '../placement/index.ts';
import { gpuMemoryTaken, gpuTakes } from '../placement/gpu-fit.ts';
import { bestLinked, type GpuUse } from './fit.ts';
import type { ContainerGpuRequest, PodGpuRequest } from './request.ts';
import { acceptsGpuModel } from '../../../contracts/vgpu-pod.ts';

/** The core's task for one container: GPU count × per-GPU milli and the model constraint (no CPU, see above). */
export function containerTask(c: ContainerGpuRequest, models: readonly string[]): TaskRequest {
  return {
    cpuMilli: 0,
    memoryMib: 0,
    gpuCount: c.gpus,
    gpuMilli: milliFromVgpuCore(c.core),
    gpuMemoryMib: c.memoryMiB,
    gpuModels: models,
  };
}

export type FgdPlacement =
  | {
      ok: true;
      /** The core's cost in GPU milli (fragmentation increase); lower is better, may be negative. */
      cost: number;
      containers: Record<string, GpuShare[]>;
    }
  | { ok: false };

/** A candidate node: its GPU inventory and what is assigned on its GPUs (the ledger's usage). */
export interface FgdNode {
  readonly gpus: readonly GpuDevice[];
  /** By GPU index: compute (hundredths) and memory (MiB) assigned; an absent index has nothing. */
  readonly used?: ReadonlyMap<number, Readonly<GpuUse>>;
}

const UNBOUNDED = Number.MAX_SAFE_INTEGER;

const accepts = acceptsGpuModel;

/**
 * The candidates' usable GPUs (healthy, not MIG: what fitPod may use), node after node: device,
 * free compute (hundredths) and free memory (MiB); node n's are at offset[n]..offset[n+1].
 * Prioritize runs this over ~500 nodes × 8 GPUs per call, so nothing is allocated per GPU.
 */
interface Flat {
  devices: GpuDevice[];
  core: Int32Array;
  memory: Float64Array;
  offset: Int32Array;
}

function flatten(nodes: readonly FgdNode[]): Flat {
  let max = 0;
  for (let n = 0; n < nodes.length; n++) max += nodes[n]!.gpus.length;
  const offset = new Int32Array(nodes.length + 1);
  const devices = new Array<GpuDevice>(max);
  const core = new Int32Array(max).fill(100);
  const memory = new Float64Array(max);
  let i = 0;
  for (let n = 0; n < nodes.length; n++) {
    const { gpus, used } = nodes[n]!;
    const start = i;
    for (let k = 0; k < gpus.length; k++) {
      const d = gpus[k]!;
      if (!d.healthy || d.mig) continue;
      devices[i] = d;
      memory[i] = d.memoryMiB;
      i++;
    }
    offset[n + 1] = i;
    // What is assigned, by GPU index: inventories list GPUs by index, so with every GPU usable
    // the position is almost always the index.
    const all = i - start === gpus.length;
    used?.forEach((u, index) => {
      let pos = all && gpus[index]?.index === index ? start + index : -1;
      if (pos < 0) {
        for (let k = start; k < i; k++) if (devices[k]!.index === index) pos = k;
        if (pos < 0) return;
      }
      core[pos] = core[pos]! - u.core;
      memory[pos] = memory[pos]! - u.memoryMiB;
    });
  }
  devices.length = i;
  return { devices, core, memory, offset };
}

function sameState(flat: Flat, a: number, b: number): boolean {
  const { devices, core, memory, offset } = flat;
  const len = offset[a + 1]! - offset[a]!;
  if (offset[b + 1]! - offset[b]! !== len) return false;
  for (let k = 0; k < len; k++) {
    const i = offset[a]! + k;
    const j = offset[b]! + k;
    if (core[i] !== core[j] || memory[i] !== memory[j] || devices[i]!.memoryMiB !== devices[j]!.memoryMiB)
      return false;
  }
  return true;
}

/**
 * Candidates in the same state (the same GPUs, in order, with the same free compute and memory)
 * cost the same, so the core evaluates one of each: `of[n]` is the representative of node n in
 * `reps`. Only when every GPU is of one model: with several, the core's model pressure depends on
 * how many GPUs of each the fleet holds, so every node is kept.
 */
function distinct(flat: Flat): { reps: number[]; of: Int32Array } {
  const { devices, core, memory, offset } = flat;
  const nodes = offset.length - 1;
  const of = new Int32Array(nodes);
  const reps: number[] = [];
  const model = devices[0]?.model;
  let oneModel = true;
  for (let i = 1; i < devices.length && oneModel; i++) oneModel = devices[i]!.model === model;
  if (!oneModel) {
    for (let n = 0; n < nodes; n++) {
      of[n] = n;
      reps.push(n);
    }
    return { reps, of };
  }
  const byHash = new Map<number, number[]>();
  for (let n = 0; n < nodes; n++) {
    let h = offset[n + 1]! - offset[n]!;
    for (let i = offset[n]!; i < offset[n + 1]!; i++) {
      h = Math.imul(h ^ core[i]!, 0x9e3779b1);
      h = Math.imul(h ^ memory[i]!, 0x85ebca6b);
    }
    const bucket = byHash.get(h);
    let rep = -1;
    if (bucket) {
      for (const r of bucket) {
        if (sameState(flat, reps[r]!, n)) {
          rep = r;
          break;
        }
      }
    }
    if (rep >= 0) {
      of[n] = rep;
      continue;
    }
    of[n] = reps.length;
    if (bucket) bucket.push(reps.length);
    else byHash.set(h, [reps.length]);
    reps.push(n);
  }
  return { reps, of };
}

/**
 * The scratch fleet over some of the flattened candidates (`pick`, in fleet order), the core's
 * placer on it against the mix, and the pod's containers as core tasks.
 */
class Scratch {
  readonly devices: GpuDevice[];
  /** Free compute (hundredths) and memory (MiB) per GPU, in the fleet's gpuLeft positions. */
  readonly core: Int32Array;
  readonly memory: Float64Array;
  readonly fleet: GpuFleet;
  readonly placer: GpuPlacer;
  readonly tasks: readonly PreparedTask[];
  readonly out: NodeEvaluation = { cost: 0, gpu: -1 };
  /** gpuLeft of GPUs hidden from the core while one container is evaluated. */
  private readonly saved: number[] = [];

  constructor(
    flat: Flat,
    pick: readonly number[],
    readonly request: PodGpuRequest,
    mix: readonly TaskRequest[] | WorkloadModel,
  ) {
    const models = request.models;
    let total = 0;
    const specs: NodeSpec[] = pick.map((n) => {
      const start = flat.offset[n]!;
      const end = flat.offset[n + 1]!;
      let model = '';
      for (let i = start; i < end; i++) {
        const m = flat.devices[i]!.model;
        // The node's model for the core: the first GPU the pod accepts, else the first.
        if (model === '' || (!accepts(models, model) && accepts(models, m))) model = m;
      }
      total += end - start;
      return { name: '', cpuMilli: UNBOUNDED, memoryMib: UNBOUNDED, gpuCount: end - start, gpuModel: model };
    });
    this.fleet = new GpuFleet(specs);
    this.devices = new Array<GpuDevice>(total);
    this.core = new Int32Array(total);
    this.memory = new Float64Array(total);
    const left = this.fleet.gpuLeft;
    let k = 0;
    for (const n of pick) {
      for (let i = flat.offset[n]!; i < flat.offset[n + 1]!; i++, k++) {
        this.devices[k] = flat.devices[i]!;
        this.core[k] = flat.core[i]!;
        this.memory[k] = flat.memory[i]!;
        left[k] = Math.min(GPU_MILLI, Math.max(0, milliFromVgpuCore(flat.core[i]!)));
      }
    }
    // The fragmentation index is built from the fleet as it is now, so the GPUs are set first.
    this.placer = new GpuPlacer(this.fleet, mix);
    this.tasks = request.containers.map((c) => this.placer.prepare(containerTask(c, models)));
  }

  /** Can the GPU at flat position i take container c: its model, then the shared rule (../gpu/gpu-fit.ts). */
  private fits(i: number, c: ContainerGpuRequest): boolean {
    const d = this.devices[i]!;
    if (!accepts(this.request.models, d.model)) return false;
    return gpuTakes(
      milliFromVgpuCore(this.core[i]!),
      this.memory[i]!,
      d.memoryMiB,
      milliFromVgpuCore(c.core),
      c.memoryMiB,
    );
  }

  /**
   * The core's evaluation of container c on node n (into `out`), among the GPUs that fit what the
   * core does not model (memory, per-GPU model, memory of a "whole" GPU): the others are hidden
   * from it for the call — their gpuLeft set to 0, which the core's per-GPU loop and fit check
   * skip, while its per-node figures (FragIndex, kept apart) still count them as they are.
   */
  private evaluate(n: number, c: ContainerGpuRequest, task: PreparedTask): boolean {
    const { fleet, placer, saved } = this;
    const o = fleet.gpuOffset[n]!;
    const count = fleet.gpuCount[n]!;
    let hidden = false;
    for (let g = 0; g < count; g++) {
      if (this.fits(o + g, c)) continue;
      if (!hidden) {
        hidden = true;
        saved.length = 0;
        for (let k = 0; k < count; k++) saved.push(fleet.gpuLeft[o + k]!);
      }
      fleet.gpuLeft[o + g] = 0;
    }
    const ok = placer.evaluate(n, task, this.out);
    if (hidden) for (let k = 0; k < count; k++) fleet.gpuLeft[o + k] = saved[k]!;
    return ok;
  }

  /**
   * The pod on node n, container by container: each is evaluated on the node as the previous
   * containers left it (applied to the scratch state, then undone), and the costs add up.
   * NaN when it does not fit. With `shares`, the GPUs chosen go there, by container.
   */
  place(n: number, shares?: Record<string, GpuShare[]>): number {
    const { fleet, placer, out, request } = this;
    const o = fleet.gpuOffset[n]!;
    const last = request.containers.length - 1;
    /** Undo log of a multi-container pod: task, GPUs inside the node, compute and memory taken per GPU. */
    const applied: [TaskRequest, number[], number, number[]][] = [];
    let cost = 0;
    for (let i = 0; i <= last; i++) {
      const c = request.containers[i]!;
      const task = this.tasks[i]!;
      if (!this.evaluate(n, c, task)) {
        cost = Number.NaN;
        break;
      }
      cost += out.cost;
      if (!shares && i === last) break;
      let chosen: number[];
      let memory: number[];
      if (task.kind === TaskKind.Share) {
        const g = out.gpu;
        const d = this.devices[o + g]!;
        chosen = [g];
        memory = [
          Math.min(gpuMemoryTaken(task.task.gpuMilli, c.memoryMiB, d.memoryMiB), this.memory[o + g]!),
        ];
      } else {
        // Whole GPUs: the core's cost does not depend on which free GPUs are taken, so the
        // best-linked set of the wholly free ones the pod accepts.
        const free: { device: GpuDevice; pos: number }[] = [];
        for (let g = 0; g < fleet.gpuCount[n]!; g++) {
          if (this.fits(o + g, c)) free.push({ device: this.devices[o + g]!, pos: g });
        }
        const set = bestLinked(free, c.gpus);
        chosen = set.map((s) => s.pos);
        memory = set.map((s) => s.device.memoryMiB);
      }
      if (shares) {
        shares[c.container] = chosen.map((g, k) => ({
          index: this.devices[o + g]!.index,
          core: c.core,
          memoryMiB: memory[k]!,
        }));
      }
      if (i < last) {
        fleet.allocate(n, task.task, chosen);
        this.take(o, chosen, c.core, memory, -1);
        placer.committed(n);
        applied.push([task.task, chosen, c.core, memory]);
      }
    }
    if (applied.length > 0) {
      for (const [t, chosen, core, memory] of applied) {
        fleet.release(n, t, chosen);
        this.take(o, chosen, core, memory, 1);
      }
      placer.committed(n);
    }
    return cost;
  }

  private take(
    o: number,
    gpus: readonly number[],
    core: number,
    memory: readonly number[],
    sign: 1 | -1,
  ): void {
    gpus.forEach((g, k) => {
      this.core[o + g] = this.core[o + g]! + sign * core;
      this.memory[o + g] = this.memory[o + g]! + sign * memory[k]!;
    });
  }
}

/**
 * The cost of placing the pod on each candidate node by the fragmentation rule against `mix`, the
 * requests seen lately; NaN where the pod does not fit. Nothing passed in is changed.
 */
export function fgdCosts(
  nodes: readonly FgdNode[],
  request: PodGpuRequest,
  mix: readonly TaskRequest[] | WorkloadModel,
): Float64Array {
  const flat = flatten(nodes);
  const { reps, of } = distinct(flat);
  const scratch = new Scratch(flat, reps, request, mix);
  const each = new Float64Array(reps.length);
  for (let r = 0; r < reps.length; r++) each[r] = scratch.place(r);
  return Float64Array.from(of, (r) => each[r]!);
}

/** As fgdCosts, with the GPUs chosen on each node. */
export function fgdPlace(
  nodes: readonly FgdNode[],
  request: PodGpuRequest,
  mix: readonly TaskRequest[] | WorkloadModel,
): FgdPlacement[] {
  const scratch = new Scratch(
    flatten(nodes),
    nodes.map((_, n) => n),
    request,
    mix,
  );
  return nodes.map((_, n) => {
    const containers: Record<string, GpuShare[]> = {};
    const cost = scratch.place(n, containers);
    return Number.isNaN(cost) ? { ok: false } : { ok: true, cost, containers };
  });
}

/** Cost differences below this (a tenth of a GPU) do not get the whole 0..10 range. */
export const FGD_SCORE_SPREAD_FLOOR = GPU_MILLI / 10;

/**
 * 0..10 per candidate cost (0 where NaN: the pod does not fit): the cheapest gets 10, the others
 * lose points in proportion to how much more they cost, the costliest 0 — unless the costs spread
 * less than FGD_SCORE_SPREAD_FLOOR, which then counts as the full range.
 */
export function fgdScores(costs: ArrayLike<number>): number[] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < costs.length; i++) {
    const c = costs[i]!;
    if (Number.isNaN(c)) continue;
    if (c < min) min = c;
    if (c > max) max = c;
  }
  const range = Math.max(max - min, FGD_SCORE_SPREAD_FLOOR);
  return Array.from(costs, (c) => (Number.isNaN(c) ? 0 : 10 * (1 - (c - min) / range)));
}

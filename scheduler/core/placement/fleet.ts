// The GPU state of a set of nodes, kept in flat typed arrays: placement evaluates every node for
// every task, so the state must be cheap to read and must not allocate per evaluation.
import { type TaskRequest, TaskKind, taskKind } from './task.ts';
import { gpuMemoryTaken, gpuTakes } from './gpu-fit.ts';
import { GPU_MILLI } from './units.ts';

export interface NodeSpec {
  readonly name: string;
  readonly cpuMilli: number;
  readonly memoryMib: number;
  readonly gpuCount: number;
  /** GPU model of every GPU on the node ("" when it has none). */
  readonly gpuModel: string;
  /** Memory of each of its GPUs, MiB; absent: not known, and GPUs are judged on compute alone. */
  readonly gpuMemoryMib?: number;
}

export class GpuFleet {
  readonly size: number;
  readonly specs: readonly NodeSpec[];
  readonly cpuLeft: Float64Array;
  readonly memLeft: Float64Array;
  readonly gpuCount: Int32Array;
  /** Index of node n's first GPU in gpuLeft. */
  readonly gpuOffset: Int32Array;
  /** Free milli of every GPU, node after node. */
  readonly gpuLeft: Int32Array;
  /** Memory of every GPU, MiB (Infinity where not known), and what of it is not taken. */
  readonly gpuMemory: Float64Array;
  readonly gpuMemoryLeft: Float64Array;
  /** Index of the node's model in `models`, -1 without GPUs. */
  readonly modelId: Int32Array;
  readonly models: readonly string[];
  readonly totalGpuMilli: number;

  constructor(specs: readonly NodeSpec[]) {
    this.specs = specs;
    this.size = specs.length;
    this.cpuLeft = new Float64Array(specs.map((s) => s.cpuMilli));
    this.memLeft = new Float64Array(specs.map((s) => s.memoryMib));
    this.gpuCount = new Int32Array(specs.map((s) => s.gpuCount));
    this.gpuOffset = new Int32Array(this.size);
    let gpus = 0;
    const models: string[] = [];
    this.modelId = new Int32Array(this.size);
    specs.forEach((s, n) => {
      this.gpuOffset[n] = gpus;
      gpus += s.gpuCount;
      if (s.gpuCount === 0) {
        this.modelId[n] = -1;
        return;
      }
      let id = models.indexOf(s.gpuModel);
      if (id < 0) id = models.push(s.gpuModel) - 1;
      this.modelId[n] = id;
    });
    this.models = models;
    this.gpuLeft = new Int32Array(gpus).fill(GPU_MILLI);
    this.gpuMemory = new Float64Array(gpus);
    specs.forEach((s, n) => {
      const o = this.gpuOffset[n]!;
      this.gpuMemory.fill(s.gpuMemoryMib ?? Infinity, o, o + s.gpuCount);
    });
    this.gpuMemoryLeft = Float64Array.from(this.gpuMemory);
    this.totalGpuMilli = gpus * GPU_MILLI;
  }

  gpuLeftOf(n: number): number[] {
    const o = this.gpuOffset[n]!;
    return Array.from(this.gpuLeft.subarray(o, o + this.gpuCount[n]!));
  }

  /** Free milli summed over the node's GPUs. */
  freeGpuMilli(n: number): number {
    const o = this.gpuOffset[n]!;
    const end = o + this.gpuCount[n]!;
    let t = 0;
    for (let i = o; i < end; i++) t += this.gpuLeft[i]!;
    return t;
  }

  fullyFreeGpus(n: number): number {
    const o = this.gpuOffset[n]!;
    const end = o + this.gpuCount[n]!;
    let f = 0;
    for (let i = o; i < end; i++) if (this.gpuLeft[i] === GPU_MILLI) f++;
    return f;
  }

  /** Can GPU g of node n take one GPU's part of the task: the shared rule (gpu-fit.ts). */
  takes(n: number, g: number, task: TaskRequest): boolean {
    const i = this.gpuOffset[n]! + g;
    return gpuTakes(
      this.gpuLeft[i]!,
      this.gpuMemoryLeft[i]!,
      this.gpuMemory[i]!,
      task.gpuMilli,
      task.gpuMemoryMib ?? 0,
    );
  }

  /** Takes the task's resources on node n, GPUs by their index inside the node. */
  allocate(n: number, task: TaskRequest, gpus: readonly number[]): void {
    this.apply(n, task, gpus, -1);
  }

  release(n: number, task: TaskRequest, gpus: readonly number[]): void {
    this.apply(n, task, gpus, 1);
  }

  private apply(n: number, task: TaskRequest, gpus: readonly number[], sign: 1 | -1): void {
    const kind = taskKind(task);
    const wanted = kind === TaskKind.Cpu ? 0 : task.gpuCount;
    if (gpus.length !== wanted) throw new Error(`task needs ${wanted} GPU indexes, got ${gpus.length}`);
    const o = this.gpuOffset[n]!;
    for (const g of gpus) {
      if (g < 0 || g >= this.gpuCount[n]!) throw new Error(`GPU ${g} not on node ${this.specs[n]?.name}`);
      const next = this.gpuLeft[o + g]! + sign * task.gpuMilli;
      if (next < 0 || next > GPU_MILLI) throw new Error(`GPU ${g} of ${this.specs[n]?.name} over-committed`);
      this.gpuLeft[o + g] = next;
      const total = this.gpuMemory[o + g]!;
      if (Number.isFinite(total)) {
        const memory =
          this.gpuMemoryLeft[o + g]! + sign * gpuMemoryTaken(task.gpuMilli, task.gpuMemoryMib ?? 0, total);
        this.gpuMemoryLeft[o + g] = Math.min(total, Math.max(0, memory));
      }
    }
    this.cpuLeft[n] = this.cpuLeft[n]! + sign * task.cpuMilli;
    this.memLeft[n] = this.memLeft[n]! + sign * task.memoryMib;
  }
}

// GPU fragmentation of nodes against a target workload (Weng et al., ATC '23, §4):
// for a task shape m, a node's fragment is all its free GPU milli when m cannot run there at all
// (CPU-only shape, too little CPU, wrong model, too few GPUs), else the free milli on GPUs whose
// leftover is below m's per-GPU demand. A node's fragmentation is Σ_m popularity(m) × frag(m).
//
// FragIndex keeps, per node, the free total T, the count of whole free GPUs F, and for every
// share shape the free milli below its demand (S). With those, the fragmentation after a
// hypothetical placement costs O(#shapes), not O(#shapes × #GPUs): placement evaluates every
// node for every task, and this is the inner loop.
import { type GpuFleet } from './fleet.ts';
import { TaskKind } from './task.ts';
import { GPU_MILLI } from './units.ts';
import { type TargetShape } from './workload.ts';
import { acceptsGpuModel } from '../../../contracts/vgpu-pod.ts';

export class FragIndex {
  readonly fleet: GpuFleet;
  readonly shapes: readonly TargetShape[];
  readonly m: number;
  private readonly pop: Float64Array;
  private readonly cpu: Float64Array;
  private readonly milli: Int32Array;
  private readonly count: Int32Array;
  private readonly kind: Uint8Array;
  /** [modelId * m + shape]: may the shape use that GPU model. */
  private readonly modelOk: Uint8Array;
  private readonly below: Int32Array;
  private readonly free: Int32Array;
  private readonly whole: Int32Array;
  private readonly frag: Float64Array;
  private sum = 0;

  constructor(fleet: GpuFleet, shapes: readonly TargetShape[]) {
    this.fleet = fleet;
    this.shapes = shapes;
    const m = shapes.length;
    this.m = m;
    this.pop = new Float64Array(shapes.map((s) => s.popularity));
    this.cpu = new Float64Array(shapes.map((s) => s.cpuMilli));
    this.milli = new Int32Array(shapes.map((s) => s.gpuMilli));
    this.count = new Int32Array(shapes.map((s) => s.gpuCount));
    this.kind = new Uint8Array(
      shapes.map((s) =>
        s.gpuCount === 0 || s.gpuMilli === 0
          ? TaskKind.Cpu
          : s.gpuMilli < GPU_MILLI
            ? TaskKind.Share
            : TaskKind.Whole,
      ),
    );
    this.modelOk = new Uint8Array(fleet.models.length * m);
    fleet.models.forEach((model, id) => {
      shapes.forEach((s, j) => {
        this.modelOk[id * m + j] = acceptsGpuModel(s.gpuModels, model) ? 1 : 0;
      });
    });
    this.below = new Int32Array(fleet.size * m);
    this.free = new Int32Array(fleet.size);
    this.whole = new Int32Array(fleet.size);
    this.frag = new Float64Array(fleet.size);
    for (let n = 0; n < fleet.size; n++) this.refresh(n);
  }

  /** Fragmentation of node n now, in GPU milli. */
  nodeFrag(n: number): number {
    return this.frag[n]!;
  }

  /** Fragmentation of the whole fleet now, in GPU milli. */
  total(): number {
    return this.sum;
  }

  freeMilli(n: number): number {
    return this.free[n]!;
  }

  wholeFree(n: number): number {
    return this.whole[n]!;
  }

  /** Recomputes node n after its state changed. */
  refresh(n: number): void {
    const f = this.fleet;
    const o = f.gpuOffset[n]!;
    const end = o + f.gpuCount[n]!;
    let t = 0;
    let w = 0;
    for (let i = o; i < end; i++) {
      const l = f.gpuLeft[i]!;
      t += l;
      if (l === GPU_MILLI) w++;
    }
    this.free[n] = t;
    this.whole[n] = w;
    const base = n * this.m;
    for (let j = 0; j < this.m; j++) {
      if (this.kind[j] !== TaskKind.Share) continue;
      const thr = this.milli[j]!;
      let s = 0;
      for (let i = o; i < end; i++) {
        const l = f.gpuLeft[i]!;
        if (l < thr) s += l;
      }
      this.below[base + j] = s;
    }
    const v = this.after(n, 0, -1, -1, 0);
    this.sum += v - this.frag[n]!;
    this.frag[n] = v;
  }

  /**
   * Node n's fragmentation if it gave `cpu` more milli CPU away, one GPU went from `oldLeft` to
   * `newLeft` free milli (oldLeft < 0: none did), and `wholeTaken` whole free GPUs were taken.
   */
  after(n: number, cpu: number, oldLeft: number, newLeft: number, wholeTaken: number): number {
    const gpuChange = oldLeft >= 0;
    const t = this.free[n]! - (gpuChange ? oldLeft - newLeft : 0) - wholeTaken * GPU_MILLI;
    if (t === 0) return 0;
    const w =
      this.whole[n]! - wholeTaken - (gpuChange && oldLeft === GPU_MILLI && newLeft < GPU_MILLI ? 1 : 0);
    const cpuLeft = this.fleet.cpuLeft[n]! - cpu;
    const modelBase = this.fleet.modelId[n]! * this.m;
    const base = n * this.m;
    const wholeFrag = t - w * GPU_MILLI;
    let sum = 0;
    for (let j = 0; j < this.m; j++) {
      const k = this.kind[j]!;
      let v: number;
      if (k === TaskKind.Cpu || cpuLeft < this.cpu[j]! || this.modelOk[modelBase + j] !== 1) v = t;
      else if (k === TaskKind.Share) {
        v = this.below[base + j]!;
        if (gpuChange) {
          const thr = this.milli[j]!;
          if (oldLeft < thr) v -= oldLeft;
          if (newLeft < thr) v += newLeft;
        }
      } else v = w >= this.count[j]! ? wholeFrag : t;
      sum += this.pop[j]! * v;
    }
    return sum;
  }
}

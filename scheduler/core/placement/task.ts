// What one task (pod) asks for, in the core's units.
import { GPU_MILLI } from './units.ts';
import { acceptsGpuModel } from '../../../contracts/vgpu-pod.ts';

export interface TaskRequest {
  readonly cpuMilli: number;
  readonly memoryMib: number;
  /** Number of GPUs; 1 with gpuMilli < 1000 is a share of one GPU, otherwise whole GPUs. */
  readonly gpuCount: number;
  /** Per-GPU demand in milli: below 1000 only with gpuCount 1. */
  readonly gpuMilli: number;
  /** Per-GPU memory asked, MiB; absent or 0: none (a whole GPU then brings all of its own). */
  readonly gpuMemoryMib?: number;
  /** Acceptable GPU models; empty means any. */
  readonly gpuModels: readonly string[];
}

export const TaskKind = { Cpu: 0, Share: 1, Whole: 2 } as const;
export type TaskKind = (typeof TaskKind)[keyof typeof TaskKind];

export function taskKind(t: TaskRequest): TaskKind {
  if (t.gpuCount === 0 || t.gpuMilli === 0) return TaskKind.Cpu;
  return t.gpuMilli < GPU_MILLI ? TaskKind.Share : TaskKind.Whole;
}

export function totalGpuMilli(t: TaskRequest): number {
  return taskKind(t) === TaskKind.Cpu ? 0 : t.gpuCount * t.gpuMilli;
}

/** Why a request is malformed, or null. Shares of more than one GPU are not a thing here. */
export function invalidTaskReason(t: TaskRequest): string | null {
  const ints = [t.cpuMilli, t.memoryMib, t.gpuCount, t.gpuMilli];
  if (ints.some((v) => !Number.isFinite(v) || v < 0)) return 'negative or non-numeric request';
  if (!Number.isInteger(t.gpuCount) || !Number.isInteger(t.gpuMilli)) return 'GPU request must be integral';
  if (t.gpuMilli > GPU_MILLI) return `gpu milli ${t.gpuMilli} exceeds ${GPU_MILLI}`;
  if (t.gpuCount > 1 && t.gpuMilli !== GPU_MILLI && t.gpuMilli !== 0) {
    return `a share (${t.gpuMilli}m) of more than one GPU (${t.gpuCount})`;
  }
  return null;
}

/** "A100|H100" → ["A100", "H100"]; empty entries are ignored, as the artifact does. */
export function parseGpuModels(spec: string): string[] {
  return spec
    .split('|')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function acceptsModel(t: TaskRequest, model: string): boolean {
  return acceptsGpuModel(t.gpuModels, model);
}

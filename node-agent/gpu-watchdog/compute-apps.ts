// What `nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv,noheader,nounits`
// prints: one line per process with a context on a GPU, `<host pid>, <GPU uuid>, <MiB>`. A process on
// two GPUs has two lines. `used_memory` is `[N/A]` where the driver cannot say (some vGPU and WSL
// setups): such a line is kept as unknown use, never guessed. With no process there is no line.
import { numberField } from '../gpu/nvidia-smi.ts';

export const COMPUTE_APPS_ARGS = [
  '--query-compute-apps=pid,gpu_uuid,used_memory',
  '--format=csv,noheader,nounits',
] as const;

export interface ComputeApp {
  pid: number;
  gpuUuid: string;
  /** MiB, or undefined where nvidia-smi printed a placeholder. */
  usedMiB: number | undefined;
}

export interface ComputeAppsResult {
  apps: ComputeApp[];
  /** Lines that were not a process row, clipped. */
  problems: string[];
}

const MAX_PROBLEMS = 20;

export function parseComputeApps(output: string): ComputeAppsResult {
  const apps: ComputeApp[] = [];
  const problems: string[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const fields = line.split(',').map((f) => f.trim());
    const pid = Number(fields[0]);
    if (
      fields.length !== 3 ||
      !/^[1-9]\d{0,9}$/.test(fields[0]!) ||
      !Number.isSafeInteger(pid) ||
      !/^(GPU|MIG)-[0-9a-fA-F-]{8,}$/.test(fields[1]!)
    ) {
      if (problems.length < MAX_PROBLEMS) problems.push(line.slice(0, 200));
      continue;
    }
    apps.push({ pid, gpuUuid: fields[1]!, usedMiB: numberField(fields[2]!) });
  }
  return { apps, problems };
}

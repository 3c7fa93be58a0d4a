// The Alibaba openb trace format: a node list (sn,cpu_milli,memory_mib,gpu,model) and pod lists
// (name,cpu_milli,memory_mib,num_gpu,gpu_milli[,gpu_spec,...]); the multigpu lists stop after
// gpu_milli. Timestamps are not read: the protocol ignores them. openb has no GPU memory; a list
// may add a `gpu_memory_mib` column (nodes: memory of each GPU; pods: per GPU asked), and then
// placement holds to it as the extender does (GpuFleet.takes).
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { type NodeSpec } from '../../scheduler/core/placement/fleet.ts';
import { type TaskRequest, invalidTaskReason, parseGpuModels } from '../../scheduler/core/placement/task.ts';
import { columns, intField, parseCsv } from './csv.ts';

export interface TraceTask extends TaskRequest {
  readonly name: string;
}

const GPU_MEMORY_COLUMN = 'gpu_memory_mib';

/** The optional GPU memory cell: absent or empty adds nothing. */
function gpuMemory(cell: string, where: string): { gpuMemoryMib?: number } {
  return cell === '' ? {} : { gpuMemoryMib: intField(cell, `${where} ${GPU_MEMORY_COLUMN}`) };
}

export function parseNodes(text: string, source: string): NodeSpec[] {
  const table = parseCsv(text, source);
  const col = columns(table, source, ['sn', 'cpu_milli', 'memory_mib', 'gpu'], ['model', GPU_MEMORY_COLUMN]);
  return table.rows.map((r, i) => {
    const where = `${source}:${i + 2}`;
    const gpuCount = intField(col(r, 'gpu'), `${where} gpu`);
    const gpuModel = col(r, 'model');
    if (gpuCount > 0 && gpuModel === '') throw new Error(`${where}: GPUs without a model`);
    return {
      name: col(r, 'sn'),
      cpuMilli: intField(col(r, 'cpu_milli'), `${where} cpu_milli`),
      memoryMib: intField(col(r, 'memory_mib'), `${where} memory_mib`),
      gpuCount,
      gpuModel: gpuCount > 0 ? gpuModel : '',
      ...gpuMemory(col(r, GPU_MEMORY_COLUMN), where),
    };
  });
}

export function parsePods(text: string, source: string): TraceTask[] {
  const table = parseCsv(text, source);
  const col = columns(
    table,
    source,
    ['name', 'cpu_milli', 'memory_mib', 'num_gpu', 'gpu_milli'],
    ['gpu_spec', GPU_MEMORY_COLUMN],
  );
  return table.rows.map((r, i) => {
    const where = `${source}:${i + 2}`;
    const task: TraceTask = {
      name: col(r, 'name'),
      cpuMilli: intField(col(r, 'cpu_milli'), `${where} cpu_milli`),
      memoryMib: intField(col(r, 'memory_mib'), `${where} memory_mib`),
      gpuCount: intField(col(r, 'num_gpu'), `${where} num_gpu`),
      gpuMilli: intField(col(r, 'gpu_milli'), `${where} gpu_milli`),
      gpuModels: parseGpuModels(col(r, 'gpu_spec')),
      ...gpuMemory(col(r, GPU_MEMORY_COLUMN), where),
    };
    const bad = invalidTaskReason(task);
    if (bad) throw new Error(`${where}: ${bad}`);
    return task;
  });
}

export function loadNodes(path: string): NodeSpec[] {
  return parseNodes(readFileSync(path, 'utf8'), basename(path));
}

export function loadPods(path: string): TraceTask[] {
  return parsePods(readFileSync(path, 'utf8'), basename(path));
}

/** "…/openb_pod_list_gpushare40.csv" → "gpushare40". */
export function traceName(path: string): string {
  return basename(path, '.csv').replace(/^openb_pod_list_/, '');
}

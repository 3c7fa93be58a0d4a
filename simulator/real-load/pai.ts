// Alibaba PAI 2020 instances (../shared/traces/pai2020/): per task, what it requested and what it
// really used. The simulator draws (request, use, duration) triples from these rows; it never
// replays the trace's machines (a random sample has no co-located neighbours).
import { readFileSync } from 'node:fs';
import { columns, parseCsv } from '../trace/csv.ts';

export const DEFAULT_PAI_TRACE = '../shared/traces/pai2020/alibaba_pai2020_instances_sample1000.csv';

export interface PaiTask {
  /** Requested CPU cores (`plan_cpu` / 100) and memory bytes (`plan_mem` GB). */
  requestCpu: number;
  requestMemory: number;
  /** Real use: average CPU cores over the task's life (`cpu_usage` / 100) and `avg_mem`. */
  useCpu: number;
  useMemory: number;
  durationS: number;
}

const GB = 2 ** 30;

/**
 * Durations are clamped: at least a minute (shorter tasks are mostly failed starts, below the
 * agent's resolution), at most `maxDurationS` so a run reaches a steady state in simulated hours.
 */
export const MIN_DURATION_S = 60;

export function parsePai(text: string, source: string, maxDurationS: number): PaiTask[] {
  const table = parseCsv(text, source);
  const required = ['plan_cpu', 'plan_mem', 'cpu_usage', 'avg_mem', 'start_time', 'end_time'];
  const col = columns(table, source, required);
  const tasks: PaiTask[] = [];
  table.rows.forEach((row, i) => {
    const n = (name: string) => Number(col(row, name) || Number.NaN);
    const planCpu = n('plan_cpu');
    const planMem = n('plan_mem');
    const cpu = n('cpu_usage');
    const mem = n('avg_mem');
    const start = n('start_time');
    const end = n('end_time');
    // A row without a request or a usage cannot be drawn; such rows are skipped, not guessed.
    if (![planCpu, planMem, cpu, mem, start, end].every(Number.isFinite) || !(planCpu > 0 && planMem > 0))
      return;
    if (cpu < 0 || mem < 0 || end < start) throw new Error(`${source}:${i + 2}: negative usage or duration`);
    tasks.push({
      requestCpu: planCpu / 100,
      requestMemory: planMem * GB,
      useCpu: cpu / 100,
      useMemory: mem * GB,
      durationS: Math.min(maxDurationS, Math.max(MIN_DURATION_S, end - start)),
    });
  });
  if (tasks.length === 0) throw new Error(`${source}: no usable rows`);
  return tasks;
}

export function loadPai(path: string, maxDurationS: number): PaiTask[] {
  return parsePai(readFileSync(path, 'utf8'), path, maxDurationS);
}

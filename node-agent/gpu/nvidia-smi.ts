// Parsing what nvidia-smi prints. The agent asks for CSV (`--format=csv,noheader,nounits`) and
// for the topology matrix (`topo -m`); both are read defensively: a field nvidia-smi cannot fill
// is `[N/A]` or `[Not Supported]`, a GPU that fell off the bus prints an error line instead of a
// row, and newer drivers decorate the matrix with terminal escapes.
import type { GpuLink } from '../../contracts/index.ts';

/** The fields the agent queries, in order: the argument to `--query-gpu=`. */
export const QUERY_FIELDS = [
  'index',
  'uuid',
  'name',
  'memory.total',
  'memory.used',
  'utilization.gpu',
  'mig.mode.current',
] as const;

export interface GpuRow {
  index: number;
  uuid: string;
  model: string;
  memoryMiB: number;
  /** MiB in use, when nvidia-smi knows. */
  memoryUsedMiB: number | undefined;
  /** Busy fraction 0..1, when nvidia-smi knows (not in MIG mode). */
  utilization: number | undefined;
  mig: boolean;
}

export interface QueryResult {
  rows: GpuRow[];
  /** Lines that were not a GPU row (a lost GPU's error, garbage), verbatim and clipped. */
  problems: string[];
}

const UNKNOWN = /^\[(N\/A|Not Supported|Unknown Error|GPU requires reset|Insufficient Permissions)\]$/i;

/** A numeric CSV field; undefined for nvidia-smi's `[N/A]`-style placeholders and anything else not a number >= 0. */
export function numberField(text: string): number | undefined {
  if (UNKNOWN.test(text) || text === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

export function parseQueryGpu(output: string): QueryResult {
  const rows: GpuRow[] = [];
  const problems: string[] = [];
  const seen = new Set<number>();
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const fields = line.split(',').map((f) => f.trim());
    const index = Number(fields[0]);
    const memoryMiB = numberField(fields[3] ?? '');
    if (
      fields.length !== QUERY_FIELDS.length ||
      !/^\d{1,3}$/.test(fields[0]!) ||
      seen.has(index) ||
      !/^(GPU|MIG)-[0-9a-fA-F-]{8,}$/.test(fields[1]!) ||
      memoryMiB === undefined ||
      memoryMiB === 0
    ) {
      problems.push(line.slice(0, 200));
      continue;
    }
    seen.add(index);
    const utilization = numberField(fields[5]!);
    rows.push({
      index,
      uuid: fields[1]!,
      model: fields[2]!,
      memoryMiB,
      memoryUsedMiB: numberField(fields[4]!),
      utilization: utilization === undefined ? undefined : Math.min(1, utilization / 100),
      mig: fields[6] === 'Enabled',
    });
  }
  return { rows: rows.sort((a, b) => a.index - b.index), problems };
}

// CSI escape sequences (colour, underline) some drivers put around the matrix headers.
// eslint-disable-next-line no-control-regex -- the escape character is the point of this pattern.
const ANSI = /\u001b\[[0-9;]*m/g;
const LINK = /^(X|NV\d{1,2}|PIX|PXB|PHB|NODE|SYS|SOC)$/;

/**
 * The GPU-to-GPU part of `nvidia-smi topo -m`: row i, column j is how GPU i reaches GPU j. NIC
 * rows and columns and the affinity columns are ignored. Returns an empty map when the matrix
 * cannot be read (the agent then reports no links rather than wrong ones).
 */
export function parseTopology(output: string): Map<number, GpuLink[]> {
  const lines = output.replace(ANSI, '').split('\n');
  const header = lines.find((l) => /^\s+GPU\d+/.test(l));
  const links = new Map<number, GpuLink[]>();
  if (!header) return links;
  const columns = header
    .trim()
    .split(/\t+|\s{2,}/)
    .map((c) => c.trim());
  const gpuColumns = columns.flatMap((c, i) =>
    /^GPU\d+$/.test(c) ? [[i, Number(c.slice(3))] as const] : [],
  );
  for (const line of lines) {
    const m = /^GPU(\d+)\s/.exec(line);
    if (!m) continue;
    const cells = line.split('\t').map((c) => c.trim());
    // The row label is cell 0; data cells follow the header's column order.
    const row: GpuLink[] = [];
    for (const [column, gpu] of gpuColumns) {
      const cell = cells[column + 1];
      if (cell === undefined || !LINK.test(cell)) return new Map();
      row[gpu] = cell;
    }
    links.set(Number(m[1]), row);
  }
  return links;
}

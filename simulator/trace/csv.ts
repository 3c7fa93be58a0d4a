// A small CSV reader for the trace files: header row, comma separated, optional double quotes.
export interface CsvTable {
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

function splitLine(line: string): string[] {
  if (!line.includes('"')) return line.split(',');
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

export function parseCsv(text: string, source: string): CsvTable {
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  const first = lines[0];
  if (first === undefined) throw new Error(`${source}: empty file`);
  const header = splitLine(first).map((h) => h.trim());
  const rows = lines.slice(1).map((l, i) => {
    const cells = splitLine(l);
    if (cells.length !== header.length) {
      throw new Error(`${source}:${i + 2}: ${cells.length} fields, header has ${header.length}`);
    }
    return cells;
  });
  return { header, rows };
}

/** Column accessor by name; a missing optional column reads as "". */
export function columns(
  table: CsvTable,
  source: string,
  required: readonly string[],
  optional: readonly string[] = [],
) {
  const index = new Map(table.header.map((h, i) => [h, i]));
  for (const r of required) if (!index.has(r)) throw new Error(`${source}: missing column "${r}"`);
  const known = new Set([...required, ...optional]);
  return (row: readonly string[], name: string): string => {
    if (!known.has(name)) throw new Error(`column "${name}" not declared`);
    const i = index.get(name);
    return i === undefined ? '' : (row[i] ?? '').trim();
  };
}

export function intField(value: string, what: string): number {
  const v = Number(value);
  if (value === '' || !Number.isFinite(v) || v < 0)
    throw new Error(`${what}: "${value}" is not a non-negative number`);
  return v;
}

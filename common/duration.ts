// Go-style durations ("10s", "3m", "1h30m", "250ms"), the form crane-scheduler's policy files and
// Kubernetes configs use. Parsed strictly to match Go's time.ParseDuration, so a file that works
// with crane works here; general-purpose npm parsers accept looser forms ("10 sec", "1.5 hours").

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

/** Milliseconds in a non-negative Go duration; throws RangeError with a readable message otherwise. */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  if (text.length === 0 || text.length > 64) throw new RangeError(`invalid duration "${text}"`);
  if (text.startsWith('-')) throw new RangeError(`duration must not be negative: "${text}"`);
  const body = text.startsWith('+') ? text.slice(1) : text;
  PART.lastIndex = 0;
  let total = 0;
  let pos = 0;
  while (pos < body.length) {
    PART.lastIndex = pos;
    const m = PART.exec(body);
    if (!m) throw new RangeError(`invalid duration "${text}" (expected e.g. "10s", "5m", "1h30m")`);
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = PART.lastIndex;
  }
  if (body.length === 0) throw new RangeError(`invalid duration "${text}"`);
  return total;
}

/** Formats milliseconds the way Go prints common durations ("10s", "1m30s", "250ms"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  let rest = ms / 1000;
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  rest -= m * 60;
  const s = Number(rest.toFixed(3));
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}

// RFC 3339 timestamps, strictly: the form Go's time.RFC3339 writes and Kubernetes uses.

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-](\d{2}):(\d{2}))$/;

/** A calendar date and wall time, as written (no zone applied). */
export interface DateTimeFields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/**
 * The date and time in groups 1..6 of a date-time match (YYYY, MM, DD, hh, mm, ss), or undefined
 * when they name no real date or time (February 30th, hour 24).
 */
export function dateTimeFields(m: RegExpExecArray): DateTimeFields | undefined {
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > daysInMonth) return undefined;
  return { year, month, day, hour, minute, second };
}

/** Parses an RFC 3339 date-time; returns the epoch milliseconds, or undefined when it is not one. */
export function parseRfc3339(text: string): number | undefined {
  const m = RFC3339.exec(text);
  const fields = m ? dateTimeFields(m) : undefined;
  if (!m || !fields) return undefined;
  const { year, month, day, hour, minute, second } = fields;
  let offsetMinutes = 0;
  if (m[8] !== 'Z') {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (oh * 60 + om) * (m[8]!.startsWith('-') ? -1 : 1);
  }
  const millis = m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0;
  // Date.UTC treats years 0..99 as 1900+; setUTCFullYear does not.
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, millis));
  date.setUTCFullYear(year);
  return date.getTime() - offsetMinutes * 60_000;
}

/** Formats epoch milliseconds as RFC 3339 UTC with whole seconds (`2026-11-22T06:07:12Z`). */
export function formatRfc3339(epochMs: number): string {
  return `${new Date(Math.floor(epochMs / 1000) * 1000).toISOString().slice(0, 19)}Z`;
}

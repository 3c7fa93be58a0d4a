// The node agent's HTTP contract: where it listens, its paths, and the /statistics document.
import { type Static, Type } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { type FigureName, isFigureName } from './figures.ts';
import { parseRfc3339 } from './time.ts';

export const AGENT_DEFAULT_PORT = 19101;

export const AGENT_PATHS = {
  statistics: '/statistics',
  metrics: '/metrics',
  healthz: '/healthz',
  readyz: '/readyz',
} as const;

const Fraction = Type.Number({ minimum: 0, maximum: 1 });

/**
 * `GET /statistics`. `windows` holds only the figures that have data: a window with none yet is
 * absent, never 0. `coverageSeconds` says how much of each window is backed by samples, so a
 * consumer can tell a real one-day maximum from one over twenty minutes of history.
 */
export const StatisticsSchema = Type.Object({
  node: Type.String({ minLength: 1, maxLength: 253 }),
  /** When the figures were measured (the newest good sample), RFC 3339 UTC. */
  timestamp: Type.String({ maxLength: 64 }),
  /** Seconds between `timestamp` and when this document was served. */
  sampleAgeSeconds: Type.Number({ minimum: 0 }),
  sampleIntervalSeconds: Type.Number({ exclusiveMinimum: 0 }),
  windows: Type.Record(Type.String({ maxLength: 128 }), Fraction),
  coverageSeconds: Type.Record(Type.String({ maxLength: 128 }), Type.Number({ minimum: 0 })),
});
export type Statistics = Static<typeof StatisticsSchema>;

/** A /statistics document after validation, with the figures this build knows about. */
export interface ParsedStatistics {
  node: string;
  timestampMs: number;
  sampleAgeSeconds: number;
  sampleIntervalSeconds: number;
  windows: Partial<Record<FigureName, number>>;
  coverageSeconds: Partial<Record<FigureName, number>>;
}

const validate = new Ajv({ allErrors: false, strict: true }).compile<Statistics>(StatisticsSchema);

/**
 * Validates a /statistics body from an agent. Unknown figures (a newer agent) are dropped, not
 * rejected; anything malformed is an error with a reason, never an exception.
 */
export function parseStatistics(
  body: unknown,
): { ok: true; stats: ParsedStatistics } | { ok: false; error: string } {
  if (!validate(body)) {
    const e = validate.errors?.[0];
    return {
      ok: false,
      error: `invalid statistics: ${e?.instancePath || '/'} ${e?.message ?? 'is malformed'}`,
    };
  }
  const timestampMs = parseRfc3339(body.timestamp);
  if (timestampMs === undefined)
    return { ok: false, error: `invalid statistics: bad timestamp "${body.timestamp}"` };
  const windows: Partial<Record<FigureName, number>> = {};
  const coverageSeconds: Partial<Record<FigureName, number>> = {};
  for (const [name, value] of Object.entries(body.windows)) if (isFigureName(name)) windows[name] = value;
  for (const [name, value] of Object.entries(body.coverageSeconds))
    if (isFigureName(name)) coverageSeconds[name] = value;
  return {
    ok: true,
    stats: {
      node: body.node,
      timestampMs,
      sampleAgeSeconds: body.sampleAgeSeconds,
      sampleIntervalSeconds: body.sampleIntervalSeconds,
      windows,
      coverageSeconds,
    },
  };
}

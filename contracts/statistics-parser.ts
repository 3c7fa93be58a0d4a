// Validation of an agent's /statistics document, for its consumers (the controller, the local
// mode). Kept out of the agent's import graph: the agent only writes the document, and Ajv and
// the schema builder cost a DaemonSet pod several megabytes it does not need.
import { type Static, Type } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import {
  type AcceptedStatistics,
  DEFAULT_SAMPLE_INTERVAL_SECONDS,
  MAX_SAMPLE_AGE_SECONDS,
  type ParsedStatistics,
} from './agent-api.ts';
import { type FigureName, isFigureName } from './figures.ts';
import { parseRfc3339 } from './time.ts';

const Fraction = Type.Number({ minimum: 0, maximum: 1 });

export const StatisticsSchema = Type.Object({
  node: Type.String({ minLength: 1, maxLength: 253 }),
  timestamp: Type.String({ maxLength: 64 }),
  // The controller dates the figures by it. Bounded: a sample over a day old dates nothing anyone
  // would use, and an absurd age (1e308) must not turn into a date no codec can write.
  sampleAgeSeconds: Type.Number({ minimum: 0, maximum: MAX_SAMPLE_AGE_SECONDS }),
  sampleIntervalSeconds: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  windows: Type.Record(Type.String({ maxLength: 128 }), Fraction),
  coverageSeconds: Type.Optional(Type.Record(Type.String({ maxLength: 128 }), Type.Number({ minimum: 0 }))),
  gpus: Type.Optional(
    Type.Array(
      Type.Object({
        index: Type.Integer({ minimum: 0, maximum: 63 }),
        uuid: Type.String({ minLength: 1, maxLength: 128 }),
        model: Type.String({ maxLength: 128 }),
        memoryMiB: Type.Integer({ minimum: 1 }),
        mig: Type.Boolean(),
        healthy: Type.Boolean(),
        links: Type.Array(Type.String({ pattern: '^(X|NV\\d{1,2}|PIX|PXB|PHB|NODE|SYS|SOC)$' }), {
          maxItems: 64,
        }),
        utilization: Type.Optional(Fraction),
        memoryUsedMiB: Type.Optional(Type.Number({ minimum: 0 })),
        allocated: Type.Object({ core: Type.Number({ minimum: 0 }), memoryMiB: Type.Number({ minimum: 0 }) }),
      }),
      { maxItems: 64 },
    ),
  ),
});

// The schema and the type must describe the same document; this fails to compile if they drift.
const sameShape: [Static<typeof StatisticsSchema>, AcceptedStatistics] extends [
  AcceptedStatistics,
  Static<typeof StatisticsSchema>,
]
  ? true
  : never = true;
void sameShape;

let validate: ReturnType<typeof compile> | undefined;
function compile() {
  return new Ajv({ allErrors: false, strict: true }).compile<AcceptedStatistics>(StatisticsSchema);
}

/**
 * Validates a /statistics body from an agent. Unknown figures and fields (a newer agent) are
 * dropped, not rejected; fields an older agent did not send take their defaults (see
 * AcceptedStatistics); anything malformed is an error with a reason, never an exception.
 */
export function parseStatistics(
  body: unknown,
): { ok: true; stats: ParsedStatistics } | { ok: false; error: string } {
  validate ??= compile();
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
  for (const [name, value] of Object.entries(body.coverageSeconds ?? {}))
    if (isFigureName(name)) coverageSeconds[name] = value;
  return {
    ok: true,
    stats: {
      node: body.node,
      timestampMs,
      sampleAgeSeconds: body.sampleAgeSeconds,
      sampleIntervalSeconds: body.sampleIntervalSeconds ?? DEFAULT_SAMPLE_INTERVAL_SECONDS,
      windows,
      coverageSeconds,
      ...(body.gpus ? { gpus: body.gpus } : {}),
    },
  };
}

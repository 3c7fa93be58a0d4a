// How every property test runs: a fixed seed (the same cases in CI every time), a bounded number
// of runs and a time limit. LOADWISE_FUZZ_SEED and LOADWISE_FUZZ_RUNS explore further by hand,
// e.g. `LOADWISE_FUZZ_RUNS=20000 LOADWISE_FUZZ_SEED=$RANDOM node hack/run-tests.mjs test/fuzz`.
import fc from 'fast-check';

function envNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got "${text}"`);
  return n;
}

export const FUZZ_SEED = envNumber('LOADWISE_FUZZ_SEED', 13);
const RUNS = envNumber('LOADWISE_FUZZ_RUNS', 0);

/**
 * Parameters for one property: `runs` cases (or LOADWISE_FUZZ_RUNS), stopping early, as a pass,
 * after `timeLimitMs` so a slow machine never turns the suite into a timeout.
 */
export function fuzz<T>(runs: number, timeLimitMs = 15_000): fc.Parameters<T> {
  return {
    seed: FUZZ_SEED,
    numRuns: RUNS || runs,
    endOnFailure: true,
    plugins: [fc.interruptAfterTimeLimit(timeLimitMs)],
  };
}

/** Strings that look like what a decoder expects, and strings that look like nothing. */
export const hostileString = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.json({ maxDepth: 4 }),
  fc.constantFrom(
    '',
    ' ',
    ',',
    'NaN',
    'Infinity',
    '-0',
    '1e309',
    '0x10',
    '__proto__',
    '{"__proto__":{}}',
    '\u0000',
  ),
);

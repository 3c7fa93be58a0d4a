// Structured JSON logs with levels. pino is the logger fastify is built on, so servers and the
// rest of a component share one log stream and one format.
import { type Logger, pino } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  level: string;
  /** Component name, on every line as `component`. */
  name: string;
  /** Where lines go; stdout by default. Tests pass a stream to read what was logged. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const level = (LOG_LEVELS as readonly string[]).includes(opts.level) ? opts.level : 'info';
  return pino(
    {
      level,
      base: { component: opts.name },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? process.stdout,
  );
}

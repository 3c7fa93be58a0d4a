// Parsers for command-line values shared by every component's flags. Each throws an
// InvalidArgumentError, which commander prints as "error: option '--x' argument ... is invalid".
import { InvalidArgumentError, Option } from 'commander';
import { craneTimeZone, isTimeZone } from '../contracts/crane.ts';
import { parseDuration } from './duration.ts';
import { LOG_LEVELS } from './log.ts';

export interface ListenAddress {
  host: string;
  port: number;
}

/** `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces). */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535)
    throw new InvalidArgumentError(`expected HOST:PORT (e.g. 0.0.0.0:19101), got "${text}"`);
  const host = m[1] ?? (m[2] || '0.0.0.0');
  return { host, port };
}

/** A positive Go-style duration, in milliseconds. */
export function parsePositiveDuration(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  if (ms <= 0) throw new InvalidArgumentError(`must be greater than zero, got "${text}"`);
  return ms;
}

export function parsePositiveInt(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError(`expected a positive whole number, got "${text}"`);
  }
  return n;
}

export function parseLogLevel(text: string): string {
  if (!(LOG_LEVELS as readonly string[]).includes(text)) {
    throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}, got "${text}"`);
  }
  return text;
}

/** `--listen HOST:PORT`, defaulting to all interfaces on `port`. */
export function listenOption(port: number, what: string): Option {
  return new Option('--listen <host:port>', `address for ${what}`)
    .default(parseListen(`0.0.0.0:${port}`), `0.0.0.0:${port}`)
    .argParser(parseListen);
}

/** `--log-level LEVEL`: structured JSON logs on stdout at this level and above. */
export function logLevelOption(): Option {
  return new Option('--log-level <level>', LOG_LEVELS.join(', ')).default('info').argParser(parseLogLevel);
}

/** An IANA time zone name (Asia/Shanghai, UTC), as Go's time.LoadLocation takes it. */
export function parseTimeZone(text: string): string {
  if (!isTimeZone(text))
    throw new InvalidArgumentError(`expected an IANA time zone such as Asia/Shanghai or UTC, got "${text}"`);
  return text;
}

/**
 * `--crane-timezone ZONE`: the zone crane-scheduler formats and parses its annotation times in.
 * Defaults as crane does: `TZ`, then Asia/Shanghai. Check the result with parseTimeZone: commander
 * does not parse a default, and `TZ` may hold something only a libc understands.
 */
export function craneTimeZoneOption(): Option {
  return new Option(
    '--crane-timezone <zone>',
    "zone of crane-scheduler's annotation times (crane writes local time with a literal Z); must match crane's TZ",
  )
    .default(craneTimeZone(process.env), 'TZ, then Asia/Shanghai')
    .argParser(parseTimeZone);
}

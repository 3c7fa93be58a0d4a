// Parsers for command-line values shared by every component's flags. Each throws an
// InvalidArgumentError, which commander prints as "error: option '--x' argument ... is invalid".
import { Help, type HelpConfiguration, InvalidArgumentError, Option } from 'commander';
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

/**
 * `--listen HOST:PORT`, defaulting to `host` (all interfaces unless told: a component in a Pod must
 * be reachable; a developer's page should pass 127.0.0.1) on `port`.
 */
export function listenOption(port: number, what: string, host = '0.0.0.0'): Option {
  return new Option('--listen <host:port>', `address for ${what}`)
    .default(parseListen(`${host}:${port}`), `${host}:${port}`)
    .argParser(parseListen);
}

/** Whether `host` is reachable from this machine only (a loopback address or name). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * The parser of a flag that may be given several times: the values given, in order, replacing
 * `defaults` (commander hands the default array itself to the first call).
 */
export function repeatable(defaults: readonly string[]) {
  return (text: string, previous: readonly string[]): string[] =>
    previous === defaults ? [text] : [...previous, text];
}

/** `--log-level LEVEL`: structured JSON logs on stdout at this level and above. */
export function logLevelOption(): Option {
  return new Option('--log-level <level>', LOG_LEVELS.join(', ')).default('info').argParser(parseLogLevel);
}

/**
 * How every loadwise command lays out `--help`: 80 columns whatever the terminal (a wide terminal
 * or a pipe reads the same), descriptions wrapped even beside a long flag (commander leaves them
 * unwrapped when fewer than 40 columns remain), and required options marked.
 */
export const HELP_LAYOUT: HelpConfiguration = {
  helpWidth: 80,
  minWidthToWrap: 20,
  optionDescription(this: Help, option: Option): string {
    const base = Help.prototype.optionDescription.call(this, option);
    return option.mandatory ? `${base} (required)` : base;
  },
};

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

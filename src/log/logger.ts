/**
 * pino: JSON to stdout, pretty when stdout is a TTY (SPEC §3); `--log-format json|pretty` and
 * `--log-level` (or MESHCP_LOG_FORMAT / MESHCP_LOG_LEVEL) override both. Keys are redacted by field
 * name as a second line of defence.
 */
import { pino, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogSettings {
  readonly level?: LogLevel;
  readonly format?: LogFormat;
}

/** Set once per CLI run from the global flags, read by every logger the command creates. */
let settings: LogSettings = {};

export function configureLogging(next: LogSettings): void {
  settings = { ...next };
}

export function parseLogLevel(value: string, source = '--log-level'): LogLevel {
  const found = LOG_LEVELS.find((l) => l === value.toLowerCase());
  if (found === undefined) throw new Error(`${source} must be one of ${LOG_LEVELS.join(', ')}, not "${value}"`);
  return found;
}

export function parseLogFormat(value: string, source = '--log-format'): LogFormat {
  const found = LOG_FORMATS.find((f) => f === value.toLowerCase());
  if (found === undefined) throw new Error(`${source} must be json or pretty, not "${value}"`);
  return found;
}

function fromEnv<T>(name: string, parse: (value: string, source: string) => T): T | undefined {
  const value = process.env[name];
  return value !== undefined && value !== '' ? parse(value, name) : undefined;
}

export function createLogger(options: { level?: string; format?: LogFormat; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = options.level ?? settings.level ?? fromEnv('MESHCP_LOG_LEVEL', parseLogLevel) ?? 'info';
  const redact = { paths: ['key', '*.key', 'privateKey', '*.privateKey', 'token', '*.token'], censor: '[redacted]' };
  const destination = options.destination ?? process.stdout;
  // A caller-given destination is a test or a pipe reader: JSON unless asked otherwise.
  const format =
    options.format ?? (options.destination ? 'json' : (settings.format ?? fromEnv('MESHCP_LOG_FORMAT', parseLogFormat) ?? (process.stdout.isTTY ? 'pretty' : 'json')));
  if (format === 'pretty') {
    // In-process and synchronous: a line is on the terminal before the process can exit.
    return pino({ level, redact }, pinoPretty({ colorize: options.destination === undefined && process.stdout.isTTY === true, destination, sync: true }));
  }
  return pino({ level, redact }, destination as pino.DestinationStream);
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

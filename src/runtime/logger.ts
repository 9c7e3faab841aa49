/** pino: JSON to stdout, pretty when stdout is a TTY (SPEC §3). Keys are redacted by field name as a second line of defence. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = options.level ?? process.env['MESHCP_LOG_LEVEL'] ?? 'info';
  const redact = { paths: ['key', '*.key', 'privateKey', '*.privateKey', 'token', '*.token'], censor: '[redacted]' };
  if (!options.destination && process.stdout.isTTY) {
    return pino({ level, redact, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino({ level, redact }, (options.destination ?? process.stdout) as pino.DestinationStream);
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

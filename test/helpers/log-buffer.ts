/** A real pino logger (meshcp's createLogger) writing JSON lines to a string, for asserting on logs. */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log/logger.js';

export function bufferLogger(level = 'info'): { log: Logger; text: () => string } {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { log: createLogger({ level, destination }), text: () => text };
}

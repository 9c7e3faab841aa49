/**
 * `meshcp serve` flags for what one xDS caller may cost (xds/limits.ts). Each limit is on by
 * default; docs/security.md lists them with their defaults and where those come from.
 */
import type { Command } from 'commander';
import { parseDuration } from '../api/duration.js';
import { DEFAULT_XDS_LIMITS, type XdsLimits } from '../xds/limits.js';

type Kind = 'bytes' | 'duration' | 'count';

interface Flag {
  readonly key: keyof XdsLimits;
  readonly flag: string;
  /** The commander option name the flag is read from. */
  readonly option: string;
  readonly kind: Kind;
  readonly help: string;
  /** Whether 0 turns the limit off. */
  readonly zeroIsOff?: boolean;
  /** The argument's name in the help, when not `<n>`, `<size>` or `<duration>`. */
  readonly arg?: string;
}

const FLAGS: readonly Flag[] = [
  { key: 'maxMessageBytes', flag: '--xds-max-message-size', option: 'xdsMaxMessageSize', kind: 'bytes', help: 'largest message any xDS caller may send' },
  { key: 'maxNodeBytes', flag: '--xds-max-node-size', option: 'xdsMaxNodeSize', kind: 'bytes', help: "largest node a stream's first request or a fetch may carry; nothing else of it is decoded before it authenticated" },
  { key: 'firstRequestTimeoutMs', flag: '--xds-first-request-timeout', option: 'xdsFirstRequestTimeout', kind: 'duration', help: 'close an xDS stream that sends no request within this time' },
  { key: 'maxStreamsPerConnection', flag: '--xds-max-streams-per-connection', option: 'xdsMaxStreamsPerConnection', kind: 'count', help: 'streams open at once on one xDS connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS)' },
  { key: 'maxSessionMemoryMiB', flag: '--xds-max-session-memory', option: 'xdsMaxSessionMemory', kind: 'count', arg: '<MiB>', help: 'MiB of HTTP/2 state per xDS connection; past it the connection refuses new streams' },
  { key: 'connectionIdleMs', flag: '--xds-connection-idle-timeout', option: 'xdsConnectionIdleTimeout', kind: 'duration', help: 'close an xDS connection that has had no stream for this long' },
  { key: 'maxConnectionAgeMs', flag: '--xds-max-connection-age', option: 'xdsMaxConnectionAge', kind: 'duration', help: 'ask proxies to reconnect after this long (±10%), spreading them over replicas again; 0: never', zeroIsOff: true },
  { key: 'maxConnectionAgeGraceMs', flag: '--xds-max-connection-age-grace', option: 'xdsMaxConnectionAgeGrace', kind: 'duration', help: 'after that, how long open streams may go on before the connection is cut' },
  { key: 'maxStreamsPerProxy', flag: '--xds-max-streams-per-proxy', option: 'xdsMaxStreamsPerProxy', kind: 'count', help: 'authenticated xDS streams one proxy may hold open at once' },
  { key: 'maxNamesPerType', flag: '--xds-max-names-per-type', option: 'xdsMaxNamesPerType', kind: 'count', help: 'resource names one xDS stream may subscribe to, per type' },
];

const UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, kib: 1024, k: 1024, kb: 1024, mib: 1024 * 1024, m: 1024 * 1024, mb: 1024 * 1024 };

function showDefault(flag: Flag): string {
  const value = DEFAULT_XDS_LIMITS[flag.key];
  if (flag.kind === 'bytes') return value % (1024 * 1024) === 0 ? `${value / (1024 * 1024)}MiB` : `${value / 1024}KiB`;
  if (flag.kind === 'duration') return value % 60_000 === 0 ? `${value / 60_000}m` : `${value / 1000}s`;
  return String(value);
}

function parse(flag: Flag, text: string): number {
  const fail = (expected: string): never => {
    throw new Error(`invalid ${flag.flag} ${JSON.stringify(text)}: expected ${expected}`);
  };
  let value: number | undefined;
  if (flag.kind === 'duration') {
    const seconds = parseDuration(text);
    value = seconds === undefined ? undefined : Math.round(seconds * 1000);
    if (value === undefined) fail('a duration such as 10s, 5m or 1h');
  } else if (flag.kind === 'bytes') {
    const match = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
    const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
    if (!match || unit === undefined) fail('a size such as 4MiB, 256KiB or a number of bytes');
    value = Number(match![1]) * unit!;
  } else {
    value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : undefined;
    if (value === undefined) fail('a whole number');
  }
  if (!Number.isSafeInteger(value) || value! < 0 || (value === 0 && !flag.zeroIsOff)) fail(flag.zeroIsOff ? 'a value of 0 (off) or more' : 'a value above 0');
  return value!;
}

/** Adds the flags to `serve`. */
export function addXdsLimitFlags(command: Command): Command {
  for (const flag of FLAGS) {
    const arg = flag.arg ?? (flag.kind === 'bytes' ? '<size>' : flag.kind === 'duration' ? '<duration>' : '<n>');
    command.option(`${flag.flag} ${arg}`, `${flag.help} (default ${showDefault(flag)})`);
  }
  return command;
}

/** The limits the flags set (commander's option values, by option name); the others keep their defaults. */
export function xdsLimitsFromFlags(values: Readonly<Record<string, unknown>>): Partial<XdsLimits> {
  const limits: Partial<Record<keyof XdsLimits, number>> = {};
  for (const flag of FLAGS) {
    const text = values[flag.option];
    if (typeof text === 'string') limits[flag.key] = parse(flag, text);
  }
  return limits;
}

/**
 * Kuma / Go style durations (`30d`, `10y`, `1h30m`, `500ms`) in seconds. Kuma extends Go's
 * `time.ParseDuration` with `d` (24h) and `y` (365d) for certificate lifetimes.
 */
const UNIT_SECONDS: Readonly<Record<string, number>> = {
  ns: 1e-9,
  us: 1e-6,
  'µs': 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
  y: 365 * 86_400,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|y)/y;

/** Seconds, or undefined when `s` is not a non-negative duration. A bare `0` is accepted, as in Go. */
export function parseDuration(s: string): number | undefined {
  const text = s.trim();
  if (text === '0') return 0;
  if (text === '') return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const match = PART.exec(text);
    if (!match) return undefined;
    const [, amount = '', unit = ''] = match;
    const factor = UNIT_SECONDS[unit];
    if (factor === undefined) return undefined;
    total += Number(amount) * factor;
  }
  return Number.isFinite(total) ? total : undefined;
}

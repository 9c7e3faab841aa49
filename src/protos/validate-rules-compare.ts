/**
 * Value conversion and the shared const / in / not_in / lt-lte-gt-gte logic of
 * protoc-gen-validate, used for numbers, enums, durations and timestamps.
 */
import { isRecord, type Issue, type Rules } from './validate-rules-options.js';

/** A comparable value: bigint for integers and durations in nanoseconds, number for floats. */
export type Num = number | bigint;

interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
}

function isLongLike(value: unknown): value is LongLike {
  return isRecord(value) && typeof value.low === 'number' && typeof value.high === 'number';
}

/** Integer (number, numeric string, bigint or protobufjs Long) → bigint. */
export function toBigInt(value: unknown): bigint | undefined {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? BigInt(Math.trunc(value)) : undefined;
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return BigInt(value.trim());
  if (isLongLike(value)) {
    const bits = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
    return value.unsigned ? bits : BigInt.asIntN(64, bits);
  }
  return undefined;
}

export function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value);
  const big = toBigInt(value);
  return big === undefined ? undefined : Number(big);
}

const NANOS_PER_SECOND = 1_000_000_000n;

/** A Duration or Timestamp (message or `{ seconds, nanos }` rule literal) → nanoseconds. */
export function toNanos(value: unknown): bigint | undefined {
  if (!isRecord(value)) return undefined;
  const seconds = value.seconds === undefined || value.seconds === null ? 0n : toBigInt(value.seconds);
  const nanos = value.nanos === undefined || value.nanos === null ? 0n : toBigInt(value.nanos);
  if (seconds === undefined || nanos === undefined) return undefined;
  return seconds * NANOS_PER_SECOND + nanos;
}

export function formatNanos(nanos: bigint): string {
  const sign = nanos < 0n ? '-' : '';
  const abs = nanos < 0n ? -nanos : nanos;
  const frac = (abs % NANOS_PER_SECOND).toString().padStart(9, '0').replace(/0+$/, '');
  return `${sign}${abs / NANOS_PER_SECOND}${frac ? `.${frac}` : ''}s`;
}

/** A repeated option value: protobufjs gives a single element as a scalar. */
export function asList(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** How rule literals of one family are converted and shown. */
export interface NumKind {
  readonly family: string;
  convert(value: unknown): Num | undefined;
  show(value: Num): string;
}

function same(a: Num, b: Num): boolean {
  return !(a < b) && !(a > b) && !Number.isNaN(a) && !Number.isNaN(b);
}

function convertAll(kind: NumKind, value: unknown): Num[] {
  return asList(value).flatMap((v) => {
    const n = kind.convert(v);
    return n === undefined ? [] : [n];
  });
}

/** `const`, `in`, `not_in`. */
export function checkMembership(kind: NumKind, value: Num, rules: Rules): Issue[] {
  const issues: Issue[] = [];
  const constant = rules.const === undefined ? undefined : kind.convert(rules.const);
  if (constant !== undefined && !same(value, constant)) {
    issues.push({ rule: `${kind.family}.const`, message: `value must equal ${kind.show(constant)}` });
  }
  const allowed = convertAll(kind, rules.in);
  if (allowed.length > 0 && !allowed.some((a) => same(value, a))) {
    issues.push({ rule: `${kind.family}.in`, message: `value must be in list [${allowed.map(kind.show).join(', ')}]` });
  }
  const denied = convertAll(kind, rules.not_in);
  if (denied.some((d) => same(value, d))) {
    issues.push({ rule: `${kind.family}.not_in`, message: `value must not be in list [${denied.map(kind.show).join(', ')}]` });
  }
  return issues;
}

interface Bound {
  readonly key: string;
  readonly at: Num;
  readonly inclusive: boolean;
}

function bound(kind: NumKind, rules: Rules, exclusiveKey: string, inclusiveKey: string): Bound | undefined {
  for (const [key, inclusive] of [[exclusiveKey, false], [inclusiveKey, true]] as const) {
    const at = rules[key] === undefined ? undefined : kind.convert(rules[key]);
    if (at !== undefined) return { key, at, inclusive };
  }
  return undefined;
}

const belowUpper = (v: Num, b: Bound): boolean => (b.inclusive ? v <= b.at : v < b.at);
const aboveLower = (v: Num, b: Bound): boolean => (b.inclusive ? v >= b.at : v > b.at);

function describe(kind: NumKind, lower: Bound, upper: Bound): string {
  const open = lower.inclusive ? '[' : '(';
  const close = upper.inclusive ? ']' : ')';
  return `${open}${kind.show(lower.at)}, ${kind.show(upper.at)}${close}`;
}

/**
 * `lt`/`lte`/`gt`/`gte` with PGV semantics: when the upper bound is above the lower one the
 * value must lie between them; otherwise the range is exclusive and the value must lie outside.
 */
export function checkRange(kind: NumKind, value: Num, rules: Rules): Issue[] {
  const upper = bound(kind, rules, 'lt', 'lte');
  const lower = bound(kind, rules, 'gt', 'gte');
  const rule = (b: Bound): string => `${kind.family}.${b.key}`;
  if (upper && lower) {
    const below = belowUpper(value, upper);
    const above = aboveLower(value, lower);
    if (upper.at > lower.at) {
      if (below && above) return [];
      return [{ rule: rule(above ? upper : lower), message: `value must be inside range ${describe(kind, lower, upper)}` }];
    }
    if (below || above) return [];
    const range = `${upper.inclusive ? '(' : '['}${kind.show(upper.at)}, ${kind.show(lower.at)}${lower.inclusive ? ')' : ']'}`;
    return [{ rule: `${kind.family}.${upper.key}/${lower.key}`, message: `value must be outside range ${range}` }];
  }
  if (upper && !belowUpper(value, upper)) {
    return [{ rule: rule(upper), message: `value must be less than ${upper.inclusive ? 'or equal to ' : ''}${kind.show(upper.at)}` }];
  }
  if (lower && !aboveLower(value, lower)) {
    return [{ rule: rule(lower), message: `value must be greater than ${lower.inclusive ? 'or equal to ' : ''}${kind.show(lower.at)}` }];
  }
  return [];
}

export function checkOrdered(kind: NumKind, value: Num, rules: Rules): Issue[] {
  return [...checkMembership(kind, value, rules), ...checkRange(kind, value, rules)];
}

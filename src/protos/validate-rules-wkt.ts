/**
 * protoc-gen-validate rules on well-known message types: Duration, Timestamp and Any.
 * `required` is handled by the traversal (it is about presence); these check a set value.
 */
import { asList, checkOrdered, formatNanos, toNanos, type NumKind } from './validate-rules-compare.js';
import { isRecord, type Issue, type Rules } from './validate-rules-options.js';

const DURATION: NumKind = {
  family: 'duration',
  convert: toNanos,
  show: (n) => (typeof n === 'bigint' ? formatNanos(n) : String(n)),
};

const TIMESTAMP: NumKind = {
  family: 'timestamp',
  convert: toNanos,
  show: (n) => {
    if (typeof n !== 'bigint') return String(n);
    const millis = n / 1_000_000n;
    return millis >= -8_640_000_000_000_000n && millis <= 8_640_000_000_000_000n ? new Date(Number(millis)).toISOString() : `${n}ns`;
  },
};

export function checkDuration(value: unknown, rules: Rules): Issue[] {
  const nanos = toNanos(value);
  if (nanos === undefined) return [{ rule: 'duration', message: 'value is not a valid Duration' }];
  return checkOrdered(DURATION, nanos, rules);
}

function checkRelativeToNow(nanos: bigint, rules: Rules, now: bigint): Issue[] {
  const within = rules.within === undefined ? undefined : toNanos(rules.within);
  if (rules.lt_now === true && nanos >= now) return [{ rule: 'timestamp.lt_now', message: 'value must be less than now' }];
  if (rules.gt_now === true && nanos <= now) return [{ rule: 'timestamp.gt_now', message: 'value must be greater than now' }];
  if (within !== undefined) {
    const distance = nanos > now ? nanos - now : now - nanos;
    if (distance > within) return [{ rule: 'timestamp.within', message: `value must be within ${formatNanos(within)} of now` }];
  }
  return [];
}

export function checkTimestamp(value: unknown, rules: Rules, now: Date = new Date()): Issue[] {
  const nanos = toNanos(value);
  if (nanos === undefined) return [{ rule: 'timestamp', message: 'value is not a valid Timestamp' }];
  const nowNanos = BigInt(now.getTime()) * 1_000_000n;
  return [...checkOrdered(TIMESTAMP, nanos, rules), ...checkRelativeToNow(nanos, rules, nowNanos)];
}

/** `any.in` / `any.not_in` compare the type URL. */
export function checkAnyTypeUrl(value: unknown, rules: Rules): Issue[] {
  const typeUrl = isRecord(value) && typeof value.type_url === 'string' ? value.type_url : '';
  const allowed = asList(rules.in).map(String);
  const denied = asList(rules.not_in).map(String);
  if (allowed.length > 0 && !allowed.includes(typeUrl)) {
    return [{ rule: 'any.in', message: `type URL ${JSON.stringify(typeUrl)} must be in list ${JSON.stringify(allowed)}` }];
  }
  if (denied.includes(typeUrl)) {
    return [{ rule: 'any.not_in', message: `type URL ${JSON.stringify(typeUrl)} must not be in list ${JSON.stringify(denied)}` }];
  }
  return [];
}

/**
 * protoc-gen-validate rules on scalar values: numbers, bool, enum, string and bytes.
 * Each check takes the (already unwrapped) value and the family's rule body.
 */
import type protobuf from 'protobufjs';
import { asList, checkMembership, checkOrdered, toBigInt, toNumber, type NumKind } from './validate-rules-compare.js';
import { isEmail, isHostname, isIp, isIpv4, isIpv6, isUri, isUriRef, isUuid, re2, wellKnownPattern } from './validate-rules-formats.js';
import type { Issue, Rules } from './validate-rules-options.js';

export const NUMERIC_FAMILIES = new Set([
  'float', 'double', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'fixed32', 'fixed64', 'sfixed32', 'sfixed64',
]);

function numKind(family: string): NumKind {
  if (family === 'float' || family === 'double') {
    // Float rule literals are float32 in the descriptor, so round them like the field value.
    const round = family === 'float' ? Math.fround : (n: number): number => n;
    return {
      family,
      convert: (v) => {
        const n = toNumber(v);
        return n === undefined ? undefined : round(n);
      },
      show: String,
    };
  }
  const unsigned64 = family === 'uint64' || family === 'fixed64';
  return {
    family,
    convert: (v) => {
      const n = toBigInt(v);
      return n === undefined || !unsigned64 ? n : BigInt.asUintN(64, n);
    },
    show: String,
  };
}

export function checkNumeric(family: string, value: unknown, rules: Rules): Issue[] {
  const kind = numKind(family);
  const n = kind.convert(value ?? 0);
  if (n === undefined) return [{ rule: family, message: `value ${String(value)} is not a ${family}` }];
  if (rules.ignore_empty === true && (n === 0 || n === 0n)) return [];
  return checkOrdered(kind, n, rules);
}

export function checkBool(value: unknown, rules: Rules): Issue[] {
  const actual = value === true;
  if (typeof rules.const === 'boolean' && actual !== rules.const) {
    return [{ rule: 'bool.const', message: `value must equal ${String(rules.const)}` }];
  }
  return [];
}

const ENUM_KIND: NumKind = { family: 'enum', convert: toNumber, show: String };

export function checkEnum(value: unknown, rules: Rules, type: protobuf.Enum | undefined): Issue[] {
  const n = typeof value === 'string' && type ? type.values[value] : toNumber(value ?? 0);
  if (n === undefined) return [{ rule: 'enum.defined_only', message: `value ${String(value)} is not a defined enum value` }];
  const issues = checkMembership(ENUM_KIND, n, rules);
  if (rules.defined_only === true && type && type.valuesById[n] === undefined) {
    issues.push({ rule: 'enum.defined_only', message: `value ${n} must be one of the defined enum values of ${type.name}` });
  }
  return issues;
}

function checkPattern(family: string, text: string, pattern: string, rule: string): Issue[] {
  const regex = re2(pattern);
  if (regex instanceof Error) return [{ rule, message: `pattern ${JSON.stringify(pattern)} is not valid RE2: ${regex.message}` }];
  return regex.test(text) ? [] : [{ rule, message: `value does not match ${family} pattern ${JSON.stringify(pattern)}` }];
}

function checkLengths(family: string, length: number, rules: Rules, keys: readonly [string, string, string], unit: string): Issue[] {
  const [exact, min, max] = keys;
  const issues: Issue[] = [];
  const at = (key: string): number | undefined => (rules[key] === undefined ? undefined : toNumber(rules[key]));
  const [e, lo, hi] = [at(exact), at(min), at(max)];
  if (e !== undefined && length !== e) issues.push({ rule: `${family}.${exact}`, message: `value length must be ${e} ${unit}` });
  if (lo !== undefined && length < lo) issues.push({ rule: `${family}.${min}`, message: `value length must be at least ${lo} ${unit}` });
  if (hi !== undefined && length > hi) issues.push({ rule: `${family}.${max}`, message: `value length must be at most ${hi} ${unit}` });
  return issues;
}

function checkInList(family: string, value: string, rules: Rules, key: (v: unknown) => string = String): Issue[] {
  const issues: Issue[] = [];
  const allowed = asList(rules.in).map(key);
  if (allowed.length > 0 && !allowed.includes(value)) {
    issues.push({ rule: `${family}.in`, message: `value must be in list ${JSON.stringify(allowed)}` });
  }
  const denied = asList(rules.not_in).map(key);
  if (denied.includes(value)) issues.push({ rule: `${family}.not_in`, message: `value must not be in list ${JSON.stringify(denied)}` });
  return issues;
}

type Affix = 'prefix' | 'suffix' | 'contains' | 'not_contains';

function affixHolds(text: string, affix: Affix, part: string): boolean {
  if (affix === 'prefix') return text.startsWith(part);
  if (affix === 'suffix') return text.endsWith(part);
  if (affix === 'contains') return text.includes(part);
  return !text.includes(part);
}

function checkAffixes(family: string, text: string, rules: Rules, toText: (v: unknown) => string): Issue[] {
  const affixes: Affix[] = ['prefix', 'suffix', 'contains', 'not_contains'];
  return affixes.flatMap((affix) => {
    if (rules[affix] === undefined) return [];
    const part = toText(rules[affix]);
    return affixHolds(text, affix, part) ? [] : [{ rule: `${family}.${affix}`, message: `value fails ${affix} ${JSON.stringify(part)}` }];
  });
}

const STRING_FORMATS: ReadonlyArray<readonly [string, (s: string) => boolean, string]> = [
  ['email', isEmail, 'a valid email address'],
  ['hostname', isHostname, 'a valid hostname'],
  ['ip', isIp, 'a valid IP address'],
  ['ipv4', isIpv4, 'a valid IPv4 address'],
  ['ipv6', isIpv6, 'a valid IPv6 address'],
  ['uri', isUri, 'an absolute URI'],
  ['uri_ref', isUriRef, 'a valid URI reference'],
  ['address', (s) => isHostname(s) || isIp(s), 'a valid hostname or IP address'],
  ['uuid', isUuid, 'a valid UUID'],
];

function checkStringFormats(text: string, rules: Rules): Issue[] {
  const issues: Issue[] = STRING_FORMATS.flatMap(([key, test, what]) =>
    rules[key] === true && !test(text) ? [{ rule: `string.${key}`, message: `value must be ${what}` }] : [],
  );
  if (rules.well_known_regex !== undefined) issues.push(...checkWellKnownRegex(text, rules.well_known_regex, rules.strict !== false));
  return issues;
}

function checkWellKnownRegex(text: string, which: unknown, strict: boolean): Issue[] {
  if (which === 'UNKNOWN' || which === 0) return [];
  const known = wellKnownPattern(which, strict);
  if (!known) {
    return [{ rule: 'unsupported-rule:string.well_known_regex', message: `well_known_regex ${String(which)} is not supported by this checker` }];
  }
  const mismatches = checkPattern('string', text, known.pattern, 'string.well_known_regex');
  return mismatches.map((issue) => ({ ...issue, message: `value must be a valid ${known.name} (${issue.message})` }));
}

export function checkString(value: unknown, rules: Rules): Issue[] {
  const text = typeof value === 'string' ? value : '';
  if (rules.ignore_empty === true && text === '') return [];
  const issues: Issue[] = [];
  if (typeof rules.const === 'string' && text !== rules.const) {
    issues.push({ rule: 'string.const', message: `value must equal ${JSON.stringify(rules.const)}` });
  }
  issues.push(...checkInList('string', text, rules));
  issues.push(...checkLengths('string', [...text].length, rules, ['len', 'min_len', 'max_len'], 'characters'));
  issues.push(...checkLengths('string', Buffer.byteLength(text, 'utf8'), rules, ['len_bytes', 'min_bytes', 'max_bytes'], 'bytes'));
  issues.push(...checkAffixes('string', text, rules, String));
  issues.push(...checkStringFormats(text, rules));
  if (typeof rules.pattern === 'string') issues.push(...checkPattern('string', text, rules.pattern, 'string.pattern'));
  return issues;
}

/** Bytes rule literals come from the proto text as strings of byte-valued characters. */
const literalBytes = (v: unknown): Buffer => (v instanceof Uint8Array ? Buffer.from(v) : Buffer.from(String(v), 'latin1'));

const IP_BYTE_LENGTHS: ReadonlyArray<readonly [string, readonly number[], string]> = [
  ['ip', [4, 16], 'a valid IP address (4 or 16 bytes)'],
  ['ipv4', [4], 'a valid IPv4 address (4 bytes)'],
  ['ipv6', [16], 'a valid IPv6 address (16 bytes)'],
];

function checkIpBytes(bytes: Buffer, rules: Rules): Issue[] {
  return IP_BYTE_LENGTHS.flatMap(([key, lengths, what]) =>
    rules[key] === true && !lengths.includes(bytes.length) ? [{ rule: `bytes.${key}`, message: `value must be ${what}` }] : [],
  );
}

export function checkBytes(value: unknown, rules: Rules): Issue[] {
  const bytes = value instanceof Uint8Array ? Buffer.from(value) : Buffer.alloc(0);
  if (rules.ignore_empty === true && bytes.length === 0) return [];
  const latin1 = bytes.toString('latin1');
  const issues: Issue[] = [];
  if (rules.const !== undefined && !bytes.equals(literalBytes(rules.const))) {
    issues.push({ rule: 'bytes.const', message: 'value must equal the const bytes' });
  }
  issues.push(...checkInList('bytes', latin1, rules, (v) => literalBytes(v).toString('latin1')));
  issues.push(...checkLengths('bytes', bytes.length, rules, ['len', 'min_len', 'max_len'], 'bytes'));
  issues.push(...checkAffixes('bytes', latin1, rules, (v) => literalBytes(v).toString('latin1')));
  issues.push(...checkIpBytes(bytes, rules));
  // RE2 here runs in UTF-8 mode, so a bytes pattern sees the value decoded as UTF-8.
  if (typeof rules.pattern === 'string') issues.push(...checkPattern('bytes', bytes.toString('utf8'), rules.pattern, 'bytes.pattern'));
  return issues;
}

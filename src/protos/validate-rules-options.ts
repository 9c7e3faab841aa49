/**
 * Reading protoc-gen-validate options off the protobufjs reflection tree, and the table of
 * rule kinds the checker in ./validate-rules.ts understands.
 */
import protobuf from 'protobufjs';

/** A rule set as protobufjs parses it from the proto text, e.g. `{ string: { min_len: 1 } }`. */
export type Rules = Readonly<Record<string, unknown>>;

/** A violation before it is placed at a path. */
export interface Issue {
  readonly rule: string;
  readonly message: string;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const NUMERIC_KEYS = ['const', 'lt', 'lte', 'gt', 'gte', 'in', 'not_in', 'ignore_empty'];

/** Every rule kind (`<family>.<key>`) the checker evaluates. Anything else is reported. */
export const SUPPORTED_RULES: Readonly<Record<string, readonly string[]>> = {
  float: NUMERIC_KEYS,
  double: NUMERIC_KEYS,
  int32: NUMERIC_KEYS,
  int64: NUMERIC_KEYS,
  uint32: NUMERIC_KEYS,
  uint64: NUMERIC_KEYS,
  sint32: NUMERIC_KEYS,
  sint64: NUMERIC_KEYS,
  fixed32: NUMERIC_KEYS,
  fixed64: NUMERIC_KEYS,
  sfixed32: NUMERIC_KEYS,
  sfixed64: NUMERIC_KEYS,
  bool: ['const'],
  string: [
    'const', 'len', 'min_len', 'max_len', 'len_bytes', 'min_bytes', 'max_bytes', 'pattern',
    'prefix', 'suffix', 'contains', 'not_contains', 'in', 'not_in', 'email', 'hostname', 'ip',
    'ipv4', 'ipv6', 'uri', 'uri_ref', 'address', 'uuid', 'well_known_regex', 'strict', 'ignore_empty',
  ],
  bytes: [
    'const', 'len', 'min_len', 'max_len', 'pattern', 'prefix', 'suffix', 'contains', 'in', 'not_in',
    'ip', 'ipv4', 'ipv6', 'ignore_empty',
  ],
  enum: ['const', 'defined_only', 'in', 'not_in'],
  message: ['skip', 'required'],
  repeated: ['min_items', 'max_items', 'unique', 'items', 'ignore_empty'],
  map: ['min_pairs', 'max_pairs', 'no_sparse', 'keys', 'values', 'ignore_empty'],
  any: ['required', 'in', 'not_in'],
  duration: ['required', 'const', 'lt', 'lte', 'gt', 'gte', 'in', 'not_in'],
  timestamp: ['required', 'const', 'lt', 'lte', 'gt', 'gte', 'lt_now', 'gt_now', 'within'],
};

/** Sub-rule keys whose value is itself a full rule set (FieldRules). */
const NESTED_RULE_KEYS = new Set(['repeated.items', 'map.keys', 'map.values']);

function deepMerge(a: unknown, b: unknown): unknown {
  if (!isRecord(a) || !isRecord(b)) return b;
  const out: Record<string, unknown> = { ...a };
  for (const [key, value] of Object.entries(b)) out[key] = deepMerge(out[key], value);
  return out;
}

/** The value of option `name` (e.g. `(validate.rules)`), merged over all its declarations. */
export function optionValue(obj: protobuf.ReflectionObject, name: string): unknown {
  const declared: unknown = obj.parsedOptions;
  if (!Array.isArray(declared)) return undefined;
  let merged: unknown;
  for (const entry of declared) {
    if (isRecord(entry) && name in entry) merged = deepMerge(merged, entry[name]);
  }
  return merged;
}

/** `(validate.*)` options on `obj` other than the `known` ones: reported as unsupported. */
export function unknownValidateOptions(obj: protobuf.ReflectionObject, known: readonly string[]): string[] {
  const declared: unknown = obj.parsedOptions;
  if (!Array.isArray(declared)) return [];
  const names = declared.flatMap((entry) => (isRecord(entry) ? Object.keys(entry) : []));
  return [...new Set(names.filter((name) => name.startsWith('(validate.') && !known.includes(name)))];
}

export function optionIsTrue(obj: protobuf.ReflectionObject, name: string): boolean {
  return optionValue(obj, name) === true;
}

const rulesCache = new WeakMap<protobuf.Field, Rules | null>();

/** The `(validate.rules)` of a field, or undefined when it declares none. */
export function fieldRules(field: protobuf.Field): Rules | undefined {
  let cached = rulesCache.get(field);
  if (cached === undefined) {
    const value = optionValue(field, '(validate.rules)');
    cached = isRecord(value) ? value : null;
    rulesCache.set(field, cached);
  }
  return cached ?? undefined;
}

/** Every rule kind in a rule set as `<family>.<key>`, including those of items/keys/values. */
export function ruleKinds(rules: Rules): string[] {
  const kinds: string[] = [];
  for (const [family, body] of Object.entries(rules)) {
    if (!isRecord(body)) {
      kinds.push(family);
      continue;
    }
    for (const [key, value] of Object.entries(body)) {
      kinds.push(`${family}.${key}`);
      if (NESTED_RULE_KEYS.has(`${family}.${key}`) && isRecord(value)) kinds.push(...ruleKinds(value));
    }
  }
  return kinds;
}

export function isSupportedKind(kind: string): boolean {
  const [family, key] = kind.split('.', 2);
  return key !== undefined && (SUPPORTED_RULES[family]?.includes(key) ?? false);
}

export function unsupportedKinds(rules: Rules): string[] {
  return ruleKinds(rules).filter((kind) => !isSupportedKind(kind));
}

/** Every distinct rule kind used by any field under `ns`, e.g. for a coverage check. */
export function collectRuleKinds(ns: protobuf.NamespaceBase, into = new Set<string>()): Set<string> {
  for (const nested of ns.nestedArray) {
    if (nested instanceof protobuf.Type) {
      for (const field of nested.fieldsArray) {
        const rules = fieldRules(field);
        if (rules) for (const kind of ruleKinds(rules)) into.add(kind);
      }
    }
    if (nested instanceof protobuf.Namespace) collectRuleKinds(nested, into);
  }
  return into;
}

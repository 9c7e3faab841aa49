/**
 * The traversal behind ./validate-rules.ts: walks a protobufjs message of any loaded root and
 * applies the `(validate.rules)` of every field, recursing into messages, repeated fields, maps
 * and `google.protobuf.Any` (decoded through the same root).
 */
import protobuf from 'protobufjs';
import type { RuleViolation } from './validate-rules.js';
import { toBigInt } from './validate-rules-compare.js';
import { ANY, WRAPPERS, families, familyFits, misfits, slotOf, subRules, type Slot } from './validate-rules-fit.js';
import { fieldRules, isRecord, optionIsTrue, unknownValidateOptions, unsupportedKinds, type Issue, type Rules } from './validate-rules-options.js';
import { checkBool, checkBytes, checkEnum, checkNumeric, checkString, NUMERIC_FAMILIES } from './validate-rules-scalars.js';
import { checkAnyTypeUrl, checkDuration, checkTimestamp } from './validate-rules-wkt.js';

interface Walk {
  readonly root: protobuf.Root;
  readonly now: Date;
  readonly out: RuleViolation[];
}

/** Every rule violation in `message` (of `type`, from `root`), with paths relative to it. */
export function walkMessage(root: protobuf.Root, type: protobuf.Type, message: protobuf.Message): RuleViolation[] {
  const walk: Walk = { root, now: new Date(), out: [] };
  checkMessage(walk, type, message, '');
  return walk.out;
}

export const typeNameOf = (typeUrl: string): string => typeUrl.slice(typeUrl.lastIndexOf('/') + 1);

export function lookupMessageType(root: protobuf.Root, name: string): protobuf.Type | undefined {
  if (name === '') return undefined;
  const found = root.lookup(name.startsWith('.') ? name : `.${name}`);
  return found instanceof protobuf.Type ? found : undefined;
}

export const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export const unknownType = (path: string, typeUrl: string): RuleViolation => ({
  path,
  rule: 'unknown-type',
  message: `unknown type ${JSON.stringify(typeUrl)}: not in the loaded Envoy protos`,
});

const join = (path: string, name: string): string => (path === '' ? name : `${path}.${name}`);

function report(walk: Walk, path: string, issues: readonly Issue[]): void {
  for (const issue of issues) walk.out.push({ path, rule: issue.rule, message: issue.message });
}

/** Proto field presence: oneof members (and proto3 `optional`) count only when explicitly set. */
function isSet(message: protobuf.Message, field: protobuf.Field): boolean {
  return Object.prototype.hasOwnProperty.call(message, field.name) && fieldValue(message, field) != null;
}

const fieldValue = (message: protobuf.Message, field: protobuf.Field): unknown =>
  (message as unknown as Record<string, unknown>)[field.name];

function checkMessage(walk: Walk, type: protobuf.Type, message: protobuf.Message, path: string): void {
  report(walk, path, unknownOptions(type, ['(validate.disabled)', '(validate.ignored)']));
  if (optionIsTrue(type, '(validate.disabled)') || optionIsTrue(type, '(validate.ignored)')) return;
  for (const field of type.fieldsArray) checkField(walk, field, message, path);
  for (const oneof of type.oneofsArray) checkOneof(walk, oneof, message, join(path, oneof.name));
}

function checkOneof(walk: Walk, oneof: protobuf.OneOf, message: protobuf.Message, path: string): void {
  report(walk, path, unknownOptions(oneof, ['(validate.required)']));
  if (optionIsTrue(oneof, '(validate.required)') && !oneof.fieldsArray.some((f) => isSet(message, f))) {
    const members = oneof.fieldsArray.map((f) => f.name).join(', ');
    report(walk, path, [{ rule: 'oneof.required', message: `exactly one of ${members} is required` }]);
  }
}

/** Problems that depend only on the descriptor are computed once per reflection object. */
const descriptorProblems = new WeakMap<protobuf.ReflectionObject, Issue[]>();

function memo(obj: protobuf.ReflectionObject, compute: () => Issue[]): Issue[] {
  let issues = descriptorProblems.get(obj);
  if (!issues) descriptorProblems.set(obj, (issues = compute()));
  return issues;
}

const unsupported = (name: string): Issue => ({ rule: `unsupported-rule:${name}`, message: `${name} is not supported by this checker` });

const unknownOptions = (obj: protobuf.ReflectionObject, known: readonly string[]): Issue[] =>
  memo(obj, () => unknownValidateOptions(obj, known).map(unsupported));

function checkField(walk: Walk, field: protobuf.Field, message: protobuf.Message, path: string): void {
  const rules = fieldRules(field);
  const fieldPath = join(path, field.name);
  report(walk, fieldPath, staticProblems(field, rules ?? {}));
  if (field.partOf && !isSet(message, field)) return;
  const value = fieldValue(message, field);
  if (field instanceof protobuf.MapField) checkMap(walk, field, value, rules, fieldPath);
  else if (field.repeated) checkRepeated(walk, field, value, rules, fieldPath);
  else checkValue(walk, slotOf(field), value, rules, fieldPath);
}

/** Unknown rule kinds and rule families that do not fit the field type: reported, never ignored. */
function staticProblems(field: protobuf.Field, rules: Rules): Issue[] {
  return memo(field, () => [
    ...unsupportedKinds(rules).map(unsupported),
    ...misfits(field, rules),
    ...unknownValidateOptions(field, ['(validate.rules)']).map(unsupported),
  ]);
}

/** The fitting rule families of a rule set (misfits were reported by staticProblems). */
const fitting = (rules: Rules | undefined, slot: Slot): Array<[string, Rules]> =>
  families(rules).filter(([family, body]) => familyFits(family, slot, body));

/** Rules of a single value: a singular field, a repeated element, or a map value. */
function checkValue(walk: Walk, slot: Slot, value: unknown, rules: Rules | undefined, path: string): void {
  if (slot.resolved instanceof protobuf.Type) {
    checkMessageValue(walk, slot.resolved, value, rules, path);
    return;
  }
  report(walk, path, scalarIssues(slot, value, rules));
}

function scalarIssues(slot: Slot, value: unknown, rules: Rules | undefined): Issue[] {
  return fitting(rules, slot).flatMap(([family, body]) =>
    slot.resolved instanceof protobuf.Enum ? checkEnum(value, body, slot.resolved) : checkPrimitive(family, value, body),
  );
}

function checkPrimitive(family: string, value: unknown, body: Rules): Issue[] {
  if (NUMERIC_FAMILIES.has(family)) return checkNumeric(family, value, body);
  if (family === 'bool') return checkBool(value, body);
  if (family === 'string') return checkString(value, body);
  if (family === 'bytes') return checkBytes(value, body);
  return [];
}

function checkMessageValue(walk: Walk, type: protobuf.Type, value: unknown, rules: Rules | undefined, path: string): void {
  const slot: Slot = { type: type.fullName, resolved: type };
  const present = value instanceof protobuf.Message;
  const issues = fitting(rules, slot).flatMap(([family, body]) =>
    present ? checkSetMessage(walk, type, family, body, value) : checkAbsentMessage(family, body),
  );
  report(walk, path, issues);
  const skip = subRules(rules, 'message')?.skip === true;
  if (!present || skip) return;
  if (type.fullName === ANY) checkAnyContents(walk, value, path);
  else checkMessage(walk, type, value, path);
}

/** message/duration/timestamp/any `required`: the only rules that apply to an unset message. */
function checkAbsentMessage(family: string, body: Rules): Issue[] {
  return body.required === true ? [{ rule: `${family}.required`, message: 'value is required' }] : [];
}

function checkSetMessage(walk: Walk, type: protobuf.Type, family: string, body: Rules, value: protobuf.Message): Issue[] {
  if (family === 'duration') return checkDuration(value, body);
  if (family === 'timestamp') return checkTimestamp(value, body, walk.now);
  if (family === 'any') return type.fullName === ANY ? checkAnyTypeUrl(value, body) : [];
  if (WRAPPERS[type.fullName] === family) return checkPrimitive(family, (value as unknown as Record<string, unknown>).value, body);
  return [];
}

function checkAnyContents(walk: Walk, any: protobuf.Message, path: string): void {
  const fields = any as unknown as Record<string, unknown>;
  const typeUrl = typeof fields.type_url === 'string' ? fields.type_url : '';
  const inner = lookupMessageType(walk.root, typeNameOf(typeUrl));
  if (!inner) {
    walk.out.push(unknownType(path, typeUrl));
    return;
  }
  let decoded: protobuf.Message;
  try {
    decoded = inner.decode(fields.value instanceof Uint8Array ? fields.value : new Uint8Array());
  } catch (error) {
    walk.out.push({ path, rule: 'decode-error', message: `cannot decode Any of ${typeUrl}: ${errorText(error)}` });
    return;
  }
  checkMessage(walk, inner, decoded, path);
}

function countIssues(family: string, count: number, body: Rules, minKey: string, maxKey: string, unit: string): Issue[] {
  const min = toBigInt(body[minKey]);
  const max = toBigInt(body[maxKey]);
  const n = BigInt(count);
  if (min !== undefined && n < min) return [{ rule: `${family}.${minKey}`, message: `value must contain at least ${min} ${unit}` }];
  if (max !== undefined && n > max) return [{ rule: `${family}.${maxKey}`, message: `value must contain no more than ${max} ${unit}` }];
  return [];
}

function checkRepeated(walk: Walk, field: protobuf.Field, value: unknown, rules: Rules | undefined, path: string): void {
  const list: unknown[] = Array.isArray(value) ? value : [];
  const slot = slotOf(field);
  const body = subRules(rules, 'repeated');
  if (body && !(body.ignore_empty === true && list.length === 0)) {
    report(walk, path, countIssues('repeated', list.length, body, 'min_items', 'max_items', 'item(s)'));
    if (body.unique === true) checkUnique(walk, list, path);
  }
  const items = subRules(body, 'items');
  list.forEach((element, index) => checkValue(walk, slot, element, items, `${path}[${index}]`));
}

function uniqueKey(value: unknown): string {
  if (value instanceof Uint8Array) return `bytes:${Buffer.from(value).toString('hex')}`;
  const big = typeof value === 'object' ? toBigInt(value) : undefined;
  return big === undefined ? `${typeof value}:${String(value)}` : `bigint:${big}`;
}

function checkUnique(walk: Walk, list: readonly unknown[], path: string): void {
  const seen = new Set<string>();
  list.forEach((element, index) => {
    const key = uniqueKey(element);
    if (seen.has(key)) {
      report(walk, `${path}[${index}]`, [{ rule: 'repeated.unique', message: 'repeated value must contain unique items' }]);
    }
    seen.add(key);
  });
}

/** protobufjs keys maps by string; 64-bit keys of decoded maps are 8-character long hashes. */
function mapKey(keyType: string, key: string): unknown {
  if (keyType === 'string') return key;
  if (keyType === 'bool') return key === 'true';
  if (/64$/.test(keyType) && !/^-?\d+$/.test(key) && key.length === 8) {
    return protobuf.util.LongBits.fromHash(key).toLong(keyType.startsWith('u') || keyType === 'fixed64');
  }
  return /64$/.test(keyType) ? key : Number(key);
}

function checkMap(walk: Walk, field: protobuf.MapField, value: unknown, rules: Rules | undefined, path: string): void {
  const entries = isRecord(value) ? Object.entries(value) : [];
  const valueSlot = slotOf(field);
  const body = subRules(rules, 'map');
  if (body && !(body.ignore_empty === true && entries.length === 0)) {
    report(walk, path, countIssues('map', entries.length, body, 'min_pairs', 'max_pairs', 'pair(s)'));
  }
  const keyRules = subRules(body, 'keys');
  const valueRules = subRules(body, 'values');
  const keySlot: Slot = { type: field.keyType, resolved: null };
  for (const [key, entry] of entries) {
    const keyValue = mapKey(field.keyType, key);
    const entryPath = `${path}[${JSON.stringify(typeof keyValue === 'object' ? String(toBigInt(keyValue)) : key)}]`;
    const keyIssues = scalarIssues(keySlot, keyValue, keyRules);
    report(walk, entryPath, keyIssues.map((issue) => ({ rule: `map.keys.${issue.rule}`, message: `key ${issue.message}` })));
    if (body?.no_sparse === true && (entry === null || entry === undefined)) {
      report(walk, entryPath, [{ rule: 'map.no_sparse', message: 'map value cannot be sparse, all pairs must be non-nil' }]);
    }
    checkValue(walk, valueSlot, entry, valueRules, entryPath);
  }
}

/**
 * Which rule family applies to which field type (PGV's MustType): `string` rules to string
 * fields and StringValue wrappers, `duration` rules to Duration fields, and so on. Rules that do
 * not fit their field are reported rather than silently ignored.
 */
import protobuf from 'protobufjs';
import { isRecord, SUPPORTED_RULES, type Issue, type Rules } from './validate-rules-options.js';

/** The type of one value: a field, a repeated element, a map key or a map value. */
export interface Slot {
  readonly type: string;
  readonly resolved: protobuf.Type | protobuf.Enum | null;
}

export const ANY = '.google.protobuf.Any';
export const DURATION = '.google.protobuf.Duration';
export const TIMESTAMP = '.google.protobuf.Timestamp';

/** Wrapper message → the scalar rule family that applies to its `value`. */
export const WRAPPERS: Readonly<Record<string, string>> = {
  '.google.protobuf.DoubleValue': 'double',
  '.google.protobuf.FloatValue': 'float',
  '.google.protobuf.Int64Value': 'int64',
  '.google.protobuf.UInt64Value': 'uint64',
  '.google.protobuf.Int32Value': 'int32',
  '.google.protobuf.UInt32Value': 'uint32',
  '.google.protobuf.BoolValue': 'bool',
  '.google.protobuf.StringValue': 'string',
  '.google.protobuf.BytesValue': 'bytes',
};

export const slotOf = (field: protobuf.FieldBase): Slot => ({ type: field.type, resolved: field.resolvedType });

/** The rule families of a rule set with their bodies (a malformed body is reported as unsupported). */
export function families(rules: Rules | undefined): Array<[string, Rules]> {
  if (!rules) return [];
  return Object.entries(rules).flatMap(([family, body]) => (isRecord(body) ? [[family, body] as [string, Rules]] : []));
}

/** A nested rule set, e.g. the FieldRules under `repeated.items`, or a family's body. */
export function subRules(rules: Rules | undefined, key: string): Rules | undefined {
  const value = rules?.[key];
  return isRecord(value) ? value : undefined;
}

/** Whether rules of `family` apply to a single value of `slot`. */
export function familyFits(family: string, slot: Slot, body: Rules): boolean {
  const resolved = slot.resolved;
  if (resolved instanceof protobuf.Enum) return family === 'enum';
  if (!(resolved instanceof protobuf.Type)) return family === slot.type;
  if (family === 'message') return true;
  if (family === 'duration') return resolved.fullName === DURATION;
  if (family === 'timestamp') return resolved.fullName === TIMESTAMP;
  // Envoy puts `any.required` on plain message fields; PGV accepts that as a presence check.
  if (family === 'any') return resolved.fullName === ANY || Object.keys(body).every((key) => key === 'required');
  return WRAPPERS[resolved.fullName] === family;
}

const slotName = (slot: Slot): string => (slot.resolved ? slot.resolved.fullName.replace(/^\./, '') : slot.type);

const misfit = (kind: string, target: string): Issue => ({
  rule: `unsupported-rule:${kind}`,
  message: `${kind} rules do not apply to ${target}`,
});

function misfitsOfValue(prefix: string, rules: Rules | undefined, slot: Slot): Issue[] {
  return families(rules)
    .filter(([family, body]) => family in SUPPORTED_RULES && !familyFits(family, slot, body))
    .map(([family]) => misfit(`${prefix}${family}`, `a ${slotName(slot)} value`));
}

function misfitsOfContainer(container: string, rules: Rules, element: () => Issue[]): Issue[] {
  const wrong = families(rules)
    .filter(([family]) => family in SUPPORTED_RULES && family !== container)
    .map(([family]) => misfit(family, `a ${container} field`));
  return [...wrong, ...element()];
}

/** Every rule family declared on `field` that does not apply to its type. */
export function misfits(field: protobuf.Field, rules: Rules): Issue[] {
  const slot = slotOf(field);
  if (field instanceof protobuf.MapField) {
    const body = subRules(rules, 'map');
    return misfitsOfContainer('map', rules, () => [
      ...misfitsOfValue('map.keys.', subRules(body, 'keys'), { type: field.keyType, resolved: null }),
      ...misfitsOfValue('map.values.', subRules(body, 'values'), slot),
    ]);
  }
  if (field.repeated) {
    return misfitsOfContainer('repeated', rules, () => misfitsOfValue('repeated.items.', subRules(subRules(rules, 'repeated'), 'items'), slot));
  }
  return misfitsOfValue('', rules, slot);
}

/**
 * google.protobuf.Struct (as protobufjs decodes it) ⇄ plain JSON. Used for node.metadata.
 *
 * protobufjs defines google/protobuf/struct.proto from its bundled descriptors, whose field
 * names are camelCase (`stringValue`) even when the Envoy protos are loaded with keepCase.
 * Both spellings are accepted on decode; encode uses the names the loaded type declares.
 */
import { lookupType } from '../protos/load.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function pick(v: Record<string, unknown>, camel: string, snake: string): unknown {
  return v[camel] ?? v[snake];
}

function valueToJson(value: unknown): Json {
  if (value === null || typeof value !== 'object') return null;
  const v = value as Record<string, unknown>;
  const s = pick(v, 'stringValue', 'string_value');
  if (typeof s === 'string') return s;
  const n = pick(v, 'numberValue', 'number_value');
  if (typeof n === 'number') return n;
  const b = pick(v, 'boolValue', 'bool_value');
  if (typeof b === 'boolean') return b;
  const st = pick(v, 'structValue', 'struct_value');
  if (st !== undefined && st !== null) return structToJson(st);
  const l = pick(v, 'listValue', 'list_value');
  if (l !== undefined && l !== null) {
    const list = (l as Record<string, unknown>)['values'];
    return Array.isArray(list) ? list.map(valueToJson) : [];
  }
  return null;
}

export function structToJson(struct: unknown): { [key: string]: Json } {
  if (struct === null || typeof struct !== 'object') return {};
  const fields = (struct as Record<string, unknown>)['fields'];
  if (fields === null || typeof fields !== 'object') return {};
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(fields as Record<string, unknown>)) out[key] = valueToJson(value);
  return out;
}

let valueFieldNames: { null: string; number: string; string: string; bool: string; struct: string; list: string } | undefined;
function names(): NonNullable<typeof valueFieldNames> {
  if (!valueFieldNames) {
    const camel = 'stringValue' in lookupType('google.protobuf.Value').fields;
    const n = (c: string, s: string): string => (camel ? c : s);
    valueFieldNames = {
      null: n('nullValue', 'null_value'),
      number: n('numberValue', 'number_value'),
      string: n('stringValue', 'string_value'),
      bool: n('boolValue', 'bool_value'),
      struct: n('structValue', 'struct_value'),
      list: n('listValue', 'list_value'),
    };
  }
  return valueFieldNames;
}

function jsonToValue(value: unknown): Record<string, unknown> {
  const f = names();
  if (value === null || value === undefined) return { [f.null]: 'NULL_VALUE' };
  if (typeof value === 'string') return { [f.string]: value };
  if (typeof value === 'number') return { [f.number]: value };
  if (typeof value === 'boolean') return { [f.bool]: value };
  if (Array.isArray(value)) return { [f.list]: { values: value.map(jsonToValue) } };
  return { [f.struct]: jsonToStruct(value as Record<string, unknown>) };
}

export function jsonToStruct(json: Record<string, unknown>): { fields: Record<string, unknown> } {
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) fields[key] = jsonToValue(value);
  return { fields };
}

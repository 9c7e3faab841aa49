/**
 * Checks a decoded Envoy resource against the protoc-gen-validate (`(validate.rules)`)
 * constraints declared in the protos, the way Envoy does when it accepts a config: walks the
 * protobufjs message, recursing into messages, repeated fields, maps and `google.protobuf.Any`.
 *
 * Rule kinds this does not understand are reported as `unsupported-rule:<family>.<key>`
 * violations rather than passing silently (see SUPPORTED_RULES in validate-rules-options.ts).
 */
import type protobuf from 'protobufjs';
import { envoyRoot } from './load.js';
import { errorText, lookupMessageType, typeNameOf, unknownType, walkMessage } from './validate-rules-walk.js';

export interface RuleViolation {
  path: string;
  rule: string;
  message: string;
}

/** Check a decoded protobufjs message (or a plain object accepted by Type.fromObject) of the given fully-qualified type, e.g. 'envoy.config.cluster.v3.Cluster'. */
export function checkValidateRules(typeName: string, value: object): RuleViolation[] {
  return checkAs(typeName, typeName, 'convert to', (type) => type.fromObject(value as Record<string, unknown>));
}

/** Decode bytes of the given type URL ('type.googleapis.com/envoy.config.cluster.v3.Cluster') and check it. A decode failure is itself a violation. */
export function checkEncodedResource(typeUrl: string, bytes: Uint8Array): RuleViolation[] {
  return checkAs(typeNameOf(typeUrl), typeUrl, 'decode', (type) => type.decode(bytes));
}

function checkAs(typeName: string, shown: string, verb: string, materialize: (type: protobuf.Type) => protobuf.Message): RuleViolation[] {
  const root = envoyRoot();
  const type = lookupMessageType(root, typeName);
  if (!type) return [unknownType('', shown)];
  let message: protobuf.Message;
  try {
    message = materialize(type);
  } catch (error) {
    return [{ path: '', rule: 'decode-error', message: `cannot ${verb} ${shown}: ${errorText(error)}` }];
  }
  return walkMessage(root, type, message);
}

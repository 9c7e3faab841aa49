/**
 * gRPC (de)serializers for xDS messages through the Envoy protos (protobufjs, snake_case
 * fields). Shared by the xDS server, `meshcp agent`'s client and the test clients.
 */
import type protobuf from 'protobufjs';
import { lookupType } from '../protos/load.js';

export type DecodedMessage = Record<string, unknown>;

export const DECODE_OPTIONS: protobuf.IConversionOptions = { defaults: true, longs: String, enums: String };

export interface ProtoCodec {
  serialize(value: object): Buffer;
  deserialize(bytes: Buffer): DecodedMessage;
}

/** Types are looked up on first use, so importing this module does not load the protos. */
export function protoCodec(typeName: string): ProtoCodec {
  return {
    serialize: (value) => {
      const type = lookupType(typeName);
      return Buffer.from(type.encode(type.fromObject(value as Record<string, unknown>)).finish());
    },
    deserialize: (bytes) => {
      const type = lookupType(typeName);
      return type.toObject(type.decode(bytes), DECODE_OPTIONS) as DecodedMessage;
    },
  };
}

/** Decodes a resource carried in an Any (by its type URL) with the same options. */
export function decodeAnyValue(typeUrl: string, value: Uint8Array): DecodedMessage {
  const type = lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
  return type.toObject(type.decode(value), DECODE_OPTIONS) as DecodedMessage;
}

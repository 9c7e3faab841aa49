/**
 * DiscoveryRequests from the raw bytes grpc-js hands over (the server's methods do not decode).
 *
 * Before a stream has authenticated, only its node is read: the request's top-level fields are
 * walked without being decoded and the `node` field is decoded alone, if it is at most
 * `maxNodeBytes`. The rest of the request (names, versions, error detail: up to the message size
 * limit) is decoded once the node was accepted. Decoding a few MiB of names costs many times their
 * size in objects, which an unauthenticated caller could once make the server do at will.
 */
import protobuf from 'protobufjs';
import { lookupType } from '../protos/load.js';
import type { NodeInfo } from '../snapshot/watcher.js';
import type { XdsRequest } from './session.js';
import { structToJson } from './struct.js';

type Decoded = Record<string, unknown>;

const INVALID_ARGUMENT = 3;

const DECODE_OPTIONS: protobuf.IConversionOptions = { defaults: true, longs: String, enums: String };
const NodeType = (): protobuf.Type => lookupType('envoy.config.core.v3.Node');
const requestType = (delta: boolean): protobuf.Type => lookupType(delta ? 'envoy.service.discovery.v3.DeltaDiscoveryRequest' : 'envoy.service.discovery.v3.DiscoveryRequest');

/** A request that cannot be served, with its gRPC status. */
export class RequestRefusal extends Error {
  constructor(
    readonly grpcCode: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The node of a raw request, decoded alone; undefined when the request carries none. Refuses a
 * node over `maxNodeBytes` (in all its occurrences: protobuf merges a repeated message field) and
 * bytes that are not a protobuf message.
 */
export function readNode(bytes: Uint8Array, delta: boolean, maxNodeBytes: number): NodeInfo | undefined {
  const nodeField = requestType(delta).fields['node']?.id;
  if (nodeField === undefined) throw new Error('internal: no node field in DiscoveryRequest');
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    const reader = protobuf.Reader.create(bytes);
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      const wireType = tag & 7;
      if (tag >>> 3 !== nodeField || wireType !== 2) {
        reader.skipType(wireType);
        continue;
      }
      const length = reader.uint32();
      total += length;
      if (total > maxNodeBytes) {
        // INVALID_ARGUMENT, as for a node.id or metadata over their own bounds (node.ts nodeProblem).
        throw new RequestRefusal(INVALID_ARGUMENT, `the request's node is over ${maxNodeBytes} bytes, the most a node may have before it authenticated (--xds-max-node-size)`);
      }
      const start = reader.pos;
      reader.skip(length);
      parts.push(bytes.subarray(start, start + length));
    }
    if (parts.length === 0) return undefined;
    // Serialized messages of one type, concatenated, parse as their merge (protobuf encoding).
    return toNode(NodeType().decode(parts.length === 1 ? parts[0]! : Buffer.concat(parts)));
  } catch (err) {
    if (err instanceof RequestRefusal) throw err;
    throw new RequestRefusal(INVALID_ARGUMENT, `the request is not a valid ${delta ? 'DeltaDiscoveryRequest' : 'DiscoveryRequest'}`);
  }
}

/** The whole request, decoded (after its node was accepted). */
export function decodeRequest(bytes: Uint8Array, delta: boolean): XdsRequest {
  let raw: Decoded;
  try {
    // Decoded without `toObject`: every proxy ACKs every push, and the plain-object copy of each
    // request was pure garbage. Unset fields read as their defaults ('' and [] from the message
    // prototype); the node is converted (toNode).
    raw = requestType(delta).decode(bytes) as unknown as Decoded;
  } catch {
    throw new RequestRefusal(INVALID_ARGUMENT, `the request is not a valid ${delta ? 'DeltaDiscoveryRequest' : 'DiscoveryRequest'}`);
  }
  return toXdsRequest(raw, delta);
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const NO_STRINGS: readonly string[] = Object.freeze([]);
const NO_VERSIONS: Readonly<Record<string, string>> = Object.freeze({});

/** The decoded list itself when it holds only strings (every ACK carries one): no copy per request. */
function strList(v: unknown): readonly string[] {
  if (!Array.isArray(v) || v.length === 0) return NO_STRINGS;
  for (const x of v as unknown[]) if (typeof x !== 'string') return v.filter((y): y is string => typeof y === 'string');
  return v as string[];
}

function toNode(raw: unknown): NodeInfo | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  // A decoded message (its Struct reads oneof defaults from the prototype) becomes a plain object.
  const type = NodeType();
  const node = (raw instanceof type.ctor ? type.toObject(raw as protobuf.Message, DECODE_OPTIONS) : raw) as Decoded;
  return { id: str(node['id']), cluster: str(node['cluster']), metadata: structToJson(node['metadata']) };
}

function errorDetail(raw: unknown): string | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const status = raw as Decoded;
  const message = str(status['message']);
  return message === '' ? `error code ${String(status['code'] ?? '?')}` : message;
}

export function toXdsRequest(raw: Decoded, delta: boolean): XdsRequest {
  const versions = raw['initial_resource_versions'];
  return {
    node: toNode(raw['node']),
    typeUrl: str(raw['type_url']),
    versionInfo: str(raw['version_info']),
    resourceNames: delta ? NO_STRINGS : strList(raw['resource_names']),
    subscribe: delta ? strList(raw['resource_names_subscribe']) : NO_STRINGS,
    unsubscribe: delta ? strList(raw['resource_names_unsubscribe']) : NO_STRINGS,
    initialVersions: delta && versions !== null && typeof versions === 'object' ? (versions as Record<string, string>) : NO_VERSIONS,
    responseNonce: str(raw['response_nonce']),
    errorDetail: errorDetail(raw['error_detail']),
  };
}

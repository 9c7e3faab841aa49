/**
 * Encodes Envoy resources once and reuses the bytes: a resource object built for many proxies
 * is encoded one time per content version (go-control-plane PR #1324).
 */
import { createHash } from 'node:crypto';
import { lookupType } from '../protos/load.js';
import { dependenciesOf, type ResourceDependencies } from './dependencies.js';
import { ENDPOINT_TYPE, protoNameOf } from './types.js';

export interface EncodedResource {
  readonly name: string;
  readonly typeUrl: string;
  /** Content hash: equal bytes, equal version. */
  readonly version: string;
  /** The serialized resource (the `value` of its Any). */
  readonly value: Uint8Array;
  /** What it names in other types, read once with the encoding (make-before-break needs it per push). */
  readonly refs: ResourceDependencies;
}

/** A generated resource: plain object with snake_case proto field names, as `Type.fromObject` takes it. */
export type ResourceObject = Readonly<Record<string, unknown>>;

/** The xDS resource name: `cluster_name` for a ClusterLoadAssignment, `name` for every other type. */
export function resourceName(typeUrl: string, resource: ResourceObject): string {
  const name = typeUrl === ENDPOINT_TYPE ? resource['cluster_name'] : resource['name'];
  if (typeof name !== 'string' || name === '') throw new Error(`${protoNameOf(typeUrl)} without a name`);
  return name;
}

const byObject = new WeakMap<object, EncodedResource>();
const byContent = new Map<string, EncodedResource>();
const MAX_CONTENT_ENTRIES = 50_000;

export interface EncoderStats {
  encodes: number;
  hits: number;
}
export const encoderStats: EncoderStats = { encodes: 0, hits: 0 };

export function contentHash(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 16);
}

export function encodeResource(typeUrl: string, resource: ResourceObject): EncodedResource {
  const known = byObject.get(resource);
  if (known && known.typeUrl === typeUrl) {
    encoderStats.hits++;
    return known;
  }
  const json = JSON.stringify(resource);
  const key = `${typeUrl}|${json}`;
  const cached = byContent.get(key);
  if (cached) {
    encoderStats.hits++;
    byObject.set(resource, cached);
    return cached;
  }
  const type = lookupType(protoNameOf(typeUrl));
  const value = type.encode(type.fromObject(resource)).finish();
  const encoded: EncodedResource = { name: resourceName(typeUrl, resource), typeUrl, version: contentHash(value), value, refs: dependenciesOf(typeUrl, resource) };
  encoderStats.encodes++;
  if (byContent.size >= MAX_CONTENT_ENTRIES) byContent.clear();
  byContent.set(key, encoded);
  byObject.set(resource, encoded);
  return encoded;
}

/** Decodes resource bytes back into canonical JSON (Any expanded with '@type'), for goldens and config dumps. */
export function decodeResource(typeUrl: string, value: Uint8Array): Record<string, unknown> {
  const type = lookupType(protoNameOf(typeUrl));
  return type.toObject(type.decode(value), { json: true, enums: String, longs: String, bytes: String }) as Record<string, unknown>;
}

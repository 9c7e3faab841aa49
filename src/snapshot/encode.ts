/**
 * Encodes Envoy resources once and reuses the bytes: a resource object built for many proxies
 * is encoded one time per content version (go-control-plane PR #1324).
 */
import protobuf from 'protobufjs';
import { lookupType } from '../protos/load.js';
import { dependenciesOf } from './dependencies.js';
import { contentHash, sha256, sha256Bytes, type EncodedResource } from './encoded.js';
import { EncodedSets } from './sets.js';
import { templateInstanceOf, wellFormed, type ResourceTemplate } from './template.js';
import { ENDPOINT_TYPE, SECRET_TYPE, protoNameOf, type ResourceObject } from './types.js';

export { ResourceTemplate, templateCounters, templated } from './template.js';
export { contentHash, type EncodedResource } from './encoded.js';

export type { ResourceObject } from './types.js';

/** The xDS resource name: `cluster_name` for a ClusterLoadAssignment, `name` for every other type. */
export function resourceName(typeUrl: string, resource: ResourceObject): string {
  const name = typeUrl === ENDPOINT_TYPE ? resource['cluster_name'] : resource['name'];
  if (typeof name !== 'string' || name === '') throw new Error(`${protoNameOf(typeUrl)} without a name`);
  return name;
}

export interface EncoderStats {
  /** Resources serialized with protobuf (a content not seen before). */
  encodes: number;
  /** Lookups answered from the cache (the same object, or the same content). */
  hits: number;
  /** Resources whose bytes were spliced from a template (see ResourceTemplate), new content or not. */
  templated: number;
}

const MAX_CONTENT_ENTRIES = 50_000;

export interface ResourceEncoderOptions {
  /**
   * Splice the bytes of resources built from a template (`templated`) rather than encoding them
   * with protobuf (default true). Off, every resource goes through `fromObject`/`encode`: the
   * reference the templates are tested against.
   */
  readonly templates?: boolean;
}

/**
 * Encodes each resource once: by object identity first (a shared cluster or assignment built once
 * per revision is one object for every proxy, so the lookup costs a WeakMap hit), then by content
 * (a per-proxy object with the same content as one already encoded reuses its bytes and its
 * EncodedResource, so equal resources of many proxies are one object in memory).
 *
 * A Secret holding a private key (`tls_certificate`) is cached by object only: the content cache
 * outlives the objects, and would keep every rotated-out key in memory until it is cleared.
 *
 * The control plane owns one; `stats.encodes` counts real encodings (a recompute counter on
 * /metrics). It owns the interned sets of what it encodes too (`sets`), so a fresh encoder (the
 * full-recompute oracle's) starts from nothing.
 */
export class ResourceEncoder {
  readonly stats: EncoderStats = { encodes: 0, hits: 0, templated: 0 };
  /** The sets of resources encoded by this encoder, interned (sets.ts). */
  readonly sets: EncodedSets = new EncodedSets(this);
  private readonly byObject = new WeakMap<object, EncodedResource>();
  private readonly byContent = new Map<string, EncodedResource>();
  private readonly templates: boolean;

  constructor(options: ResourceEncoderOptions = {}) {
    this.templates = options.templates ?? true;
  }

  encode(typeUrl: string, resource: ResourceObject): EncodedResource {
    const known = this.byObject.get(resource);
    if (known && known.typeUrl === typeUrl) {
      this.stats.hits++;
      return known;
    }
    const instance = this.templates ? templateInstanceOf(resource) : undefined;
    if (instance !== undefined && instance.template.typeUrl === typeUrl) {
      const values = instance.template.holes(instance.value);
      // A lone surrogate is encoded differently by protobufjs's own UTF-8 writer and by Buffer's: such values go through protobuf.
      if (values.every(wellFormed)) return this.encodeInstance(typeUrl, resource, instance.template, values);
    }
    // The full digest, not the JSON, is kept: thousands of per-proxy listeners would otherwise hold
    // their JSON text in memory for as long as the entry lives.
    const holdsKey = typeUrl === SECRET_TYPE && resource['tls_certificate'] !== undefined;
    const key = holdsKey ? undefined : sha256(`${typeUrl}|${JSON.stringify(resource)}`, 'base64');
    const cached = key === undefined ? undefined : this.byContent.get(key);
    if (cached) {
      this.stats.hits++;
      this.byObject.set(resource, cached);
      return cached;
    }
    return this.remember(resource, key, encodeResource(typeUrl, resource));
  }

  /** A new encoding, kept by object and (when it has a content key) by content. */
  private remember(resource: object, key: string | undefined, encoded: EncodedResource): EncodedResource {
    this.stats.encodes++;
    if (key !== undefined) {
      if (this.byContent.size >= MAX_CONTENT_ENTRIES) this.byContent.clear();
      this.byContent.set(key, encoded);
    }
    this.byObject.set(resource, encoded);
    return encoded;
  }

  /**
   * A templated resource: its bytes spliced, no JSON key (the digest of the bytes is the content
   * key, and gives the version too), no `fromObject`, no reference walk (the template's).
   */
  private encodeInstance(typeUrl: string, resource: ResourceObject, template: ResourceTemplate, values: readonly string[]): EncodedResource {
    this.stats.templated++;
    const value = template.instantiate(values);
    const digest = sha256Bytes(value);
    // As above: private keys are never kept by content.
    const holdsKey = typeUrl === SECRET_TYPE && resource['tls_certificate'] !== undefined;
    const key = holdsKey ? undefined : `${typeUrl}|bytes|${digest.toString('base64')}`;
    const cached = key === undefined ? undefined : this.byContent.get(key);
    if (cached) {
      this.stats.hits++;
      this.byObject.set(resource, cached);
      return cached;
    }
    const encoded: EncodedResource = { name: resourceName(typeUrl, resource), typeUrl, version: digest.toString('hex', 0, 8), value, refs: template.refs };
    return this.remember(resource, key, encoded);
  }
}

/**
 * A protobufjs writer whose result is a buffer of its own (a long-lived slice of Node's shared pool
 * keeps the whole 8 KiB pool alive): written there directly,
 * rather than into a slice of Node's shared pool and copied out (a new 8 KiB pool every few
 * Secrets of a few KiB was a visible cost of the initial config).
 */
class OwnBufferWriter extends protobuf.BufferWriter {
  static override alloc(size: number): Buffer {
    return Buffer.allocUnsafeSlow(size);
  }
}

/**
 * One resource encoded with protobuf, remembered nowhere: for the few made up on the spot (the
 * empty ClusterLoadAssignment of an unknown EDS name, xds/), which no encoder needs to keep.
 */
export function encodeResource(typeUrl: string, resource: ResourceObject): EncodedResource {
  const type = lookupType(protoNameOf(typeUrl));
  const value = type.encode(type.fromObject(resource), new OwnBufferWriter()).finish();
  return { name: resourceName(typeUrl, resource), typeUrl, version: contentHash(value), value, refs: dependenciesOf(typeUrl, resource) };
}

/** Decodes resource bytes back into canonical JSON (Any expanded with '@type'), for goldens and config dumps. */
export function decodeResource(typeUrl: string, value: Uint8Array): Record<string, unknown> {
  const type = lookupType(protoNameOf(typeUrl));
  return type.toObject(type.decode(value), { json: true, enums: String, longs: String, bytes: String }) as Record<string, unknown>;
}

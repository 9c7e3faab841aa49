/**
 * DiscoveryResponses as bytes on the wire: SotW responses are serialized field by field into a
 * reused buffer, the resource lists shared by many proxies once (see SotwSerializer).
 */
import type { EncodedResource } from '../snapshot/encode.js';
import type { XdsResponse } from './session.js';

export function asBuffer(bytes: Uint8Array): Buffer {
  // protobufjs already hands out a Buffer in Node: copying it again per response cost a
  // buffer allocation per proxy per push (profiled at 5,000 proxies).
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * What a SotW response of a resource list serializes to, apart from its nonce: the body, and `head`,
 * the serialized `version_info` and `type_url` of the response that built it.
 */
interface ListBytes {
  readonly body: Buffer;
  readonly version: string;
  readonly typeUrl: string;
  readonly head: Buffer;
}

/**
 * A SotW response handed to grpc-js's `call.write`, serialized when grpc-js serializes it: grpc-js
 * copies the serialized bytes into its framed message at once (ServerInterceptingCall
 * serializeMessage), so they can be assembled in a reused buffer. An EDS response of services with
 * a hundred endpoints each is ~10 KB: past Node's pooled sizes, a buffer of its own per proxy per
 * change cost more than the copy (profiled at 5,000 proxies).
 */
export class SotwWire {
  constructor(readonly response: Extract<XdsResponse, { kind: 'sotw' }>) {}
}


/** Responses larger than this get a buffer of their own rather than growing the reused one for good. */
const MAX_SCRATCH = 1024 * 1024;
/** DiscoveryResponse field 5 (`nonce`), length-delimited: (5 << 3) | 2. */
const NONCE_TAG = 0x2a;

/** DiscoveryResponse fields, length-delimited: `version_info` (1), `resources` (2), `type_url` (4). */
const VERSION_TAG = 0x0a;
const RESOURCES_TAG = 0x12;
const TYPE_URL_TAG = 0x22;
/** google.protobuf.Any fields, length-delimited: `type_url` (1), `value` (2). */
const ANY_TYPE_URL_TAG = 0x0a;
const ANY_VALUE_TAG = 0x12;

/** The length of a length-delimited field (tag, length, bytes) of `length` bytes. */
function fieldLength(length: number): number {
  return 1 + varintLength(length) + length;
}

/** The serialized `resources` field of a list: each resource an Any of its type URL and bytes. */
function bodyLength(resources: readonly EncodedResource[]): number {
  let n = 0;
  let lastTypeUrl = '';
  let typeUrlField = fieldLength(0);
  for (let i = 0; i < resources.length; i++) {
    const r = resources[i]!;
    if (r.typeUrl !== lastTypeUrl) {
      lastTypeUrl = r.typeUrl;
      typeUrlField = fieldLength(Buffer.byteLength(r.typeUrl, 'utf8'));
    }
    n += fieldLength(typeUrlField + fieldLength(r.value.byteLength));
  }
  return n;
}

function writeBody(out: Buffer, at: number, resources: readonly EncodedResource[]): number {
  let lastTypeUrl = '';
  let typeUrlLength = 0;
  for (let i = 0; i < resources.length; i++) {
    const r = resources[i]!;
    if (r.typeUrl !== lastTypeUrl) {
      lastTypeUrl = r.typeUrl;
      typeUrlLength = Buffer.byteLength(r.typeUrl, 'utf8');
    }
    const valueLength = r.value.byteLength;
    out[at++] = RESOURCES_TAG;
    at = writeVarint(out, at, fieldLength(typeUrlLength) + fieldLength(valueLength));
    at = writeString(out, at, ANY_TYPE_URL_TAG, r.typeUrl, typeUrlLength);
    out[at++] = ANY_VALUE_TAG;
    at = writeVarint(out, at, valueLength);
    out.set(r.value, at);
    at += valueLength;
  }
  return at;
}

/** A length-delimited string field of `length` UTF-8 bytes. */
function writeString(out: Buffer, at: number, tag: number, value: string, length: number): number {
  out[at++] = tag;
  at = writeVarint(out, at, length);
  return length === 0 ? at : at + out.write(value, at, length, 'utf8');
}

/**
 * Serializes SotW responses, the resource lists shared by many proxies once: a set shared by many
 * proxies (snapshot/sets.ts EncodedSet) is one list, serialized once for all of them. The server
 * makes one; its tables are the server's, shared with no other.
 */
export class SotwSerializer {
  private readonly listBytes = new WeakMap<readonly EncodedResource[], ListBytes>();
  /**
   * Lists serialized once already: a list is cached from its second response on, so a proxy's own
   * set (its listeners, sent once on connect) does not keep a serialized copy for as long as it lives.
   */
  private readonly seenOnce = new WeakSet<readonly EncodedResource[]>();
  private scratch = Buffer.allocUnsafeSlow(64 * 1024);

  /**
   * The response serialized into the reused buffer: valid until the next call (grpc-js copies it at
   * once). Written field by field (tags, varint lengths, bytes) straight into the buffer rather than
   * through protobufjs Writers: a writer, its operation list and a pooled buffer per response cost
   * more than the framing itself on the initial config of thousands of proxies (profiled). The
   * bytes are those protobufjs writes for `{ version_info, type_url }`, then the nonce, then
   * `{ resources }` (server.test.ts decodes them against the plain encoding).
   */
  serialize(response: Extract<XdsResponse, { kind: 'sotw' }>): Buffer {
    const resources = response.resources;
    const known = this.listBytes.get(resources);
    const head = known !== undefined && known.version === response.versionInfo && known.typeUrl === response.typeUrl ? known.head : undefined;
    let versionLength = 0;
    let typeUrlLength = 0;
    let headLength: number;
    if (head !== undefined) headLength = head.length;
    else {
      versionLength = Buffer.byteLength(response.versionInfo, 'utf8');
      typeUrlLength = Buffer.byteLength(response.typeUrl, 'utf8');
      headLength = fieldLength(versionLength) + fieldLength(typeUrlLength);
    }
    const nonceLength = Buffer.byteLength(response.nonce, 'utf8');
    const nonceField = nonceLength === 0 ? 0 : fieldLength(nonceLength);
    const bodyAt = headLength + nonceField;
    const length = bodyAt + (known !== undefined ? known.body.length : bodyLength(resources));
    let out = this.scratch;
    if (length > out.length) {
      out = Buffer.allocUnsafeSlow(Math.max(length, 2 * out.length));
      if (out.length <= MAX_SCRATCH) this.scratch = out;
    }
    if (head !== undefined) out.set(head, 0);
    else writeString(out, writeString(out, 0, VERSION_TAG, response.versionInfo, versionLength), TYPE_URL_TAG, response.typeUrl, typeUrlLength);
    // The nonce is the one field of every response of its own.
    if (nonceLength > 0) writeString(out, headLength, NONCE_TAG, response.nonce, nonceLength);
    if (known !== undefined) out.set(known.body, bodyAt);
    else {
      writeBody(out, bodyAt, resources);
      // Lists serialized a second time (a set shared by proxies) keep their bytes: see `seenOnce`.
      if (!this.seenOnce.has(resources)) this.seenOnce.add(resources);
      else {
        // Out of Node's shared pool (a long-lived slice would keep a whole 8 KiB pool alive): the cached copies live as long as their list.
        this.listBytes.set(resources, {
          body: ownBuffer(out.subarray(bodyAt, length)),
          version: response.versionInfo,
          typeUrl: response.typeUrl,
          head: ownBuffer(out.subarray(0, headLength)),
        });
      }
    }
    return out.subarray(0, length);
  }

  /**
   * A SotW DiscoveryResponse, serialized into a buffer of its own: `version_info` and `type_url`,
   * the nonce, then the resources' bytes, the first and last cached per list. Serialized messages
   * of one type, concatenated, parse as their merge (protobuf encoding, "Last One Wins" / repeated
   * fields concatenate), and fields may appear in any order.
   */
  bytes(response: Extract<XdsResponse, { kind: 'sotw' }>): Buffer {
    return Buffer.from(this.serialize(response));
  }
}

function varintLength(value: number): number {
  let n = 1;
  for (let v = value; v >= 0x80; v >>>= 7) n++;
  return n;
}

function writeVarint(out: Buffer, at: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

function ownBuffer(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
  copy.set(bytes);
  return copy;
}

export function toWireResponse(response: XdsResponse): object {
  if (response.kind === 'sotw') {
    return {
      version_info: response.versionInfo,
      type_url: response.typeUrl,
      nonce: response.nonce,
      resources: response.resources.map((r) => ({ type_url: r.typeUrl, value: r.value })),
    };
  }
  return {
    system_version_info: response.systemVersionInfo,
    type_url: response.typeUrl,
    nonce: response.nonce,
    removed_resources: response.removed,
    resources: response.resources.map((r) => ({ name: r.name, version: r.version, resource: { type_url: r.typeUrl, value: r.value } })),
  };
}


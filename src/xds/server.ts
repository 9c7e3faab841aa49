/**
 * gRPC transport for the xDS protocol: ADS (SotW and Delta), the per-type LDS/RDS/CDS/EDS/SDS
 * services (stream, delta, fetch) and gRPC health. It only sees a `ConfigWatcher`.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { firstValueFrom, timeout } from 'rxjs';
import type protobuf from 'protobufjs';
import { lookupType } from '../protos/load.js';
import { encodeResource, type EncodedResource } from './encode.js';
import { XdsSession, type ConfigWatcher, type NodeInfo, type SessionLogger, type XdsRequest, type XdsResponse } from './session.js';
import type { StatusRegistry } from './status.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from './types.js';
import { structToJson } from './struct.js';

export interface XdsServerOptions {
  readonly watcher: ConfigWatcher;
  readonly status: StatusRegistry;
  readonly log: SessionLogger;
  /** Server keepalive: detects half-open connections (a proxy that vanished without FIN). */
  readonly keepaliveTimeMs?: number;
  readonly keepaliveTimeoutMs?: number;
  /** Server credentials; insecure when absent. */
  readonly credentials?: grpc.ServerCredentials;
}

const DiscoveryRequest = (): protobuf.Type => lookupType('envoy.service.discovery.v3.DiscoveryRequest');
const DiscoveryResponse = (): protobuf.Type => lookupType('envoy.service.discovery.v3.DiscoveryResponse');
const DeltaDiscoveryRequest = (): protobuf.Type => lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
const DeltaDiscoveryResponse = (): protobuf.Type => lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse');

type Decoded = Record<string, unknown>;

const DECODE_OPTIONS: protobuf.IConversionOptions = { defaults: true, longs: String, enums: String };
const NodeType = (): protobuf.Type => lookupType('envoy.config.core.v3.Node');

function asBuffer(bytes: Uint8Array): Buffer {
  // protobufjs already hands out a Buffer in Node: copying it again per response cost a
  // buffer allocation per proxy per push (issue #11 profile at 5,000 proxies).
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Requests are decoded without `toObject`: every proxy ACKs every push, and the plain-object copy
 * of each request was pure garbage. Unset fields read as their defaults ('' and [] from the
 * message prototype); the node, read once per stream, is converted (toNode). Responses may be
 * written already serialized (a Buffer, see sotwResponseBytes).
 */
function codec(type: () => protobuf.Type, plainRequests: boolean): { serialize: (value: object) => Buffer; deserialize: (bytes: Buffer) => Decoded } {
  return {
    serialize: (value: object) => (value instanceof SotwWire ? serializeSotw(value.response) : Buffer.isBuffer(value) ? value : asBuffer(type().encode(value).finish())),
    deserialize: plainRequests
      ? (bytes: Buffer) => type().toObject(type().decode(bytes), DECODE_OPTIONS) as Decoded
      : (bytes: Buffer) => type().decode(bytes) as unknown as Decoded,
  };
}

function methodDef(path: string, req: () => protobuf.Type, res: () => protobuf.Type, streaming: boolean): grpc.MethodDefinition<Decoded, object> {
  const reqCodec = codec(req, false);
  const resCodec = codec(res, true);
  return {
    path,
    requestStream: streaming,
    responseStream: streaming,
    requestSerialize: reqCodec.serialize,
    requestDeserialize: reqCodec.deserialize,
    responseSerialize: resCodec.serialize,
    responseDeserialize: resCodec.deserialize,
  };
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

/**
 * What a SotW response of a resource list serializes to, apart from its nonce, by the list: a set
 * shared by many proxies (snapshot.ts typeSet) is one list, serialized once for all of them. `head`
 * is the serialized `version_info` and `type_url` of the response that built it.
 */
interface ListBytes {
  readonly body: Buffer;
  readonly version: string;
  readonly typeUrl: string;
  readonly head: Buffer;
}
const listBytes = new WeakMap<readonly EncodedResource[], ListBytes>();
/**
 * Lists serialized once already: a list is cached from its second response on, so a proxy's own
 * set (its listeners, sent once on connect) does not keep a serialized copy for as long as it lives.
 */
const seenOnce = new WeakSet<readonly EncodedResource[]>();

/**
 * A SotW response handed to grpc-js's `call.write`, serialized when grpc-js serializes it: grpc-js
 * copies the serialized bytes into its framed message at once (ServerInterceptingCall
 * serializeMessage), so they can be assembled in a reused buffer. An EDS response of services with
 * a hundred endpoints each is ~10 KB: past Node's pooled sizes, a buffer of its own per proxy per
 * change cost more than the copy (issue #11 profile at 5,000 proxies).
 */
class SotwWire {
  constructor(readonly response: Extract<XdsResponse, { kind: 'sotw' }>) {}
}

let scratch = Buffer.allocUnsafeSlow(64 * 1024);
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
 * `sotwResponseBytes` into the reused buffer: valid until the next call (grpc-js copies it at once).
 * Written field by field (tags, varint lengths, bytes) straight into the buffer rather than through
 * protobufjs Writers: a writer, its operation list and a pooled buffer per response cost more than
 * the framing itself on the initial config of thousands of proxies (issue #11 profile). The bytes
 * are those protobufjs writes for `{ version_info, type_url }`, then the nonce, then
 * `{ resources }` (server.test.ts decodes them against the plain encoding).
 */
function serializeSotw(response: Extract<XdsResponse, { kind: 'sotw' }>): Buffer {
  const resources = response.resources;
  const known = listBytes.get(resources);
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
  let out = scratch;
  if (length > out.length) {
    out = Buffer.allocUnsafeSlow(Math.max(length, 2 * out.length));
    if (out.length <= MAX_SCRATCH) scratch = out;
  }
  if (head !== undefined) out.set(head, 0);
  else writeString(out, writeString(out, 0, VERSION_TAG, response.versionInfo, versionLength), TYPE_URL_TAG, response.typeUrl, typeUrlLength);
  // The nonce is the one field of every response of its own.
  if (nonceLength > 0) writeString(out, headLength, NONCE_TAG, response.nonce, nonceLength);
  if (known !== undefined) out.set(known.body, bodyAt);
  else {
    writeBody(out, bodyAt, resources);
    // Lists serialized a second time (a set shared by proxies) keep their bytes: see `seenOnce`.
    if (!seenOnce.has(resources)) seenOnce.add(resources);
    else {
      // Out of Node's shared pool (see encode.ts ownBytes): the cached copies live as long as their list.
      listBytes.set(resources, {
        body: ownBuffer(out.subarray(bodyAt, length)),
        version: response.versionInfo,
        typeUrl: response.typeUrl,
        head: ownBuffer(out.subarray(0, headLength)),
      });
    }
  }
  return out.subarray(0, length);
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

/**
 * A SotW DiscoveryResponse, serialized: `version_info` and `type_url`, the nonce, then the
 * resources' bytes, the first and last cached per list. Serialized messages of one type,
 * concatenated, parse as their merge (protobuf encoding, "Last One Wins" / repeated fields
 * concatenate), and fields may appear in any order.
 */
export function sotwResponseBytes(response: Extract<XdsResponse, { kind: 'sotw' }>): Buffer {
  return Buffer.from(serializeSotw(response));
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

const PER_TYPE_SERVICES: readonly { service: string; noun: string; typeUrl: string }[] = [
  { service: 'envoy.service.listener.v3.ListenerDiscoveryService', noun: 'Listeners', typeUrl: LISTENER_TYPE },
  { service: 'envoy.service.route.v3.RouteDiscoveryService', noun: 'Routes', typeUrl: ROUTE_TYPE },
  { service: 'envoy.service.cluster.v3.ClusterDiscoveryService', noun: 'Clusters', typeUrl: CLUSTER_TYPE },
  { service: 'envoy.service.endpoint.v3.EndpointDiscoveryService', noun: 'Endpoints', typeUrl: ENDPOINT_TYPE },
  { service: 'envoy.service.secret.v3.SecretDiscoveryService', noun: 'Secrets', typeUrl: SECRET_TYPE },
];

export class XdsServer {
  readonly grpcServer: grpc.Server;
  readonly health = new HealthImplementation({ '': 'NOT_SERVING' });
  private readonly calls = new Set<grpc.ServerDuplexStream<Decoded, object>>();

  constructor(private readonly options: XdsServerOptions) {
    this.grpcServer = new grpc.Server({
      'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? 30_000,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? 10_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
    });
    const ads = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
    this.grpcServer.addService(
      {
        StreamAggregatedResources: methodDef(`/${ads}/StreamAggregatedResources`, DiscoveryRequest, DiscoveryResponse, true),
        DeltaAggregatedResources: methodDef(`/${ads}/DeltaAggregatedResources`, DeltaDiscoveryRequest, DeltaDiscoveryResponse, true),
      },
      {
        StreamAggregatedResources: (call: grpc.ServerDuplexStream<Decoded, object>) => this.serveStream(call, 'sotw'),
        DeltaAggregatedResources: (call: grpc.ServerDuplexStream<Decoded, object>) => this.serveStream(call, 'delta'),
      },
    );
    for (const { service, noun, typeUrl } of PER_TYPE_SERVICES) {
      this.grpcServer.addService(
        {
          [`Stream${noun}`]: methodDef(`/${service}/Stream${noun}`, DiscoveryRequest, DiscoveryResponse, true),
          [`Delta${noun}`]: methodDef(`/${service}/Delta${noun}`, DeltaDiscoveryRequest, DeltaDiscoveryResponse, true),
          [`Fetch${noun}`]: methodDef(`/${service}/Fetch${noun}`, DiscoveryRequest, DiscoveryResponse, false),
        },
        {
          [`Stream${noun}`]: (call: grpc.ServerDuplexStream<Decoded, object>) => this.serveStream(call, 'sotw', typeUrl),
          [`Delta${noun}`]: (call: grpc.ServerDuplexStream<Decoded, object>) => this.serveStream(call, 'delta', typeUrl),
          [`Fetch${noun}`]: (call: grpc.ServerUnaryCall<Decoded, object>, callback: grpc.sendUnaryData<object>) => {
            this.fetch(call.request, typeUrl).then(
              (response) => callback(null, response),
              (err: Error & { code?: number }) => callback({ code: err.code ?? grpc.status.UNAVAILABLE, details: err.message }),
            );
          },
        },
      );
    }
    this.health.addToServer(this.grpcServer);
  }

  /** Binds and returns the bound port. */
  async listen(address: string): Promise<number> {
    const port = await new Promise<number>((resolve, reject) => {
      this.grpcServer.bindAsync(address, this.options.credentials ?? grpc.ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      );
    });
    return port;
  }

  setServing(serving: boolean): void {
    this.health.setStatus('', serving ? 'SERVING' : 'NOT_SERVING');
    for (const { service } of PER_TYPE_SERVICES) this.health.setStatus(service, serving ? 'SERVING' : 'NOT_SERVING');
    this.health.setStatus('envoy.service.discovery.v3.AggregatedDiscoveryService', serving ? 'SERVING' : 'NOT_SERVING');
  }

  /**
   * Ends every stream, then waits for peers to finish. A proxy that never half-closes would
   * hold a graceful shutdown forever, so after `graceMs` the remaining connections are cut.
   */
  async close(graceMs = 3000): Promise<void> {
    for (const call of this.calls) call.end();
    let timer: NodeJS.Timeout | undefined;
    const graceful = new Promise<void>((resolve) => this.grpcServer.tryShutdown(() => resolve()));
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.grpcServer.forceShutdown();
        resolve();
      }, graceMs);
    });
    await Promise.race([graceful, deadline]);
    clearTimeout(timer);
  }

  forceClose(): void {
    this.grpcServer.forceShutdown();
  }

  private serveStream(call: grpc.ServerDuplexStream<Decoded, object>, mode: 'sotw' | 'delta', fixedTypeUrl?: string): void {
    this.calls.add(call);
    let ended = false;
    const session = new XdsSession({
      mode,
      fixedTypeUrl,
      watcher: this.options.watcher,
      status: this.options.status,
      log: this.options.log,
      send: (response) => {
        if (!ended) call.write(response.kind === 'sotw' ? new SotwWire(response) : toWireResponse(response));
      },
      close: (code, message) => {
        if (ended) return;
        ended = true;
        call.emit('error', { code, details: message });
      },
    });
    const finish = (): void => {
      this.calls.delete(call);
      session.end();
    };
    call.on('data', (raw: Decoded) => {
      try {
        session.onRequest(toXdsRequest(raw, mode === 'delta'));
      } catch (err) {
        this.options.log.warn({ err: (err as Error).message }, 'xDS request handling failed');
        if (!ended) {
          ended = true;
          call.emit('error', { code: grpc.status.INTERNAL, details: (err as Error).message });
        }
        finish();
      }
    });
    call.on('end', () => {
      if (!ended) {
        ended = true;
        call.end();
      }
      finish();
    });
    call.on('cancelled', finish);
    call.on('close', finish);
    call.on('error', finish);
  }

  private async fetch(raw: Decoded, typeUrl: string): Promise<object> {
    const request = toXdsRequest(raw, false);
    if (!request.node || request.node.id === '') throw Object.assign(new Error('node.id is required'), { code: grpc.status.INVALID_ARGUMENT });
    const snapshot = await firstValueFrom(this.options.watcher.watch(request.node).pipe(timeout(10_000)));
    const all = snapshot.resources.get(typeUrl) ?? new Map<string, EncodedResource>();
    const names = request.resourceNames.filter((n) => n !== '*');
    // As on a stream, every requested EDS name is answered, an unknown cluster with no endpoints.
    const answer = (n: string): EncodedResource[] =>
      all.has(n) ? [all.get(n)!] : typeUrl === ENDPOINT_TYPE ? [encodeResource(ENDPOINT_TYPE, { cluster_name: n })] : [];
    const resources = names.length === 0 ? [...all.values()] : names.flatMap(answer);
    return toWireResponse({ kind: 'sotw', typeUrl, versionInfo: snapshot.typeVersions.get(typeUrl) ?? '', nonce: '', resources });
  }
}

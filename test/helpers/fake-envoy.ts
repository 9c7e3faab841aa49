/**
 * A scripted fake Envoy: one xDS stream (ADS or per-type, SotW or Delta) over a real gRPC
 * channel, in the spirit of Istio `pilot/pkg/xds/ads_test.go` and go-control-plane
 * `server_test.go`. The test decides every request; responses are queued and taken with
 * `next()`, which always has a deadline. Every request sent and response received is logged
 * in order, so invariants can be checked from the client's point of view.
 */
import { jsonToStruct } from '../../src/xds/struct.js';
import * as grpc from '@grpc/grpc-js';
import { decodeAnyValue, protoCodec } from '../../src/xds/codec.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE, protoNameOf } from '../../src/snapshot/types.js';

type Decoded = Record<string, unknown>;

const codec = protoCodec;

const sotwRequest = codec('envoy.service.discovery.v3.DiscoveryRequest');
const sotwResponse = codec('envoy.service.discovery.v3.DiscoveryResponse');
const deltaRequest = codec('envoy.service.discovery.v3.DeltaDiscoveryRequest');
const deltaResponse = codec('envoy.service.discovery.v3.DeltaDiscoveryResponse');

function method(path: string, delta: boolean, streaming: boolean): grpc.MethodDefinition<Decoded, Decoded> {
  const req = delta ? deltaRequest : sotwRequest;
  const res = delta ? deltaResponse : sotwResponse;
  return {
    path,
    requestStream: streaming,
    responseStream: streaming,
    requestSerialize: req.serialize,
    requestDeserialize: req.deserialize,
    responseSerialize: res.serialize,
    responseDeserialize: res.deserialize,
  };
}

const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/** Per-type service and method noun, by type URL. */
export const PER_TYPE_SERVICES: Readonly<Record<string, { service: string; noun: string }>> = {
  [LISTENER_TYPE]: { service: 'envoy.service.listener.v3.ListenerDiscoveryService', noun: 'Listeners' },
  [ROUTE_TYPE]: { service: 'envoy.service.route.v3.RouteDiscoveryService', noun: 'Routes' },
  [CLUSTER_TYPE]: { service: 'envoy.service.cluster.v3.ClusterDiscoveryService', noun: 'Clusters' },
  [ENDPOINT_TYPE]: { service: 'envoy.service.endpoint.v3.EndpointDiscoveryService', noun: 'Endpoints' },
  [SECRET_TYPE]: { service: 'envoy.service.secret.v3.SecretDiscoveryService', noun: 'Secrets' },
};

function buildDefinition(): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<Decoded, Decoded>> = {
    StreamAggregatedResources: method(`/${ADS_SERVICE}/StreamAggregatedResources`, false, true),
    DeltaAggregatedResources: method(`/${ADS_SERVICE}/DeltaAggregatedResources`, true, true),
  };
  for (const { service, noun } of Object.values(PER_TYPE_SERVICES)) {
    definition[`Stream${noun}`] = method(`/${service}/Stream${noun}`, false, true);
    definition[`Delta${noun}`] = method(`/${service}/Delta${noun}`, true, true);
    definition[`Fetch${noun}`] = method(`/${service}/Fetch${noun}`, false, false);
  }
  return definition;
}

const XdsClient = grpc.makeGenericClientConstructor(buildDefinition(), 'FakeEnvoyXds');

type BidiMethod = (metadata?: grpc.Metadata, options?: grpc.CallOptions) => grpc.ClientDuplexStream<Decoded, Decoded>;
type UnaryMethod = (request: Decoded, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, value?: Decoded) => void) => grpc.ClientUnaryCall;

export type XdsMode = 'sotw' | 'delta';

export interface StreamKind {
  readonly mode: XdsMode;
  /** The per-type service to use; ADS when absent. */
  readonly service?: string;
}

export interface NodeSpec {
  readonly id: string;
  readonly cluster?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface FakeEnvoyOptions extends StreamKind {
  readonly address: string;
  readonly node: NodeSpec;
  readonly channelOptions?: grpc.ChannelOptions;
  /** Channel credentials (TLS to `meshcp serve`); insecure when absent. */
  readonly credentials?: grpc.ChannelCredentials;
  /** ACK every response as soon as it arrives (a well-behaved Envoy). */
  readonly autoAck?: boolean;
  /** Called with every response once it is applied to `state` (e.g. to ACK some types later, as Envoy does with CDS while clusters warm). */
  readonly onResponse?: (response: ReceivedResponse, envoy: FakeEnvoy) => void;
}

/** A request as the test writes it; unset fields take Envoy-like defaults. */
export interface RequestSpec {
  /** Defaults to the service's type on per-type streams; required on ADS. */
  readonly typeUrl?: string;
  /** SotW resource_names; defaults to the names last sent for the type. */
  readonly names?: readonly string[];
  /** SotW version_info; defaults to the last version this client accepted for the type. */
  readonly version?: string;
  readonly nonce?: string;
  readonly subscribe?: readonly string[];
  readonly unsubscribe?: readonly string[];
  readonly initialVersions?: Readonly<Record<string, string>>;
  readonly errorDetail?: string;
  /** The node to send; `null` omits it. Defaults to this client's node. */
  readonly node?: NodeSpec | null;
}

export interface ReceivedResource {
  readonly name: string;
  /** Delta only. */
  readonly version: string;
  readonly value: Decoded;
}

export interface ReceivedResponse {
  readonly kind: XdsMode;
  readonly typeUrl: string;
  /** version_info (SotW) or system_version_info (Delta). */
  readonly version: string;
  readonly nonce: string;
  readonly resources: readonly ReceivedResource[];
  /** Delta only. */
  readonly removed: readonly string[];
}

export interface SentRequest {
  readonly typeUrl: string;
  readonly names: readonly string[];
  readonly version: string;
  readonly nonce: string;
  readonly subscribe: readonly string[];
  readonly unsubscribe: readonly string[];
  readonly errorDetail?: string;
  readonly nodeId?: string;
}

export type StreamEvent = { dir: 'out'; request: SentRequest } | { dir: 'in'; response: ReceivedResponse };

export interface FinalStatus {
  readonly code: number;
  readonly details: string;
}

export function decodeAny(typeUrl: string, value: Uint8Array): Decoded {
  return decodeAnyValue(typeUrl, value);
}

function nameOf(typeUrl: string, value: Decoded): string {
  return String(typeUrl === ENDPOINT_TYPE ? value['cluster_name'] : value['name']);
}

function toResponse(mode: XdsMode, raw: Decoded): ReceivedResponse {
  const typeUrl = String(raw['type_url']);
  const anyOf = (entry: unknown): { type_url: string; value: Uint8Array } => entry as { type_url: string; value: Uint8Array };
  if (mode === 'sotw') {
    const resources = (raw['resources'] as unknown[]).map((entry) => {
      const any = anyOf(entry);
      const value = decodeAny(any.type_url, any.value);
      return { name: nameOf(typeUrl, value), version: '', value };
    });
    return { kind: mode, typeUrl, version: String(raw['version_info']), nonce: String(raw['nonce']), resources, removed: [] };
  }
  const resources = (raw['resources'] as Decoded[]).map((entry) => {
    const any = anyOf(entry['resource']);
    return { name: String(entry['name']), version: String(entry['version']), value: decodeAny(any.type_url, any.value) };
  });
  return {
    kind: mode,
    typeUrl,
    version: String(raw['system_version_info']),
    nonce: String(raw['nonce']),
    resources,
    removed: (raw['removed_resources'] as string[]).slice(),
  };
}

function nodeMessage(node: NodeSpec): Decoded {
  return { id: node.id, cluster: node.cluster ?? 'test', metadata: jsonToStruct(node.metadata ?? {}) };
}

let barrierCounter = 0;

interface Waiter {
  resolve(response: ReceivedResponse): void;
  reject(error: Error): void;
}

export class FakeEnvoy {
  readonly mode: XdsMode;
  readonly service?: string;
  /** Everything sent and received, in the order it happened on this side. */
  readonly log: StreamEvent[] = [];
  /** Every response received, in order (also those already taken with `next`). */
  readonly received: ReceivedResponse[] = [];
  /** What this client holds per type: SotW replaces, Delta applies. */
  readonly state = new Map<string, Map<string, ReceivedResource>>();
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<Decoded, Decoded>;
  private readonly queue: ReceivedResponse[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly subscribed = new Map<string, readonly string[]>();
  private readonly accepted = new Map<string, string>();
  private finalStatus?: FinalStatus;
  private readonly statusWaiters: ((status: FinalStatus) => void)[] = [];
  private halfClosed = false;

  constructor(private readonly options: FakeEnvoyOptions) {
    this.mode = options.mode;
    this.service = options.service;
    // Its own connection, as every Envoy has. Sharing grpc-js's global subchannel pool would put
    // every fake proxy on one HTTP/2 connection, where many cancelled streams trip nghttp2's
    // rapid-reset protection and the whole connection (all streams) is dropped.
    this.client = new XdsClient(options.address, options.credentials ?? grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, ...options.channelOptions });
    const noun = options.service === undefined ? undefined : PER_TYPE_SERVICES[options.service]?.noun;
    if (options.service !== undefined && noun === undefined) throw new Error(`no per-type service for ${options.service}`);
    const methodName = noun === undefined ? (options.mode === 'sotw' ? 'StreamAggregatedResources' : 'DeltaAggregatedResources') : `${options.mode === 'sotw' ? 'Stream' : 'Delta'}${noun}`;
    const open = (this.client as unknown as Record<string, BidiMethod>)[methodName]!.bind(this.client);
    this.call = open();
    this.call.on('data', (raw: Decoded) => this.onResponse(toResponse(this.mode, raw)));
    // A non-OK status is also emitted as 'error'; the 'status' event below reports it.
    this.call.on('error', () => undefined);
    this.call.on('status', (status: grpc.StatusObject) => this.onStatus({ code: status.code, details: status.details }));
  }

  get nodeId(): string {
    return this.options.node.id;
  }

  /** Whether the server has ended the stream. */
  get isClosed(): boolean {
    return this.finalStatus !== undefined;
  }

  /** Responses received and not yet taken with `next`. */
  get pending(): readonly ReceivedResponse[] {
    return this.queue;
  }

  send(spec: RequestSpec): SentRequest {
    const typeUrl = spec.typeUrl ?? this.service;
    if (typeUrl === undefined) throw new Error('an ADS request needs a typeUrl');
    const node = spec.node === undefined ? this.options.node : spec.node;
    const names = spec.names ?? this.subscribed.get(typeUrl) ?? [];
    if (this.mode === 'sotw') this.subscribed.set(typeUrl, names);
    const sent: SentRequest = {
      typeUrl,
      names,
      version: spec.version ?? this.accepted.get(typeUrl) ?? '',
      nonce: spec.nonce ?? '',
      subscribe: spec.subscribe ?? [],
      unsubscribe: spec.unsubscribe ?? [],
      errorDetail: spec.errorDetail,
      nodeId: node === null ? undefined : node.id,
    };
    const message: Decoded = {
      node: node === null ? undefined : nodeMessage(node),
      type_url: spec.typeUrl ?? '',
      response_nonce: sent.nonce,
      error_detail: spec.errorDetail === undefined ? undefined : { code: 3, message: spec.errorDetail },
    };
    if (this.mode === 'sotw') {
      message['version_info'] = sent.version;
      message['resource_names'] = [...names];
    } else {
      message['resource_names_subscribe'] = [...sent.subscribe];
      message['resource_names_unsubscribe'] = [...sent.unsubscribe];
      message['initial_resource_versions'] = { ...(spec.initialVersions ?? {}) };
    }
    this.log.push({ dir: 'out', request: sent });
    if (!this.halfClosed && !this.isClosed) this.call.write(message);
    return sent;
  }

  /**
   * Subscribes like Envoy does. SotW: sends the full name list for the type with the latest
   * nonce received for it. Delta: sends the names as `resource_names_subscribe`.
   */
  subscribe(typeUrl: string | undefined, names: readonly string[]): SentRequest {
    const type = typeUrl ?? this.service;
    if (type === undefined) throw new Error('an ADS subscription needs a typeUrl');
    const nonce = this.latestNonce(type) ?? '';
    if (this.mode === 'sotw') return this.send({ typeUrl: type, names, nonce });
    return this.send({ typeUrl: type, subscribe: names, nonce: '' });
  }

  /** Delta: unsubscribes names. SotW: sends the subscription without them. */
  unsubscribe(typeUrl: string | undefined, names: readonly string[]): SentRequest {
    const type = typeUrl ?? this.service;
    if (type === undefined) throw new Error('an ADS subscription needs a typeUrl');
    if (this.mode === 'sotw') {
      const remaining = (this.subscribed.get(type) ?? []).filter((n) => !names.includes(n));
      return this.send({ typeUrl: type, names: remaining, nonce: this.latestNonce(type) ?? '' });
    }
    // A Delta client forgets what it unsubscribed from (the server sends no removal for it).
    for (const name of names) this.state.get(type)?.delete(name);
    return this.send({ typeUrl: type, unsubscribe: names, nonce: '' });
  }

  ack(response: ReceivedResponse): SentRequest {
    this.accepted.set(response.typeUrl, response.version);
    return this.send({ typeUrl: response.typeUrl, version: response.version, nonce: response.nonce });
  }

  /** A NACK carries the last version this client accepted, the rejected nonce and an error. */
  nack(response: ReceivedResponse, message: string): SentRequest {
    return this.send({ typeUrl: response.typeUrl, nonce: response.nonce, errorDetail: message });
  }

  /** The next response, in arrival order; rejects after the deadline or if the stream ends first. */
  next(timeoutMs = 5_000): Promise<ReceivedResponse> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.finalStatus) return Promise.reject(new Error(`stream ended (${this.describeStatus()}) while waiting for a response`));
    return new Promise<ReceivedResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no xDS response within ${timeoutMs} ms (node ${this.nodeId})`));
      }, timeoutMs);
      const waiter: Waiter = {
        resolve: (response) => {
          clearTimeout(timer);
          resolve(response);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** The next response, which must be of the given type. */
  async nextOf(typeUrl: string, timeoutMs = 5_000): Promise<ReceivedResponse> {
    const response = await this.next(timeoutMs);
    if (response.typeUrl !== typeUrl) throw new Error(`expected a ${protoNameOf(typeUrl)} response, got ${protoNameOf(response.typeUrl)}`);
    return response;
  }

  /** Resolves with the final gRPC status of the stream. */
  closed(timeoutMs = 5_000): Promise<FinalStatus> {
    if (this.finalStatus) return Promise.resolve(this.finalStatus);
    return new Promise<FinalStatus>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`stream not closed within ${timeoutMs} ms (node ${this.nodeId})`)), timeoutMs);
      this.statusWaiters.push((status) => {
        clearTimeout(timer);
        resolve(status);
      });
    });
  }

  /**
   * Proves that nothing else was owed before it: subscribes a fresh, unknown name of a type
   * the test does not otherwise use (SDS on ADS; the service's own type on per-type streams)
   * and requires the very next response to be the answer to it. The server handles one
   * stream's requests in order, so a response it sent before would arrive first. The answer
   * is ACKed, so barriers can be repeated.
   */
  async barrier(typeUrl: string = this.service ?? SECRET_TYPE, timeoutMs = 5_000): Promise<ReceivedResponse> {
    const name = `barrier-${++barrierCounter}`;
    if (this.mode === 'sotw') this.send({ typeUrl, names: [...this.subscribedNames(typeUrl), name], nonce: this.latestNonce(typeUrl) ?? '' });
    else this.send({ typeUrl, subscribe: [name] });
    const response = await this.next(timeoutMs);
    const mentions = response.resources.some((r) => r.name === name) || response.removed.includes(name);
    // A SotW answer for an unknown non-EDS name is empty, so only its type identifies it.
    const answered = response.typeUrl === typeUrl && (mentions || (this.mode === 'sotw' && typeUrl !== ENDPOINT_TYPE && response.resources.length === 0));
    if (!answered) {
      throw new Error(`expected the barrier's answer (${protoNameOf(typeUrl)} "${name}") next, got ${protoNameOf(response.typeUrl)} [${response.resources.map((r) => r.name).join(', ')}]`);
    }
    this.ack(response);
    return response;
  }

  /** SotW: the names last sent for a type. */
  subscribedNames(typeUrl: string): readonly string[] {
    return this.subscribed.get(typeUrl) ?? [];
  }

  /** The latest nonce received for a type, if any. */
  latestNonce(typeUrl: string): string | undefined {
    for (let i = this.received.length - 1; i >= 0; i--) if (this.received[i]!.typeUrl === typeUrl) return this.received[i]!.nonce;
    return undefined;
  }

  /** Half-closes the request side (the server should then end the stream). */
  end(): void {
    this.halfClosed = true;
    this.call.end();
  }

  /** Cancels the stream and closes the channel. */
  close(): void {
    this.call.cancel();
    this.client.close();
  }

  private onResponse(response: ReceivedResponse): void {
    this.received.push(response);
    this.log.push({ dir: 'in', response });
    this.applyToState(response);
    if (this.options.autoAck) this.ack(response);
    this.options.onResponse?.(response, this);
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(response);
    else this.queue.push(response);
  }

  private applyToState(response: ReceivedResponse): void {
    // SotW: every response carries everything subscribed for its type (meshcp sends all
    // requested names for RDS/EDS/SDS too), so it replaces what was held. Delta applies.
    let held = this.state.get(response.typeUrl);
    if (!held || this.mode === 'sotw') {
      held = new Map();
      this.state.set(response.typeUrl, held);
    }
    for (const name of response.removed) held.delete(name);
    for (const resource of response.resources) held.set(resource.name, resource);
  }

  private onStatus(status: FinalStatus): void {
    if (this.finalStatus) return;
    this.finalStatus = status;
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error(`stream ended (${this.describeStatus()}) while waiting for a response`));
    for (const notify of this.statusWaiters.splice(0)) notify(status);
  }

  private describeStatus(): string {
    return this.finalStatus ? `${grpc.status[this.finalStatus.code] ?? this.finalStatus.code}: ${this.finalStatus.details}` : 'open';
  }
}

/** The unary Fetch* call of a per-type service. */
export async function fetchResources(address: string, typeUrl: string, request: { node?: NodeSpec; names?: readonly string[] }, timeoutMs = 5_000): Promise<ReceivedResponse> {
  const noun = PER_TYPE_SERVICES[typeUrl]?.noun;
  if (noun === undefined) throw new Error(`no per-type service for ${typeUrl}`);
  const client = new XdsClient(address, grpc.credentials.createInsecure());
  try {
    const fetch = (client as unknown as Record<string, UnaryMethod>)[`Fetch${noun}`]!.bind(client);
    const raw = await new Promise<Decoded>((resolve, reject) => {
      fetch(
        { node: request.node ? nodeMessage(request.node) : undefined, type_url: typeUrl, resource_names: [...(request.names ?? [])] },
        { deadline: Date.now() + timeoutMs },
        (err, value) => (err ? reject(err) : resolve(value ?? {})),
      );
    });
    return toResponse('sotw', raw);
  } finally {
    client.close();
  }
}

/** Resource names of a response, sorted. */
export function namesOf(response: ReceivedResponse): string[] {
  return response.resources.map((r) => r.name).sort();
}

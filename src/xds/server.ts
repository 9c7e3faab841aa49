/**
 * gRPC transport for the xDS protocol: ADS (SotW and Delta), the per-type LDS/RDS/CDS/EDS/SDS
 * services (stream, delta, fetch) and gRPC health. It only sees a `ConfigWatcher`.
 *
 * The port is open to callers that have not authenticated yet, so what one may cost is bounded
 * (limits.ts): connection limits in grpc-js (streams per connection, nghttp2 memory, idle and age),
 * the message size on the length prefix, a deadline for a stream's first request, and only the
 * node of that request decoded until it authenticated (request.ts). Every refusal is one log line.
 */
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { lookupType } from '../protos/load.js';
import { FetchService, fetchErrorStatus, DEFAULT_FETCH_LINGER_MS } from './fetch.js';
import { HealthService } from './health.js';
import { DEFAULT_XDS_LIMITS, type XdsLimits } from './limits.js';
import { decodeRequest, readNode, RequestRefusal } from './request.js';
import type { ConfigWatcher } from '../snapshot/watcher.js';
import { XdsSession, type SessionLogger } from './session.js';
import type { StatusRegistry } from './status.js';
import { NameSets, newSubscriptionCounters, type SubscriptionCounters } from './subscription.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../snapshot/types.js';
import { asBuffer, SotwSerializer, SotwWire, toWireResponse } from './wire.js';
import { ResponseWriter } from './writer.js';

export { toXdsRequest } from './request.js';
export { SotwSerializer, toWireResponse } from './wire.js';

export interface XdsServerOptions {
  readonly watcher: ConfigWatcher;
  readonly status: StatusRegistry;
  readonly log: SessionLogger;
  /** Server keepalive: detects half-open connections (a proxy that vanished without FIN). */
  readonly keepaliveTimeMs?: number;
  readonly keepaliveTimeoutMs?: number;
  /** Server credentials; insecure when absent. */
  readonly credentials?: grpc.ServerCredentials;
  /** What a caller may cost (limits.ts); each absent one takes its default. */
  readonly limits?: Partial<XdsLimits>;
  /** How long a Fetch's config watch is kept for the proxy's next fetch (fetch.ts). */
  readonly fetchLingerMs?: number;
}

const DiscoveryResponse = (): protobuf.Type => lookupType('envoy.service.discovery.v3.DiscoveryResponse');
const DeltaDiscoveryResponse = (): protobuf.Type => lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse');

const DEADLINE_EXCEEDED = 4;
const INTERNAL = 13;

type Call = grpc.ServerDuplexStream<Buffer, object>;

export interface XdsServerStats {
  decodedRequests: number;
  refusedStreams: number;
}

/**
 * Requests reach the handlers as raw bytes (request.ts decodes them, the node first). Responses
 * may be written already serialized (a Buffer) or as a SotwWire, serialized when grpc-js writes it.
 */
function methodDef(path: string, res: () => protobuf.Type, streaming: boolean, wire: SotwSerializer): grpc.MethodDefinition<Buffer, object> {
  const raw = (bytes: Buffer): Buffer => bytes;
  return {
    path,
    requestStream: streaming,
    responseStream: streaming,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: (value: object) => (value instanceof SotwWire ? wire.serialize(value.response) : Buffer.isBuffer(value) ? value : asBuffer(res().encode(value).finish())),
    responseDeserialize: (bytes: Buffer) => res().decode(bytes) as unknown as object,
  };
}

const PER_TYPE_SERVICES: readonly { service: string; noun: string; typeUrl: string }[] = [
  { service: 'envoy.service.listener.v3.ListenerDiscoveryService', noun: 'Listeners', typeUrl: LISTENER_TYPE },
  { service: 'envoy.service.route.v3.RouteDiscoveryService', noun: 'Routes', typeUrl: ROUTE_TYPE },
  { service: 'envoy.service.cluster.v3.ClusterDiscoveryService', noun: 'Clusters', typeUrl: CLUSTER_TYPE },
  { service: 'envoy.service.endpoint.v3.EndpointDiscoveryService', noun: 'Endpoints', typeUrl: ENDPOINT_TYPE },
  { service: 'envoy.service.secret.v3.SecretDiscoveryService', noun: 'Secrets', typeUrl: SECRET_TYPE },
];
const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/** grpc-js server options for the connection limits; a limit of 0 (age) means none. */
function grpcOptions(limits: XdsLimits, options: XdsServerOptions): grpc.ServerOptions {
  return {
    'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? 30_000,
    'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': limits.maxMessageBytes,
    'grpc.max_concurrent_streams': limits.maxStreamsPerConnection,
    'grpc-node.max_session_memory': limits.maxSessionMemoryMiB,
    'grpc.max_connection_idle_ms': limits.connectionIdleMs,
    ...(limits.maxConnectionAgeMs > 0 ? { 'grpc.max_connection_age_ms': limits.maxConnectionAgeMs, 'grpc.max_connection_age_grace_ms': limits.maxConnectionAgeGraceMs } : {}),
  };
}

export class XdsServer {
  readonly grpcServer: grpc.Server;
  readonly health = new HealthService(['', ADS_SERVICE, ...PER_TYPE_SERVICES.map((s) => s.service)]);
  readonly limits: XdsLimits;
  /** What subscription changes cost, over every stream (subscription.ts). */
  readonly counters: SubscriptionCounters = newSubscriptionCounters();
  /** SotW responses serialized, shared lists once (wire.ts). */
  private readonly wire = new SotwSerializer();
  /** The snapshot sets' names as sets shared by this server's streams (subscription.ts). */
  private readonly names = new NameSets();
  private readonly fetches: FetchService;
  private readonly calls = new Set<Call>();
  /**
   * Requests decoded whole (only after their node authenticated), and streams refused before that
   * (first-request deadline, node size or shape): what unauthenticated callers made the server do.
   */
  readonly stats: XdsServerStats = { decodedRequests: 0, refusedStreams: 0 };

  constructor(private readonly options: XdsServerOptions) {
    this.limits = { ...DEFAULT_XDS_LIMITS, ...options.limits };
    this.grpcServer = new grpc.Server(grpcOptions(this.limits, options));
    this.fetches = new FetchService({ watcher: options.watcher, log: options.log, limits: this.limits, lingerMs: options.fetchLingerMs ?? DEFAULT_FETCH_LINGER_MS, stats: this.stats });
    this.grpcServer.addService(
      {
        StreamAggregatedResources: methodDef(`/${ADS_SERVICE}/StreamAggregatedResources`, DiscoveryResponse, true, this.wire),
        DeltaAggregatedResources: methodDef(`/${ADS_SERVICE}/DeltaAggregatedResources`, DeltaDiscoveryResponse, true, this.wire),
      },
      {
        StreamAggregatedResources: (call: Call) => this.serveStream(call, 'sotw'),
        DeltaAggregatedResources: (call: Call) => this.serveStream(call, 'delta'),
      },
    );
    for (const { service, noun, typeUrl } of PER_TYPE_SERVICES) {
      this.grpcServer.addService(
        {
          [`Stream${noun}`]: methodDef(`/${service}/Stream${noun}`, DiscoveryResponse, true, this.wire),
          [`Delta${noun}`]: methodDef(`/${service}/Delta${noun}`, DeltaDiscoveryResponse, true, this.wire),
          [`Fetch${noun}`]: methodDef(`/${service}/Fetch${noun}`, DiscoveryResponse, false, this.wire),
        },
        {
          [`Stream${noun}`]: (call: Call) => this.serveStream(call, 'sotw', typeUrl),
          [`Delta${noun}`]: (call: Call) => this.serveStream(call, 'delta', typeUrl),
          [`Fetch${noun}`]: (call: grpc.ServerUnaryCall<Buffer, object>, callback: grpc.sendUnaryData<object>) => {
            this.fetches.fetch(call.request, typeUrl, call.getPeer()).then(
              (response) => callback(null, response),
              (err: unknown) => callback(fetchErrorStatus(err)),
            );
          },
        },
      );
    }
    this.health.addToServer(this.grpcServer);
  }

  /** Open streams, and config watches kept for fetches, for bounds checks. */
  get sizes(): { readonly streams: number; readonly fetchWatches: number } {
    return { streams: this.calls.size, fetchWatches: this.fetches.lingeringWatches };
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
    this.health.setStatus(ADS_SERVICE, serving ? 'SERVING' : 'NOT_SERVING');
  }

  /**
   * Ends every stream, then waits for peers to finish. A proxy that never half-closes would
   * hold a graceful shutdown forever, so after `graceMs` the remaining connections are cut.
   */
  async close(graceMs = 3000): Promise<void> {
    this.fetches.close();
    this.health.close();
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
    this.fetches.close();
    this.grpcServer.forceShutdown();
  }

  private serveStream(call: Call, mode: 'sotw' | 'delta', fixedTypeUrl?: string): void {
    this.calls.add(call);
    let ended = false;
    let opened = false;
    const delta = mode === 'delta';
    const writer = new ResponseWriter(call);
    const end = (code: number, details: string): void => {
      if (ended) return;
      ended = true;
      call.emit('error', { code, details });
    };
    const session = new XdsSession({
      mode,
      fixedTypeUrl,
      watcher: this.options.watcher,
      status: this.options.status,
      log: this.options.log,
      limits: this.limits,
      counters: this.counters,
      names: this.names,
      send: (response) => {
        if (!ended) writer.write(response.typeUrl, response.kind === 'sotw' ? new SotwWire(response) : toWireResponse(response));
      },
      close: end,
    });
    let deadline: NodeJS.Timeout | undefined = setTimeout(() => {
      deadline = undefined;
      refuse(DEADLINE_EXCEEDED, `no request within ${this.limits.firstRequestTimeoutMs} ms of opening the stream (--xds-first-request-timeout)`);
    }, this.limits.firstRequestTimeoutMs);
    const finish = (): void => {
      if (deadline !== undefined) clearTimeout(deadline);
      deadline = undefined;
      this.calls.delete(call);
      session.end();
    };
    /** A stream refused before it authenticated: one log line, no state. */
    const refuse = (code: number, message: string): void => {
      if (ended) return;
      this.stats.refusedStreams++;
      this.options.log.warn({ peer: call.getPeer(), code }, `refused an xDS stream: ${message}`);
      end(code, message);
      finish();
    };
    call.on('data', (bytes: Buffer) => {
      if (ended) return;
      try {
        if (!opened) {
          opened = true;
          if (deadline !== undefined) clearTimeout(deadline);
          deadline = undefined;
          // Before it authenticated, only the stream's node is decoded (request.ts).
          const node = readNode(bytes, delta, this.limits.maxNodeBytes);
          if (!session.open(node)) return;
        }
        this.stats.decodedRequests++;
        session.onRequest(decodeRequest(bytes, delta));
      } catch (err) {
        if (err instanceof RequestRefusal) {
          if (session.nodeId === undefined) refuse(err.grpcCode, err.message);
          else {
            this.options.log.warn({ node: session.nodeId, code: err.grpcCode }, `closing xDS stream: ${err.message}`);
            end(err.grpcCode, err.message);
            finish();
          }
          return;
        }
        this.options.log.warn({ err: (err as Error).message }, 'xDS request handling failed');
        end(INTERNAL, (err as Error).message);
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
}

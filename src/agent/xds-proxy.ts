/**
 * `meshcp agent --xds-proxy-address unix:///PATH` (SPEC §2 "Proxyless gRPC and TLS"): serves xDS
 * to the local proxyless application on a Unix socket only its user can reach (relay-listener.ts;
 * a loopback HOST:PORT still works, with a warning), in plaintext, and relays each stream to meshcp
 * over TLS. grpc-js 1.14's xDS client knows only `insecure` and `google_default` channel
 * credentials (gRFC A27), so it cannot verify meshcp itself; istio-agent solves the same problem
 * the same way.
 *
 * Every request that carries a node gets the agent's `node.metadata.token` (and `mesh`/`flavor`
 * when the application left them out), so the application's bootstrap holds no token. Responses
 * pass through untouched, as bytes. With several `--xds-address` (replicas), the relay uses the
 * agent's current one and moves a SotW stream to the next replica without ending it when the
 * replica goes away (relayed-stream.ts); any status meshcp ends a stream with otherwise reaches
 * the application unchanged. Nothing here logs a token, a request or a response body.
 */
import * as grpc from '@grpc/grpc-js';
import type { AgentLogger } from './agent.js';
import { bindTarget, parseRelayAddress, tcpRelayWarning, UnixRelaySocket, type RelayAddress } from './relay-listener.js';
import { RelayedStream, identity, withAgentMetadata, type Kind, type RelayContext, type RelayedMethod } from './relayed-stream.js';
import { DEFAULT_BACKOFF, UPSTREAM_KEEPALIVE, addressListOf, type BackoffOptions, type XdsAddressList } from './xds-addresses.js';
import { lookupType } from '../protos/load.js';
import type protobuf from 'protobufjs';

export interface XdsProxyOptions {
  /**
   * Where the application connects: `unix:///PATH` (a 0600 socket: only this user can reach the
   * identity, relay-listener.ts), or a loopback HOST:PORT (port 0: any free port), which warns.
   */
  readonly listenAddress: string;
  /** meshcp's xDS address, or several replicas' (a list shared with the agent keeps both on one replica). */
  readonly upstreamAddress: string | readonly string[] | XdsAddressList;
  /** TLS credentials that verify meshcp (plaintext only with `--xds-plaintext`). */
  readonly credentials: grpc.ChannelCredentials;
  /** Added to node.metadata: `token` always, `mesh` and `flavor` when absent. */
  readonly token: string;
  readonly mesh: string;
  readonly log: AgentLogger;
  /** Delay between attempts when no replica answers (xds-addresses.ts). */
  readonly reconnect?: BackoffOptions;
}

const ADS = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
const PER_TYPE: readonly [service: string, noun: string][] = [
  ['envoy.service.listener.v3.ListenerDiscoveryService', 'Listeners'],
  ['envoy.service.route.v3.RouteDiscoveryService', 'Routes'],
  ['envoy.service.cluster.v3.ClusterDiscoveryService', 'Clusters'],
  ['envoy.service.endpoint.v3.EndpointDiscoveryService', 'Endpoints'],
  ['envoy.service.secret.v3.SecretDiscoveryService', 'Secrets'],
];

function relayedServices(): Map<string, RelayedMethod[]> {
  const services = new Map<string, RelayedMethod[]>();
  services.set(ADS, [
    { path: `/${ADS}/StreamAggregatedResources`, kind: 'sotw' },
    { path: `/${ADS}/DeltaAggregatedResources`, kind: 'delta' },
  ]);
  for (const [service, noun] of PER_TYPE) {
    services.set(service, [
      { path: `/${service}/Stream${noun}`, kind: 'sotw' },
      { path: `/${service}/Delta${noun}`, kind: 'delta' },
      { path: `/${service}/Fetch${noun}`, kind: 'fetch' },
    ]);
  }
  return services;
}

export class XdsProxy {
  private readonly server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  private readonly upstreams = new Map<string, grpc.Client>();
  private readonly streams = new Set<RelayedStream>();
  private readonly unary = new Set<grpc.ClientUnaryCall>();
  private readonly context: RelayContext;
  private readonly address: RelayAddress;
  private socket: UnixRelaySocket | undefined;

  constructor(private readonly options: XdsProxyOptions) {
    this.address = parseRelayAddress(options.listenAddress);
    if (this.address.kind === 'tcp') options.log.warn({ address: options.listenAddress }, tcpRelayWarning(options.listenAddress));
    this.context = {
      addresses: addressListOf(options.upstreamAddress),
      upstream: (address) => this.upstream(address),
      token: options.token,
      mesh: options.mesh,
      log: options.log,
      backoff: options.reconnect ?? DEFAULT_BACKOFF,
    };
    for (const methods of relayedServices().values()) {
      const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
      const handlers: grpc.UntypedServiceImplementation = {};
      for (const method of methods) {
        const streaming = method.kind !== 'fetch';
        const name = method.path.slice(method.path.lastIndexOf('/') + 1);
        definition[name] = {
          path: method.path,
          requestStream: streaming,
          responseStream: streaming,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        };
        handlers[name] = streaming
          ? (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.relayStream(method, call)
          : (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => this.relayUnary(method, call, callback);
      }
      this.server.addService(definition, handlers);
    }
  }

  /** The meshcp address new streams go to now. */
  currentUpstream(): string {
    return this.context.addresses.current();
  }

  /** Binds the socket (then it is in place, 0600) or the loopback address; resolves to the bound TCP port (0 for a socket). */
  async listen(): Promise<number> {
    const bind = (target: string): Promise<number> =>
      new Promise((resolve, reject) => {
        this.server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
      });
    if (this.address.kind === 'tcp') return bind(this.options.listenAddress);
    const socket = new UnixRelaySocket(this.address.path);
    this.socket = socket;
    try {
      await bind(bindTarget(await socket.prepare()));
      socket.publish();
    } catch (err) {
      socket.remove();
      throw err;
    }
    return 0;
  }

  /** Where the app connects: `unix:///PATH` or `HOST:PORT`. */
  get listening(): string {
    return this.address.kind === 'unix' ? `unix://${this.address.path}` : this.options.listenAddress;
  }

  async close(): Promise<void> {
    for (const stream of [...this.streams]) stream.finish();
    for (const call of this.unary) call.cancel();
    this.server.forceShutdown();
    this.socket?.remove();
    for (const client of this.upstreams.values()) client.close();
  }

  /** One channel per replica, kept for the relay's lifetime (grpc-js reconnects it by itself). */
  private upstream(address: string): grpc.Client {
    let client = this.upstreams.get(address);
    if (!client) {
      client = new grpc.Client(address, this.options.credentials, { 'grpc.max_receive_message_length': 16 * 1024 * 1024, ...UPSTREAM_KEEPALIVE });
      this.upstreams.set(address, client);
    }
    return client;
  }

  private relayStream(method: RelayedMethod, down: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    const stream: RelayedStream = new RelayedStream(method, down, this.context, () => this.streams.delete(stream));
    this.streams.add(stream);
  }

  private relayUnary(method: RelayedMethod, call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>): void {
    let request: Buffer;
    try {
      request = this.withAgentNode(call.request, method.kind);
    } catch (err) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: `xDS proxy: undecodable request: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    const address = this.context.addresses.current();
    const up = this.upstream(address).makeUnaryRequest(method.path, identity, identity, request, (err, response) => {
      this.unary.delete(up);
      if (err) {
        // The caller retries; its next fetch goes to the next replica.
        if (err.code === grpc.status.UNAVAILABLE) this.context.addresses.failed(address);
        callback({ code: err.code, details: err.details });
      } else callback(null, response);
    });
    this.unary.add(up);
  }

  /** The request with the agent's token (and mesh/flavor when absent) in node.metadata; unchanged without a node. */
  private withAgentNode(bytes: Buffer, kind: Kind): Buffer {
    const type: protobuf.Type = lookupType(kind === 'delta' ? 'envoy.service.discovery.v3.DeltaDiscoveryRequest' : 'envoy.service.discovery.v3.DiscoveryRequest');
    const message = type.decode(bytes) as protobuf.Message & { node?: { metadata?: unknown } | null };
    if (!message.node) return bytes;
    withAgentMetadata(message.node, this.options);
    return Buffer.from(type.encode(message).finish());
  }
}

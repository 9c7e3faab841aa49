/**
 * `meshcp agent --xds-proxy-address 127.0.0.1:PORT` (SPEC §2 "Proxyless gRPC and TLS"): serves
 * xDS to the local proxyless application on loopback, in plaintext, and relays each stream to
 * meshcp over TLS. grpc-js 1.14's xDS client knows only `insecure` and `google_default` channel
 * credentials (gRFC A27), so it cannot verify meshcp itself; istio-agent solves the same problem
 * the same way.
 *
 * Every request that carries a node gets the agent's `node.metadata.token` (and `mesh`/`flavor`
 * when the application left them out), so the application's bootstrap holds no token. Responses
 * pass through untouched, as bytes. When meshcp ends a stream with a status, the application's
 * stream ends with that same status. Nothing here logs a token, a request or a response body.
 */
import { isIP } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { lookupType } from '../protos/load.js';
import { jsonToStruct, structToJson } from '../xds/struct.js';
import type { AgentLogger } from './agent.js';

export interface XdsProxyOptions {
  /** Where the application connects: a loopback HOST:PORT (port 0: any free port). */
  readonly listenAddress: string;
  /** meshcp's xDS address. */
  readonly upstreamAddress: string;
  /** TLS credentials that verify meshcp (plaintext only with `--xds-plaintext`). */
  readonly credentials: grpc.ChannelCredentials;
  /** Added to node.metadata: `token` always, `mesh` and `flavor` when absent. */
  readonly token: string;
  readonly mesh: string;
  readonly log: AgentLogger;
}

type Kind = 'sotw' | 'delta' | 'fetch';

interface RelayedMethod {
  readonly path: string;
  readonly kind: Kind;
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

const identity = (b: Buffer): Buffer => b;

/** Refuses anything but a loopback address: the relay serves the agent's identity to whoever connects. */
export function checkLoopbackAddress(address: string, flag = '--xds-proxy-address'): void {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${flag} "${address}" must be HOST:PORT, e.g. 127.0.0.1:15010`);
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!loopback) {
    throw new Error(`${flag} "${address}" is not a loopback address: the xDS proxy is plaintext and speaks with this agent's token, so it listens on 127.0.0.1 only (e.g. 127.0.0.1:${port || 15010})`);
  }
}

export class XdsProxy {
  private readonly server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  private readonly upstream: grpc.Client;
  private readonly calls = new Set<{ cancel(): void }>();

  constructor(private readonly options: XdsProxyOptions) {
    checkLoopbackAddress(options.listenAddress);
    this.upstream = new grpc.Client(options.upstreamAddress, options.credentials, { 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
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

  /** Binds the loopback address; resolves to the bound port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(this.options.listenAddress, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
  }

  async close(): Promise<void> {
    for (const call of this.calls) call.cancel();
    this.server.forceShutdown();
    this.upstream.close();
  }

  private relayStream(method: RelayedMethod, down: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    const up = this.upstream.makeBidiStreamRequest(method.path, identity, identity);
    this.calls.add(up);
    let finished = false;
    const finish = (): void => {
      finished = true;
      this.calls.delete(up);
    };
    down.on('data', (request: Buffer) => {
      let rewritten: Buffer;
      try {
        rewritten = this.withAgentNode(request, method.kind);
      } catch (err) {
        // A request that does not decode would be refused by meshcp anyway; say why here.
        finish();
        up.cancel();
        down.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: `xDS proxy: undecodable request: ${err instanceof Error ? err.message : String(err)}` });
        return;
      }
      up.write(rewritten);
    });
    down.on('end', () => up.end());
    down.on('cancelled', () => {
      if (finished) return;
      finish();
      up.cancel();
    });
    up.on('data', (response: Buffer) => {
      if (!finished) down.write(response);
    });
    // A non-OK status is also emitted as 'error'; 'status' below carries it to the application.
    up.on('error', () => undefined);
    up.on('status', (status: grpc.StatusObject) => {
      if (finished) return;
      finish();
      if (status.code === grpc.status.OK) down.end();
      else {
        if (status.code === grpc.status.UNAVAILABLE) this.options.log.warn({ upstream: this.options.upstreamAddress, details: status.details }, 'xDS proxy: meshcp is unreachable');
        down.emit('error', { code: status.code, details: status.details, metadata: status.metadata });
      }
    });
  }

  private relayUnary(method: RelayedMethod, call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>): void {
    let request: Buffer;
    try {
      request = this.withAgentNode(call.request, method.kind);
    } catch (err) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: `xDS proxy: undecodable request: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    const up = this.upstream.makeUnaryRequest(method.path, identity, identity, request, (err, response) => {
      this.calls.delete(up);
      if (err) callback({ code: err.code, details: err.details });
      else callback(null, response);
    });
    this.calls.add(up);
  }

  /** The request with the agent's token (and mesh/flavor when absent) in node.metadata; unchanged without a node. */
  private withAgentNode(bytes: Buffer, kind: Kind): Buffer {
    const type: protobuf.Type = lookupType(kind === 'delta' ? 'envoy.service.discovery.v3.DeltaDiscoveryRequest' : 'envoy.service.discovery.v3.DiscoveryRequest');
    const message = type.decode(bytes) as protobuf.Message & { node?: { metadata?: unknown } | null };
    if (!message.node) return bytes;
    const metadata = structToJson(message.node.metadata);
    const merged = { mesh: this.options.mesh, flavor: 'grpc', ...metadata, token: this.options.token };
    const structType = lookupType('google.protobuf.Struct');
    message.node.metadata = structType.fromObject(jsonToStruct(merged));
    return Buffer.from(type.encode(message).finish());
  }
}

/**
 * Client process: N simulated Envoys, each with one ADS (SotW) stream, behaving like Envoy:
 * CDS and LDS wildcard; on a CDS response, subscribe EDS to its EDS clusters; on an LDS
 * response, subscribe RDS to the route configurations its HTTP connection managers name; on
 * either, subscribe SDS to the secrets their TLS transport sockets name (mtls scenario: the
 * workload certificate and the mesh trust bundle), as Envoy does while it warms clusters and
 * listeners; ACK every response (same type_url, version_info, response_nonce; resource_names as
 * subscribed). The node (with `mesh` metadata as a Struct) is sent on the first request of
 * the stream only, as with Envoy's `set_node_on_first_message_only` (what Istio configures).
 *
 * With `tls`, the connections verify the server with the given CA. With `reconnect`, a proxy whose
 * stream fails opens a new one after a jittered backoff (100 ms doubling to 1 s, as Envoy retries
 * with jitter), sending its accepted versions and no nonce, as Envoy does on a new stream: the
 * reconnect storm (reconnect-storm.ts) restarts the server under them. `mark` then `await-acked`
 * times, in this process, how long until every proxy has ACKed every given type since the mark.
 *
 * `perConnection` proxies share one HTTP/2 connection (1 = one connection per proxy, as real
 * Envoys have). Each group uses its own grpc.Client with a local subchannel pool, or grpc-js
 * would put every channel to the same address on one connection.
 */
import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { jsonToStruct } from '../src/xds/struct.js';
import { generateForProxy } from '../src/generate/generate.js';
import { translateMeshes } from '../src/translate/mesh-services.js';
import { buildSnapshot } from '../src/snapshot/snapshot.js';
import type { MeshTlsMaterial } from '../src/ca/workload-identity.js';
import { ADS_PATH, CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE, decodeResponse, edsNamesOf, encodeRequest, encodeResponse, identity, rdsNamesOf, sdsNamesOf, type WireResponse } from './protocol.js';
import { MESH, SCENARIOS, nodeId, resourcesAt, staticResources } from './scenario.js';
import { progress, replyToParent, serveParent, type ClientsCommand } from './ipc.js';

interface Counters {
  connections: number;
  streams: number;
  responses: number;
  requests: number;
  streamErrors: number;
  lastError?: string;
  firstResponses: number;
}

const counters: Counters = { connections: 0, streams: 0, responses: 0, requests: 0, streamErrors: 0, firstResponses: 0 };
/** Since the last `mark`: when it was, and the proxies that have ACKed every awaited type since. */
const since = { at: 0, complete: 0, types: [] as readonly string[], done: undefined as (() => void) | undefined, firstResponseAt: undefined as number | undefined };
const clients: grpc.Client[] = [];
/** Held so the streams stay referenced for the life of the process. */
const envoys: SimulatedEnvoy[] = [];
let expectedProxies = 0;

/** Derived subscriptions depend only on a response's content, and version_info is a content hash: decode each version once. */
const derivedNames = new Map<string, string[]>();

function namesFrom(what: 'eds' | 'rds' | 'sds', response: WireResponse, derive: (response: WireResponse) => string[]): string[] {
  const key = `${what}|${response.type_url}|${response.version_info}`;
  let names = derivedNames.get(key);
  if (!names) derivedNames.set(key, (names = derive(response)));
  return names;
}

function sameNames(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((n, i) => n === b[i]);
}

class SimulatedEnvoy {
  private call!: grpc.ClientDuplexStream<Buffer, Buffer>;
  private subscribed = new Map<string, readonly string[]>();
  private readonly accepted = new Map<string, string>();
  private latestNonce = new Map<string, string>();
  /** SDS names referred to by the current clusters and by the current listeners. */
  private readonly secretsOf = new Map<string, readonly string[]>();
  private nodeSent = false;
  private gotFirst = false;
  /** Types ACKed since the last mark; the proxy counts as complete once, when it holds every awaited type. */
  ackedSinceMark = new Set<string>();
  private failures = 0;

  constructor(
    private readonly client: grpc.Client,
    private readonly id: string,
    private readonly reconnect: boolean,
  ) {
    this.open();
  }

  private open(): void {
    const call = this.client.makeBidiStreamRequest(ADS_PATH, identity, identity);
    this.call = call;
    call.on('data', (bytes: Buffer) => this.onResponse(decodeResponse(bytes)));
    call.on('error', (err: Error) => {
      if (!this.reconnect) {
        counters.streamErrors++;
        counters.lastError = `${this.id}: ${err.message}`;
        return;
      }
      // A new stream, as Envoy opens one: the node again, the accepted versions, no nonce.
      if (call !== this.call) return;
      const delay = Math.random() * Math.min(1000, 100 * 2 ** this.failures++);
      setTimeout(() => this.restart(), delay);
    });
    counters.streams++;
    this.subscribe(CLUSTER_TYPE, []);
    this.subscribe(LISTENER_TYPE, []);
  }

  private restart(): void {
    const resubscribe = this.subscribed;
    this.subscribed = new Map();
    this.latestNonce = new Map();
    this.nodeSent = false;
    this.open();
    for (const [typeUrl, names] of resubscribe) if (typeUrl !== CLUSTER_TYPE && typeUrl !== LISTENER_TYPE) this.subscribe(typeUrl, names);
  }

  private onResponse(response: WireResponse): void {
    counters.responses++;
    this.failures = 0;
    if (since.done && since.firstResponseAt === undefined) since.firstResponseAt = performance.now();
    if (!this.gotFirst) {
      this.gotFirst = true;
      progress('clients: streams answered', ++counters.firstResponses, expectedProxies);
    }
    const typeUrl = response.type_url;
    this.latestNonce.set(typeUrl, response.nonce);
    // Envoy asks for the resources a response refers to before it ACKs that response: EDS and
    // SDS while clusters warm, RDS and SDS while listeners warm.
    if (typeUrl === CLUSTER_TYPE || typeUrl === LISTENER_TYPE) {
      if (typeUrl === CLUSTER_TYPE) this.ensureSubscribed(ENDPOINT_TYPE, namesFrom('eds', response, edsNamesOf));
      else this.ensureSubscribed(ROUTE_TYPE, namesFrom('rds', response, rdsNamesOf));
      this.secretsOf.set(typeUrl, namesFrom('sds', response, sdsNamesOf));
      const secrets = [...new Set([...(this.secretsOf.get(CLUSTER_TYPE) ?? []), ...(this.secretsOf.get(LISTENER_TYPE) ?? [])])].sort();
      // No SDS subscription until something names a secret (the plain scenario never does).
      if (secrets.length > 0 || this.subscribed.has(SECRET_TYPE)) this.ensureSubscribed(SECRET_TYPE, secrets);
    }
    this.accepted.set(typeUrl, response.version_info);
    this.write({ type_url: typeUrl, version_info: response.version_info, response_nonce: response.nonce, resource_names: [...(this.subscribed.get(typeUrl) ?? [])] });
    if (since.done && !this.ackedSinceMark.has(typeUrl) && since.types.includes(typeUrl)) {
      this.ackedSinceMark.add(typeUrl);
      if (this.ackedSinceMark.size === since.types.length && ++since.complete === envoys.length) since.done();
    }
  }

  private ensureSubscribed(typeUrl: string, names: readonly string[]): void {
    if (!sameNames(this.subscribed.get(typeUrl), names)) this.subscribe(typeUrl, names);
  }

  private subscribe(typeUrl: string, names: readonly string[]): void {
    this.subscribed.set(typeUrl, names);
    this.write({
      type_url: typeUrl,
      version_info: this.accepted.get(typeUrl) ?? '',
      response_nonce: this.latestNonce.get(typeUrl) ?? '',
      resource_names: [...names],
    });
  }

  private write(request: Record<string, unknown>): void {
    if (!this.nodeSent) {
      this.nodeSent = true;
      request['node'] = { id: this.id, cluster: 'bench', metadata: jsonToStruct({ mesh: MESH }) };
    }
    counters.requests++;
    this.call.write(encodeRequest(request));
  }
}

function connect(command: Extract<ClientsCommand, { type: 'connect' }>): void {
  const { address, proxies, perConnection, tls, reconnect = false } = command;
  expectedProxies = proxies;
  const credentials = tls ? grpc.credentials.createSsl(Buffer.from(tls.caPem)) : grpc.credentials.createInsecure();
  for (let i = 0; i < proxies; i++) {
    if (i % perConnection === 0) {
      clients.push(
        new grpc.Client(address, credentials, {
          'grpc.use_local_subchannel_pool': 1,
          'grpc.max_receive_message_length': 16 * 1024 * 1024,
          ...(tls ? { 'grpc.ssl_target_name_override': tls.serverName } : {}),
          // A restarted server is retried soon, the same way for every server measured.
          ...(reconnect ? { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 } : {}),
        }),
      );
      counters.connections++;
    }
    envoys.push(new SimulatedEnvoy(clients[clients.length - 1]!, nodeId(i), reconnect));
  }
}

/** Starts the clock of `await-acked`: from now, every proxy must ACK each of `types` again. */
function mark(types: readonly string[]): void {
  since.at = performance.now();
  since.complete = 0;
  since.firstResponseAt = undefined;
  since.types = types;
  for (const envoy of envoys) envoy.ackedSinceMark = new Set();
  since.done = () => undefined;
}

/** ms from the mark until every proxy had ACKed every awaited type, and until the first response (the server serving again). */
function awaitAcked(): Promise<{ ms: number; firstResponseMs: number }> {
  return new Promise((resolve) => {
    const finish = (): void => {
      since.done = undefined;
      const now = performance.now();
      resolve({ ms: now - since.at, firstResponseMs: (since.firstResponseAt ?? now) - since.at });
    };
    if (envoys.length > 0 && since.complete === envoys.length) finish();
    else since.done = finish;
  });
}

serveParent<ClientsCommand>(async (command) => {
  switch (command.type) {
    case 'connect':
      connect(command);
      return;
    case 'mark':
      mark(command.types);
      replyToParent({ type: 'marked' });
      return;
    case 'await-acked':
      replyToParent({ type: 'acked', ...(await awaitAcked()) });
      return;
    case 'stats': {
      const { firstResponses: _ignored, ...stats } = counters;
      replyToParent({ type: 'stats', stats: { ...stats, rssBytes: process.memoryUsage().rss } });
      return;
    }
    case 'stop':
      for (const client of clients) client.close();
      process.exit(0);
  }
});

/**
 * Loads the protos and lets protobufjs generate its codecs (it does so per type, on first use)
 * before any clock starts, by decoding one proxy's real config, built with meshcp's code.
 */
function warmUp(): void {
  encodeRequest({ type_url: CLUSTER_TYPE, node: { id: 'warm', metadata: jsonToStruct({ mesh: MESH }) } });
  // The mtls config refers to SDS names only; the material's content does not matter to the client's decoding.
  const material: MeshTlsMaterial = {
    identity: () => ({ certChainPem: 'warm', keyPem: 'warm', spiffeIds: [], serialHex: '01', notAfter: new Date() }),
    trustBundle: () => 'warm',
  };
  for (const scenario of SCENARIOS) warmUpScenario(scenario === 'mtls' ? material : undefined, scenario);
}

function warmUpScenario(meshTls: MeshTlsMaterial | undefined, scenario: (typeof SCENARIOS)[number]): void {
  const resources = resourcesAt(staticResources(1, scenario), 0);
  const result = buildSnapshot(generateForProxy(translateMeshes(resources), { name: nodeId(0), mesh: MESH, flavor: 'envoy' }, meshTls ? { meshTls } : {}));
  if (!result.ok) throw new Error(result.errors.join('; '));
  const response = (typeUrl: string): WireResponse =>
    decodeResponse(
      encodeResponse({
        version_info: 'warm',
        nonce: 'warm',
        type_url: typeUrl,
        resources: [...(result.snapshot.resources.get(typeUrl)?.values() ?? [])].map((r) => ({ type_url: r.typeUrl, value: r.value })),
      }),
    );
  if (edsNamesOf(response(CLUSTER_TYPE)).length === 0 || rdsNamesOf(response(LISTENER_TYPE)).length === 0) throw new Error('warm-up config has no EDS or RDS names');
  const secrets = [...sdsNamesOf(response(CLUSTER_TYPE)), ...sdsNamesOf(response(LISTENER_TYPE))];
  if ((secrets.length > 0) !== (scenario === 'mtls')) throw new Error(`${scenario} warm-up config names ${secrets.length} SDS secrets`);
  if (scenario === 'mtls' && (result.snapshot.resources.get(SECRET_TYPE)?.size ?? 0) === 0) throw new Error('mtls warm-up config has no SDS secrets');
}

warmUp();
replyToParent({ type: 'ready' });

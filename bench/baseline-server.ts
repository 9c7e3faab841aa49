/**
 * Server process: the floor. A plain grpc-js server with one bidi method on the ADS path
 * that writes pre-encoded DiscoveryResponse bytes: the very resources meshcp sends each proxy
 * (built with meshcp's own generate + snapshot code before any clock starts), in the same
 * order and with the same version strings. Per stream it only remembers the node, the nonce
 * awaiting an ACK per type, and nothing else. No translation, no generation, no per-stream
 * encoding: what is left is gRPC framing, HTTP/2 and request decoding.
 *
 * In the mtls scenario the baseline also holds each proxy's own SDS response (its workload
 * certificate and key, and the mesh trust bundle): the CA is created and every certificate is
 * issued with meshcp's own CA registry before any clock starts, so the baseline's cold start is
 * delivery only. The certificates differ from the ones meshcp issues (fresh keys), not their size.
 */
import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import type { Model } from '../src/model/model.js';
import type { MeshTlsMaterial } from '../src/ca/workload-identity.js';
import { translateMeshes } from '../src/translate/mesh-services.js';
import { ADS_PATH, ENDPOINT_TYPE, benchTypes, decodeRequest, encodeResponse, identity, sampleRequest } from './protocol.js';
import { resourcesAt, staticResources, type Scenario } from './scenario.js';
import type { Resource } from '../src/api/types.js';
import { progress } from './ipc.js';
import { issueAll, prepareProxyConfigs } from './prepared.js';
import { runServerProcess, type BenchTarget, type ChangeResult, type ListenOptions } from './server-harness.js';

type Call = grpc.ServerDuplexStream<Buffer, Buffer>;

interface StreamState {
  readonly call: Call;
  nodeId?: string;
  /** Nonce awaiting an ACK, per type. */
  readonly pending: Map<string, string>;
}

/** Per proxy, per type: the response bytes. Equal content is encoded once and shared. */
type Responses = Map<string, Map<string, Buffer>>;

const INITIAL_NONCE = 'i';

function buildResponses(model: Model, proxies: number, typeUrls: readonly string[], nonce: string, meshTls: MeshTlsMaterial | undefined): Responses {
  const shared = new Map<string, Buffer>();
  const out: Responses = new Map();
  for (const [node, config] of prepareProxyConfigs(model, proxies, typeUrls, meshTls)) {
    const perType = new Map<string, Buffer>();
    for (const [typeUrl, { version, resources }] of config) {
      const cacheKey = `${typeUrl}|${version}`;
      let bytes = shared.get(cacheKey);
      if (!bytes) {
        bytes = encodeResponse({ version_info: version, type_url: typeUrl, nonce, resources: resources.map((r) => ({ type_url: r.typeUrl, value: r.value })) });
        shared.set(cacheKey, bytes);
      }
      perType.set(typeUrl, bytes);
    }
    out.set(node, perType);
  }
  return out;
}

class BaselineTarget implements BenchTarget {
  private readonly server = new grpc.Server({
    // The same server options meshcp's XdsServer uses.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  });
  private readonly streams = new Map<string, StreamState>();
  private proxies = 0;
  private types: readonly string[] = [];
  private base: Resource[] = [];
  private meshTls: MeshTlsMaterial | undefined;
  private initial: Responses = new Map();
  private onAck: (node: string, typeUrl: string) => void = () => undefined;

  async start(proxies: number, scenario: Scenario, listen: ListenOptions = {}): Promise<number> {
    this.proxies = proxies;
    this.types = benchTypes(scenario);
    this.base = staticResources(proxies, scenario);
    const resources = resourcesAt(this.base, 0);
    this.meshTls = scenario === 'mtls' ? await issueAll(resources, proxies) : undefined;
    this.initial = buildResponses(translateMeshes(resources), proxies, this.types, INITIAL_NONCE, this.meshTls);
    decodeRequest(sampleRequest());
    this.server.addService(
      {
        StreamAggregatedResources: {
          path: ADS_PATH,
          requestStream: true,
          responseStream: true,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      },
      { StreamAggregatedResources: (call: Call) => this.serve(call) },
    );
    return new Promise<number>((resolve, reject) => {
      const credentials = listen.tls ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(listen.tls.certPem), private_key: Buffer.from(listen.tls.keyPem) }], false) : grpc.ServerCredentials.createInsecure();
      this.server.bindAsync(`127.0.0.1:${listen.port ?? 0}`, credentials, (err, port) => (err ? reject(err) : resolve(port)));
    });
  }

  initialConfigAcked(): Promise<void> {
    const ackedTypes = new Map<string, Set<string>>();
    let complete = 0;
    return new Promise<void>((resolve) => {
      this.onAck = (node, typeUrl) => {
        let types = ackedTypes.get(node);
        if (!types) ackedTypes.set(node, (types = new Set()));
        if (types.has(typeUrl)) return;
        types.add(typeUrl);
        if (types.size < this.types.length) return;
        progress('baseline: initial config ACKed by', ++complete, this.proxies);
        if (complete === this.proxies) {
          // This arrow's context holds `ackedTypes`: emptied, the per-proxy tracking does not
          // count as the server's idle memory (as in the meshcp harness).
          ackedTypes.clear();
          this.onAck = () => undefined;
          resolve();
        }
      };
    });
  }

  async change(iteration: number): Promise<ChangeResult> {
    // Prepared before the clock starts: the floor does not pay for translation or encoding.
    const nonce = `c${iteration}`;
    const responses = buildResponses(translateMeshes(resourcesAt(this.base, iteration)), this.proxies, [ENDPOINT_TYPE], nonce, this.meshTls);
    if (this.streams.size !== this.proxies) throw new Error(`${this.streams.size} streams open, expected ${this.proxies}`);
    const acked = new Set<string>();
    let started = 0;
    const allAcked = new Promise<number>((resolve) => {
      this.onAck = (node, typeUrl) => {
        if (typeUrl !== ENDPOINT_TYPE) return;
        acked.add(node);
        if (acked.size === this.proxies) {
          const finished = performance.now();
          this.onAck = () => undefined;
          resolve(finished - started);
        }
      };
    });
    started = performance.now();
    for (const [node, stream] of this.streams) {
      stream.pending.set(ENDPOINT_TYPE, nonce);
      stream.call.write(responses.get(node)!.get(ENDPOINT_TYPE)!);
    }
    const syncMs = performance.now() - started;
    return { ms: await allAcked, syncMs, pushed: { EDS: this.streams.size } };
  }

  async stop(): Promise<void> {
    this.server.forceShutdown();
  }

  private serve(call: Call): void {
    const state: StreamState = { call, pending: new Map() };
    call.on('data', (bytes: Buffer) => {
      const request = decodeRequest(bytes);
      if (state.nodeId === undefined) {
        state.nodeId = request.node?.id ?? '';
        this.streams.set(state.nodeId, state);
      }
      const node = state.nodeId;
      if (request.error_detail) throw new Error(`${node} NACKed ${request.type_url}: ${request.error_detail.message}`);
      if (request.response_nonce === '') {
        const bytesOut = this.initial.get(node)?.get(request.type_url);
        if (!bytesOut) return;
        state.pending.set(request.type_url, INITIAL_NONCE);
        call.write(bytesOut);
      } else if (request.response_nonce === state.pending.get(request.type_url)) {
        state.pending.delete(request.type_url);
        this.onAck(node, request.type_url);
      }
    });
    call.on('error', () => undefined);
    call.on('end', () => call.end());
  }
}

runServerProcess(new BaselineTarget());

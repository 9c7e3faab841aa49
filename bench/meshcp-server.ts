/**
 * Server process: a real meshcp ControlPlane fed from a BehaviorSubject. ACKs are observed
 * through the server's own status events (one `ack` per proxy per type), which is the most
 * accurate clock: the moment meshcp has processed the ACK.
 *
 * In the mtls scenario the builtin CA is created before any clock starts (a restart of a
 * control plane whose CA already exists); the workload certificates are issued by meshcp when
 * each proxy connects, inside the initial-config clock (the cold start). No token
 * authentication: every proxy is accepted, as in the plain scenario.
 */
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { firstValueFrom, of, type Subscription } from 'rxjs';
import type { Resource } from '../src/api/types.js';
import type { MeshTlsMaterial } from '../src/ca/workload-identity.js';
import { generateForProxy } from '../src/generate/generate.js';
import { indexResources, spiffeIdsOf } from '../src/identity/resource-index.js';
import { ControlPlane } from '../src/runtime/control-plane.js';
import { silentLogger } from '../src/log/logger.js';
import { toWireResponse } from '../src/xds/server.js';
import { buildSnapshot } from '../src/snapshot/snapshot.js';
import { TYPE_SHORT_NAMES } from '../src/snapshot/types.js';
import { lookupType } from '../src/protos/load.js';
import { ENDPOINT_TYPE, SECRET_TYPE, benchTypes, encodeResponse, sampleRequest, type WireResponse } from './protocol.js';
import { ResourceSources } from '../src/sources/resource-sources.js';
import { MemoryStore } from './memory-store.js';
import { MESH, externalService, nodeId, staticResources, type Scenario } from './scenario.js';
import { progress, type RecomputeDelta } from './ipc.js';
import { runServerProcess, type BenchTarget, type ChangeResult } from './server-harness.js';

/** Polls `condition` every 10 ms until it holds; rejects after `ms`. */
async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

class MeshcpTarget implements BenchTarget {
  private proxies = 0;
  private scenario: Scenario = 'plain';
  private types: readonly string[] = [];
  private base: Resource[] = [];
  private store?: MemoryStore;
  private controlPlane?: ControlPlane;
  /** mtls: from the start of the initial config until every proxy had been sent its SDS response. */
  private allSecretsSentMs: number | undefined;
  private initialRecompute?: () => { proxyGenerations: number; resourcesEncoded: number };

  async start(proxies: number, scenario: Scenario): Promise<number> {
    this.proxies = proxies;
    this.scenario = scenario;
    this.types = benchTypes(scenario);
    this.base = staticResources(proxies, scenario);
    // As `meshcp serve` runs: store → sources (merge + check) → control plane, as changes.
    this.store = new MemoryStore([...this.base, externalService(0)]);
    const sources = new ResourceSources({ resources: of([]), current: () => [], paths: [] }, this.store, silentLogger());
    sources.start();
    this.controlPlane = new ControlPlane({ changes: sources.changes, log: silentLogger() });
    const cp = this.controlPlane;
    const port = await cp.listen('127.0.0.1:0');
    // Warm-up outside the measurements: translate once, and build + encode one proxy's config
    // so the protobuf codecs exist before memory is sampled and clocks start.
    const model = await firstValueFrom(cp.model);
    let meshTls: MeshTlsMaterial | undefined;
    if (scenario === 'mtls') {
      // The builtin CA exists before the cold start begins: it is generated once per mesh, then kept.
      await until(() => cp.identities.trustBundle(MESH) !== undefined, 60_000, 'the builtin mesh CA');
      const [ca] = cp.identities.builtinCas();
      if (!ca) throw new Error('no builtin CA after the trust bundle appeared');
      const backend = this.base.find((r) => r.type === 'Mesh')?.mtls?.backends[0];
      const spiffeIds = spiffeIdsOf(indexResources(this.base), MESH, nodeId(0));
      if (!backend || !spiffeIds) throw new Error('mtls scenario without a backend or SPIFFE IDs');
      // One certificate through meshcp's issuer (the CA's key import and the issuer's JIT), not a proxy's.
      const identity = await cp.identities.cas.issue(ca, { spiffeIds, validitySeconds: backend.dpCert.rotation.expirationSeconds, now: new Date() });
      meshTls = { identity: () => identity, trustBundle: (mesh) => cp.identities.trustBundle(mesh) };
    }
    const snapshot = buildSnapshot(generateForProxy(model, { name: nodeId(0), mesh: MESH, flavor: 'envoy' }, meshTls ? { meshTls } : {}));
    if (!snapshot.ok) throw new Error(`scenario config is inconsistent: ${snapshot.errors.join('; ')}`);
    for (const typeUrl of this.types) {
      if (!snapshot.snapshot.resources.get(typeUrl)?.size) throw new Error(`warm-up config of the ${scenario} scenario has no ${TYPE_SHORT_NAMES[typeUrl] ?? typeUrl}`);
    }
    for (const [typeUrl, byName] of snapshot.snapshot.resources) {
      encodeResponse(toWireResponse({ kind: 'sotw', typeUrl, versionInfo: 'warm', nonce: 'warm', resources: [...byName.values()] }) as WireResponse);
    }
    // As meshcp's server codec decodes requests (src/xds/server.ts).
    const requestType = lookupType('envoy.service.discovery.v3.DiscoveryRequest');
    requestType.toObject(requestType.decode(sampleRequest()), { defaults: true, longs: String, enums: String });
    return port;
  }

  initialConfigAcked(): Promise<void> {
    const cp = this.required();
    const ackedTypes = new Map<string, Set<string>>();
    const secretsSent = new Set<string>();
    const started = performance.now();
    const before = cp.recompute();
    this.initialRecompute = () => {
      const after = cp.recompute();
      return { proxyGenerations: after.proxyGenerations - before.proxyGenerations, resourcesEncoded: after.resourcesEncoded - before.resourcesEncoded };
    };
    let complete = 0;
    const profiler = this.startProfile('initial');
    const acked = new Promise<void>((resolve, reject) => {
      const subscription: Subscription = cp.status.events.subscribe((event) => {
        if (event.kind === 'nack') reject(new Error(`${event.nodeId} NACKed ${event.typeUrl}: ${event.error}`));
        // meshcp holds a proxy's config until its certificate is issued: its first SDS push marks "issued and generated".
        if (event.kind === 'sent' && event.typeUrl === SECRET_TYPE && !secretsSent.has(event.nodeId)) {
          secretsSent.add(event.nodeId);
          if (secretsSent.size === this.proxies) this.allSecretsSentMs = performance.now() - started;
        }
        if (event.kind !== 'ack' || !this.types.includes(event.typeUrl)) return;
        let types = ackedTypes.get(event.nodeId);
        if (!types) ackedTypes.set(event.nodeId, (types = new Set()));
        if (types.has(event.typeUrl)) return;
        types.add(event.typeUrl);
        if (types.size < this.types.length) return;
        progress(`meshcp (${this.scenario}): initial config ACKed by`, ++complete, this.proxies);
        if (complete === this.proxies) {
          subscription.unsubscribe();
          // The closures of this call share one context, which `initialRecompute` keeps for the
          // whole run: emptied, the per-proxy tracking does not count as meshcp's idle memory.
          ackedTypes.clear();
          secretsSent.clear();
          resolve();
        }
      });
    });
    return acked.then(async () => (await profiler)?.());
  }

  coldStartMilestones(): { allSecretsSentMs?: number; initialRecompute?: { proxyGenerations: number; resourcesEncoded: number } } {
    return { ...(this.allSecretsSentMs !== undefined ? { allSecretsSentMs: this.allSecretsSentMs } : {}), ...(this.initialRecompute ? { initialRecompute: this.initialRecompute() } : {}) };
  }

  /** Workload certificates meshcp has issued since it started (the identity statuses' regeneration counts). */
  certificatesIssued(): number {
    return this.required()
      .identities.listStatus(MESH)
      .reduce((sum, status) => sum + status.regenerations, 0);
  }

  async change(iteration: number): Promise<ChangeResult> {
    const cp = this.required();
    const pushed: Record<string, number> = {};
    const sentAfterChange = new Set<string>();
    const acked = new Set<string>();
    let syncMs = 0;
    let started = 0;
    const allAcked = new Promise<number>((resolve, reject) => {
      const subscription = cp.status.events.subscribe((event) => {
        if (event.kind === 'nack') reject(new Error(`${event.nodeId} NACKed ${event.typeUrl}: ${event.error}`));
        if (event.kind === 'sent') {
          const short = TYPE_SHORT_NAMES[event.typeUrl] ?? event.typeUrl;
          pushed[short] = (pushed[short] ?? 0) + 1;
          if (event.typeUrl === ENDPOINT_TYPE) sentAfterChange.add(event.nodeId);
          return;
        }
        if (event.kind !== 'ack' || event.typeUrl !== ENDPOINT_TYPE || !sentAfterChange.has(event.nodeId)) return;
        // Only the ACK of the version pushed for this change counts.
        if (cp.status.get(event.nodeId)?.types.get(ENDPOINT_TYPE)?.lastSentVersion !== event.version) return;
        acked.add(event.nodeId);
        if (acked.size === this.proxies) {
          const finished = performance.now();
          subscription.unsubscribe();
          resolve(finished - started);
        }
      });
    });
    const profiler = await this.startProfile(iteration);
    const before = cp.recompute();
    started = performance.now();
    // Synchronous in meshcp: the store emits the batch, the sources check the changed Service,
    // the control plane translates the changed mesh, updates the affected proxies' snapshots (an
    // endpoint-only change patches EDS), and writes the pushes.
    void this.store?.apply([{ op: 'put', resource: externalService(iteration) }]);
    syncMs = performance.now() - started;
    const ms = await allAcked;
    await profiler?.();
    const after = cp.recompute();
    const sum = (counts: Readonly<Record<string, number>>): number => Object.values(counts).reduce((a, b) => a + b, 0);
    const recompute: RecomputeDelta = {
      translations: sum(after.translations) - sum(before.translations),
      proxyGenerations: after.proxyGenerations - before.proxyGenerations,
      endpointPatches: after.endpointPatches - before.endpointPatches,
      identityPatches: after.identityPatches - before.identityPatches,
      resourcesEncoded: after.resourcesEncoded - before.resourcesEncoded,
    };
    return { ms, syncMs, pushed, recompute };
  }

  /**
   * BENCH_PROFILE_DIR=DIR: a V8 CPU profile of each change, from the store write to the last ACK,
   * written to DIR/<scenario>-<N>-change-<i>.cpuprofile (for Chrome DevTools or speedscope), and
   * of the initial config (DIR/<scenario>-<N>-change-initial.cpuprofile). The
   * profiler slows meshcp down: figures of such a run are not comparable.
   */
  private async startProfile(iteration: number | 'initial'): Promise<(() => Promise<void>) | undefined> {
    const dir = process.env['BENCH_PROFILE_DIR'];
    if (!dir) return undefined;
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    return async () => {
      const { profile } = await session.post('Profiler.stop');
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `${this.scenario}-${this.proxies}-change-${iteration}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
    };
  }

  async stop(): Promise<void> {
    this.controlPlane?.xds.forceClose();
  }

  private required(): ControlPlane {
    if (!this.controlPlane) throw new Error('not started');
    return this.controlPlane;
  }
}

runServerProcess(new MeshcpTarget());

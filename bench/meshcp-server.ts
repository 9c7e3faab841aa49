/**
 * Server process: a real meshcp ControlPlane fed from a BehaviorSubject. ACKs are observed
 * through the server's own status events (one `ack` per proxy per type), which is the most
 * accurate clock: the moment meshcp has processed the ACK.
 */
import { performance } from 'node:perf_hooks';
import { BehaviorSubject, firstValueFrom, type Subscription } from 'rxjs';
import type { Resource } from '../src/api/types.js';
import { generateForProxy } from '../src/generate/generate.js';
import { ControlPlane } from '../src/runtime/control-plane.js';
import { silentLogger } from '../src/log/logger.js';
import { toWireResponse } from '../src/xds/server.js';
import { buildSnapshot } from '../src/xds/snapshot.js';
import { TYPE_SHORT_NAMES } from '../src/xds/types.js';
import { lookupType } from '../src/protos/load.js';
import { BENCH_TYPES, ENDPOINT_TYPE, encodeResponse, sampleRequest, type WireResponse } from './protocol.js';
import { MESH, nodeId, resourcesAt, staticResources } from './scenario.js';
import { progress, type RecomputeDelta } from './ipc.js';
import { runServerProcess, type BenchTarget, type ChangeResult } from './server-harness.js';

class MeshcpTarget implements BenchTarget {
  private proxies = 0;
  private base: Resource[] = [];
  private subject?: BehaviorSubject<readonly Resource[]>;
  private controlPlane?: ControlPlane;

  async start(proxies: number): Promise<number> {
    this.proxies = proxies;
    this.base = staticResources(proxies);
    this.subject = new BehaviorSubject<readonly Resource[]>(resourcesAt(this.base, 0));
    this.controlPlane = new ControlPlane({ resources: this.subject, log: silentLogger() });
    const port = await this.controlPlane.listen('127.0.0.1:0');
    // Warm-up outside the measurements: translate once, and build + encode one proxy's config
    // so the protobuf codecs exist before memory is sampled and clocks start.
    const model = await firstValueFrom(this.controlPlane.model);
    const snapshot = buildSnapshot(generateForProxy(model, { name: nodeId(0), mesh: MESH, flavor: 'envoy' }));
    if (!snapshot.ok) throw new Error(`scenario config is inconsistent: ${snapshot.errors.join('; ')}`);
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
    let complete = 0;
    return new Promise<void>((resolve, reject) => {
      const subscription: Subscription = cp.status.events.subscribe((event) => {
        if (event.kind === 'nack') reject(new Error(`${event.nodeId} NACKed ${event.typeUrl}: ${event.error}`));
        if (event.kind !== 'ack' || !BENCH_TYPES.includes(event.typeUrl)) return;
        let types = ackedTypes.get(event.nodeId);
        if (!types) ackedTypes.set(event.nodeId, (types = new Set()));
        if (types.has(event.typeUrl)) return;
        types.add(event.typeUrl);
        if (types.size < BENCH_TYPES.length) return;
        progress('meshcp: initial config ACKed by', ++complete, this.proxies);
        if (complete === this.proxies) {
          subscription.unsubscribe();
          resolve();
        }
      });
    });
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
    const before = cp.recompute();
    started = performance.now();
    // Synchronous in meshcp: translate the changed mesh, update the affected proxies' snapshots
    // (an endpoint-only change patches EDS), and write the pushes.
    this.subject?.next(resourcesAt(this.base, iteration));
    syncMs = performance.now() - started;
    const ms = await allAcked;
    const after = cp.recompute();
    const sum = (counts: Readonly<Record<string, number>>): number => Object.values(counts).reduce((a, b) => a + b, 0);
    const recompute: RecomputeDelta = {
      translations: sum(after.translations) - sum(before.translations),
      proxyGenerations: after.proxyGenerations - before.proxyGenerations,
      endpointPatches: after.endpointPatches - before.endpointPatches,
      resourcesEncoded: after.resourcesEncoded - before.resourcesEncoded,
    };
    return { ms, syncMs, pushed, recompute };
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

/**
 * Prometheus metrics (SPEC §3 `/metrics`), on a Registry of their own: several servers can run in
 * one process (tests, embedding) without clashing in prom-client's global registry. Node's
 * default process metrics are not collected.
 *
 * Counters follow the xDS status events (xds/status.ts) as they happen; gauges that depend on
 * the time (seconds until a certificate expires) are computed at scrape time in `collect()`.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Observable, Subscription } from 'rxjs';
import type { MtlsBackend, Resource } from '../api/types.js';
import { summarizeSecret } from '../ca/secret-material.js';
import type { MeshCa } from '../ca/providers/types.js';
import type { IdentityStatus } from '../identity/types.js';
import type { StatusEvent } from '../xds/status.js';
import type { RecomputeCounters } from './control-plane.js';
import type { SourceCounters } from '../sources/resource-sources.js';
import { TYPE_SHORT_NAMES, protoNameOf } from '../snapshot/types.js';

export interface MetricsSources {
  readonly statusEvents: Observable<StatusEvent>;
  /** Proxies with at least one open stream. */
  readonly connectedProxies: () => number;
  /** Workload certificate status per proxy (identity/manager.ts); regenerations never decrease. */
  readonly identities: () => readonly IdentityStatus[];
  /** The initialized CA of each mesh backend that is in use. */
  readonly meshCas: () => readonly MeshCa[];
  /** The resources being served (user Secrets). */
  readonly resources: () => readonly Resource[];
  /** What changes recomputed (ControlPlane.recompute()); not exported when absent. */
  readonly recompute?: () => RecomputeCounters;
  /** How the sources checked the changes (ResourceSources.counters) and how many resources are pinned; not exported when absent. */
  readonly sources?: () => { readonly counters: SourceCounters; readonly pinned: number };
  /** SVID worker threads running now (ca/svid-workers.ts `running`); not exported when absent. */
  readonly svidWorkers?: () => number;
  /** Restarts of the process's RE2 engine so far (regex/re2.ts `re2EngineRestarts`); not exported when absent. */
  readonly regexEngineRestarts?: () => number;
  readonly now?: () => Date;
}

export interface ServerMetrics {
  readonly registry: Registry;
  readonly contentType: string;
  metrics(): Promise<string>;
  close(): void;
}

/** Send → ACK latency buckets, in seconds: a local proxy ACKs in milliseconds, a loaded one in seconds. */
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The `type` label: LDS, RDS, CDS, EDS, SDS (xds/types.ts), or the proto name of another type. */
export function typeLabel(typeUrl: string): string {
  return TYPE_SHORT_NAMES[typeUrl] ?? protoNameOf(typeUrl);
}

/** What meshCasInUse needs from the identity manager (identity/manager.ts). */
export interface MeshCaLookup {
  readonly cas: { keyOf(mesh: string, backend: MtlsBackend, resources: readonly Resource[]): string | Error; get(key: string): MeshCa | undefined };
  builtinCas(): MeshCa[];
}

/** The initialized CA of every backend of the served Meshes, plus the builtin gateway CAs. */
export function meshCasInUse(identities: MeshCaLookup, resources: readonly Resource[]): MeshCa[] {
  const out = new Map<string, MeshCa>();
  for (const ca of identities.builtinCas()) out.set(`${ca.mesh}/${ca.backend}`, ca);
  for (const r of resources) {
    if (r.type !== 'Mesh') continue;
    for (const backend of r.mtls?.backends ?? []) {
      const key = identities.cas.keyOf(r.name, backend, resources);
      const ca = key instanceof Error ? undefined : identities.cas.get(key);
      if (ca) out.set(`${ca.mesh}/${ca.backend}`, ca);
    }
  }
  return [...out.values()];
}

function secondsUntil(date: Date, now: Date): number {
  return (date.getTime() - now.getTime()) / 1000;
}

/**
 * A Prometheus counter fed from a running total read at scrape time: each scrape adds what the
 * total grew by since the last one (`key` names the total, `labels` the series).
 */
function counterFromTotals(): (counter: Counter<string>, key: string, total: number, labels?: Record<string, string>) => void {
  const seen = new Map<string, number>();
  return (counter, key, total, labels) => {
    const before = seen.get(key) ?? 0;
    if (total <= before) return;
    if (labels) counter.inc(labels, total - before);
    else counter.inc(total - before);
    seen.set(key, total);
  };
}

/**
 * The recompute counters, read at scrape time: a counter only grows, so each scrape
 * adds what happened since the last one.
 */
function registerRecomputeMetrics(registers: Registry[], recompute: () => RecomputeCounters): void {
  const advance = counterFromTotals();
  new Counter({
    name: 'meshcp_mesh_translations_total',
    help: 'Meshes translated from their resources, by mesh: a change translates only the meshes whose resources changed',
    labelNames: ['mesh'] as const,
    registers,
    collect() {
      for (const [mesh, n] of Object.entries(recompute().translations)) advance(this, `translations/${mesh}`, n, { mesh });
    },
  });
  new Counter({
    name: 'meshcp_proxy_generations_total',
    help: 'Proxy configs generated from the model (an endpoint-only change generates none)',
    registers,
    collect() {
      advance(this, 'generations', recompute().proxyGenerations);
    },
  });
  new Counter({
    name: 'meshcp_proxy_endpoint_patches_total',
    help: 'Proxy configs updated by an endpoint-only change without being generated',
    registers,
    collect() {
      advance(this, 'patches', recompute().endpointPatches);
    },
  });
  new Counter({
    name: 'meshcp_proxy_identity_patches_total',
    help: 'Proxy configs updated by a certificate rotation or trust bundle change (SDS only) without being generated',
    registers,
    collect() {
      advance(this, 'identity', recompute().identityPatches);
    },
  });
  new Counter({
    name: 'meshcp_resources_encoded_total',
    help: 'Envoy resources serialized; a resource shared by many proxies is encoded once',
    registers,
    collect() {
      advance(this, 'encoded', recompute().resourcesEncoded);
    },
  });
  new Gauge({
    name: 'meshcp_dependency_cache_entries',
    help: 'Entries in the dependency cache (what translation keeps between changes); bounded, least recently used first out',
    registers,
    collect() {
      const cache = recompute().cache;
      if (cache) this.set(cache.entries);
    },
  });
  new Counter({
    name: 'meshcp_dependency_cache_hits_total',
    help: 'Dependency cache lookups answered by a kept entry',
    registers,
    collect() {
      const cache = recompute().cache;
      if (cache) advance(this, 'cache/hits', cache.hits);
    },
  });
  new Counter({
    name: 'meshcp_dependency_cache_misses_total',
    help: 'Dependency cache lookups that computed their entry',
    registers,
    collect() {
      const cache = recompute().cache;
      if (cache) advance(this, 'cache/misses', cache.misses);
    },
  });
  new Counter({
    name: 'meshcp_dependency_cache_evictions_total',
    help: 'Dependency cache entries evicted, by reason: "change" (a change named a key the entry depends on) or "size" (the size bound)',
    labelNames: ['reason'] as const,
    registers,
    collect() {
      const cache = recompute().cache;
      if (!cache) return;
      advance(this, 'cache/change', cache.evictedByChange, { reason: 'change' });
      advance(this, 'cache/size', cache.evictedBySize, { reason: 'size' });
    },
  });
}

/** How changes were checked (a change is checked on what it touches when it can be) and what is pinned. */
function registerSourceMetrics(registers: Registry[], read: () => { readonly counters: SourceCounters; readonly pinned: number }): void {
  const advance = counterFromTotals();
  new Counter({
    name: 'meshcp_resource_changes_checked_total',
    help: 'Changes of the served resources checked, by path: "alone" looked only at what the change touches; "whole_set" checked every resource (the start, an error or pin, a config reload that adds or removes resources, a CA file re-check, and once a minute while changes flow)',
    labelNames: ['path'] as const,
    registers,
    collect() {
      const { counters } = read();
      advance(this, 'alone', counters.incrementalChecks, { path: 'alone' });
      advance(this, 'whole_set', counters.fullChecks, { path: 'whole_set' });
    },
  });
  new Counter({
    name: 'meshcp_resources_checked_total',
    help: 'Resources checked by changes checked alone (an endpoint change of one Service checks one)',
    registers,
    collect() {
      advance(this, 'checked', read().counters.resourcesChecked);
    },
  });
  new Gauge({
    name: 'meshcp_pinned_resources',
    help: 'Resources held at their last good version because they no longer validate although they did not change (e.g. a provided CA file gone bad on disk); `meshcp get` shows why',
    registers,
    collect() {
      this.set(read().pinned);
    },
  });
}

export function createServerMetrics(sources: MetricsSources): ServerMetrics {
  const registry = new Registry();
  const registers = [registry];
  const now = sources.now ?? (() => new Date());

  new Gauge({
    name: 'meshcp_xds_connected_proxies',
    help: 'Proxies with at least one open xDS stream',
    registers,
    collect() {
      this.set(sources.connectedProxies());
    },
  });
  const pushes = new Counter({ name: 'meshcp_xds_pushes_total', help: 'xDS responses sent, by type', labelNames: ['type'] as const, registers });
  const acks = new Counter({ name: 'meshcp_xds_acks_total', help: 'xDS ACKs received, by type', labelNames: ['type'] as const, registers });
  const nacks = new Counter({ name: 'meshcp_xds_nacks_total', help: 'xDS NACKs (requests with error_detail) received, by type', labelNames: ['type'] as const, registers });
  const latency = new Histogram({
    name: 'meshcp_xds_push_latency_seconds',
    help: 'Time from sending an xDS response to its ACK, by type',
    labelNames: ['type'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });

  let issuedSeen = 0;
  new Counter({
    name: 'meshcp_certificates_issued_total',
    help: 'Workload certificates issued (first issuance and rotations) since the server started',
    registers,
    collect() {
      // Derived from the per-proxy regeneration counts, which are kept after a proxy disconnects.
      const total = sources.identities().reduce((n, s) => n + s.regenerations, 0);
      if (total > issuedSeen) this.inc(total - issuedSeen);
      issuedSeen = Math.max(issuedSeen, total);
    },
  });
  new Gauge({
    name: 'meshcp_workload_certificate_expiry_seconds',
    help: 'Seconds until the workload certificate of a connected proxy expires',
    labelNames: ['mesh', 'proxy'] as const,
    registers,
    collect() {
      this.reset();
      const at = now();
      for (const s of sources.identities()) if (s.connected && s.expiration) this.set({ mesh: s.mesh, proxy: s.name }, secondsUntil(s.expiration, at));
    },
  });
  new Gauge({
    name: 'meshcp_ca_certificate_expiry_seconds',
    help: 'Seconds until the signing certificate of a mesh CA backend expires',
    labelNames: ['mesh', 'backend'] as const,
    registers,
    collect() {
      this.reset();
      const at = now();
      for (const ca of sources.meshCas()) this.set({ mesh: ca.mesh, backend: ca.backend }, secondsUntil(ca.notAfter, at));
    },
  });
  new Gauge({
    name: 'meshcp_secret_expiry_seconds',
    help: 'Seconds until the first certificate of a user Secret expires',
    labelNames: ['mesh', 'secret'] as const,
    registers,
    collect() {
      this.reset();
      const at = now();
      for (const r of sources.resources()) {
        if (r.type !== 'Secret') continue;
        const summary = summarizeSecret(r, at);
        if (summary) this.set({ mesh: r.mesh, secret: r.name }, secondsUntil(new Date(summary.notAfter), at));
      }
    },
  });

  const svidWorkers = sources.svidWorkers;
  if (svidWorkers) {
    new Gauge({
      name: 'meshcp_svid_worker_threads',
      help: 'Worker threads signing workload certificates now: one per core (at most 8) while a burst is signed, none once they have been idle for 10 s',
      registers,
      collect() {
        this.set(svidWorkers());
      },
    });
  }

  const regexEngineRestarts = sources.regexEngineRestarts;
  if (regexEngineRestarts) {
    const advance = counterFromTotals();
    new Counter({
      name: 'meshcp_regex_engine_restarts_total',
      help: 'Times the RE2 engine that checks and matches regexes was started afresh after it failed (a pattern within the limits exhausted its fixed 16 MiB heap); counted for the whole process',
      registers,
      collect() {
        advance(this, 'restarts', regexEngineRestarts());
      },
    });
  }

  const recompute = sources.recompute;
  if (recompute) registerRecomputeMetrics(registers, recompute);
  if (sources.sources) registerSourceMetrics(registers, sources.sources);

  const subscription: Subscription = sources.statusEvents.subscribe((event) => {
    switch (event.kind) {
      case 'sent':
        pushes.inc({ type: typeLabel(event.typeUrl) });
        break;
      case 'ack':
        acks.inc({ type: typeLabel(event.typeUrl) });
        if (event.latencyMs !== undefined) latency.observe({ type: typeLabel(event.typeUrl) }, event.latencyMs / 1000);
        break;
      case 'nack':
        nacks.inc({ type: typeLabel(event.typeUrl) });
        break;
      default:
        break;
    }
  });

  return {
    registry,
    contentType: registry.contentType,
    metrics: () => registry.metrics(),
    close: () => subscription.unsubscribe(),
  };
}

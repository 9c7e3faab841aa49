/**
 * The control plane: changes → translate → model → generate per proxy → snapshot cache → xDS server.
 * It makes the dependency cache, the encoder, the shared parts, the identity manager and the xDS
 * server, and nothing outside it shares them.
 *
 * Per proxy, generation combines the model with that proxy's mesh identity material
 * (identity/manager.ts): a new certificate, a rotation or a trust bundle change generates that
 * proxy's config again, and only its SDS Secrets differ. The identity is issued when the proxy's
 * first stream asks for config and forgotten when its last stream closes.
 *
 * A change costs what it touches: translation is per mesh and object (translate/incremental.ts),
 * each revision says what changed as dependency keys, and a proxy is generated again only when a
 * key it depends on names something other than endpoints (its Dataplane, its mesh's mTLS,
 * permissions or services; Gateways and user Secrets for a gateway) or its identity changed; an
 * endpoint-only change swaps shared ClusterLoadAssignments into the proxies' configs
 * (runtime/proxy-configs.ts). `meshcp serve` wires this with the store and the sources in
 * runtime/root.ts. The counters of what each change recomputed are `recompute()`.
 */
import { EMPTY, filter, map, merge, shareReplay, type Observable, type Subscription } from 'rxjs';
import type { ResourceChange } from '../api/resource-set.js';
import type { Resource } from '../api/types.js';
import type { MeshTlsMaterial } from '../ca/workload-identity.js';
import { MemoryBlobStore, type BlobStore } from '../ca/providers/builtin.js';
import { defaultCaProviders, MeshCaRegistry } from '../ca/providers/registry.js';
import type { CaProviders } from '../ca/providers/types.js';
import { proxyIdentity, type ProxyIdentity } from '../generate/generate.js';
import { secretMaterialFromSet } from '../generate/secret-material.js';
import { statusDelivery } from './delivery.js';
import { IdentityManager, type IdentityManagerOptions } from '../identity/manager.js';
import type { NodeAuthenticator } from '../auth/xds-auth.js';
import type { Model } from '../model/model.js';
import { IncrementalTranslator } from '../translate/incremental.js';
import { DependencyCache, type DependencyCacheStats } from '../change/dependency-cache.js';
import { SnapshotCache } from '../snapshot/cache.js';
import { ResourceEncoder } from '../snapshot/encode.js';
import { sourcesOf, type GeneratedConfig } from '../snapshot/snapshot.js';
import type { XdsLimits } from '../xds/limits.js';
import { XdsServer } from '../xds/server.js';
import { StatusRegistry } from '../xds/status.js';
import { TYPE_SHORT_NAMES, protoNameOf } from '../snapshot/types.js';
import type { Logger } from '../log/logger.js';
import { DataplaneLiveness, type LivenessChange } from './liveness.js';
import { proxyConfigs, SharedParts, StateHub, type GenerationCounters, type ResourceState } from './proxy-configs.js';
import type { ServerCredentials } from '@grpc/grpc-js';

/** Timing of issuance, rotation and CA switches (identity/manager.ts); defaults suit production. */
export type IdentityOptions = Pick<IdentityManagerOptions, 'clock' | 'scheduler' | 'random' | 'switchWindowMs' | 'bundleTimeoutMs' | 'settleMs' | 'retryDelayMs'>;

export interface ControlPlaneOptions {
  /**
   * The served resources as changes (sources/resource-sources.ts `changes`): what each change
   * puts, deletes and which meshes it touches, so the control plane looks only at those.
   */
  readonly changes: Observable<ResourceChange>;
  readonly log: Logger;
  readonly keepaliveTimeMs?: number;
  readonly keepaliveTimeoutMs?: number;
  /** Where builtin CA roots and keys are kept (the data directory store). In memory when absent: a new root per process. */
  readonly caStore?: BlobStore;
  /** Defaults to the builtin and provided providers over `caStore`. */
  readonly caProviders?: CaProviders;
  /** Refuses a proxy before any config flows (token authentication). Every proxy is accepted when absent. */
  readonly authenticate?: NodeAuthenticator;
  readonly identity?: IdentityOptions;
  /** xDS server credentials (TLS); plaintext when absent, which `meshcp serve` only allows with --xds-plaintext (SPEC §2). */
  readonly xdsCredentials?: ServerCredentials;
  /** What one xDS caller may cost (xds/limits.ts); defaults where absent. */
  readonly xdsLimits?: Partial<XdsLimits>;
  /**
   * With it, a Dataplane whose proxy has had no stream for this long is offline and its endpoints
   * are reported UNHEALTHY (runtime/liveness.ts); without it every endpoint is HEALTHY.
   */
  readonly offlineGraceMs?: number;
  /** The most entries the dependency cache keeps (default 50,000); the least recently used go first. */
  readonly cacheMaxEntries?: number;
}

/** What the changes since the start recomputed; every value only grows. */
export interface RecomputeCounters {
  /** Mesh translations, per mesh: a change translates only the meshes whose resources changed. */
  readonly translations: Readonly<Record<string, number>>;
  /** Proxy configs generated from the model. */
  readonly proxyGenerations: number;
  /** Proxy configs updated by an endpoint-only change without being generated. */
  readonly endpointPatches: number;
  /** Proxy configs updated by a rotation or trust bundle change (SDS only) without being generated. */
  readonly identityPatches: number;
  /** Resources serialized (protobuf); a resource shared by many proxies counts once. */
  readonly resourcesEncoded: number;
  /** xDS responses sent, per type (LDS, RDS, CDS, EDS, SDS). */
  readonly pushes: Readonly<Record<string, number>>;
  /** The dependency cache: entries kept now, hits, misses, evictions (by a change, by the size bound). */
  readonly cache?: DependencyCacheStats;
}

export class ControlPlane {
  readonly status: StatusRegistry;
  readonly model: Observable<Model>;
  readonly cache: SnapshotCache;
  readonly xds: XdsServer;
  readonly identities: IdentityManager;
  private readonly state: Observable<ResourceState>;
  /** The states, fanned out to every connected proxy's generation. */
  private readonly hub: StateHub;
  private readonly subscription: Subscription;
  private readonly delivery: ReturnType<typeof statusDelivery>;
  /** Every Dataplane and Gateway, by mesh then name: only these keep status rows and snapshots while offline. */
  private definedProxies = new Map<string, Set<string>>();
  /** Online/offline Dataplanes, when enabled (`offlineGraceMs`). */
  readonly liveness: DataplaneLiveness | undefined;
  private readonly translator: IncrementalTranslator;
  /**
   * The one cache of the pipeline, made here and passed down: what translation keeps between
   * changes, each entry with the dependency keys it read, so a change evicts exactly what it
   * touches (change/dependency-cache.ts). Its stats are on /metrics.
   */
  private readonly dependencies: DependencyCache;
  private readonly encoder = new ResourceEncoder();
  /** What proxies' configs share (EDS lists, source maps, endpoint patches): this control plane's alone. */
  private readonly shared = new SharedParts();
  private readonly generation: GenerationCounters = { proxyGenerations: 0, endpointPatches: 0, identityPatches: 0 };

  constructor(options: ControlPlaneOptions) {
    const providers = options.caProviders ?? defaultCaProviders(options.caStore ?? new MemoryBlobStore());
    const clock = options.identity?.clock;
    const defined = (mesh: string, name: string): boolean => this.definedProxies.get(mesh)?.has(name) ?? false;
    this.status = new StatusRegistry(undefined, defined);
    this.liveness = options.offlineGraceMs !== undefined ? new DataplaneLiveness({ status: this.status, graceMs: options.offlineGraceMs }) : undefined;
    this.dependencies = new DependencyCache(options.cacheMaxEntries !== undefined ? { maxEntries: options.cacheMaxEntries } : {});
    this.translator = new IncrementalTranslator(this.liveness?.isOffline, this.dependencies);
    this.delivery = statusDelivery(this.status);
    this.identities = new IdentityManager({
      cas: new MeshCaRegistry(providers, clock ? () => clock.now() : undefined),
      log: options.log.child({ component: 'identity' }),
      delivery: this.delivery,
      ...options.identity,
    });
    const resources = options.changes.pipe(shareReplay({ bufferSize: 1, refCount: false }));
    const meshTls: MeshTlsMaterial = this.identities;
    // Resource changes, and a Dataplane's proxy going offline or coming back (an endpoint-only
    // change of the services it serves), in one sequence of revisions.
    let context: ResourceState['context'] | undefined;
    const inputs: Observable<{ readonly change: ResourceChange } | { readonly liveness: LivenessChange }> = merge(
      resources.pipe(map((change) => ({ change }))),
      (this.liveness?.changes ?? EMPTY).pipe(map((liveness) => ({ liveness }))),
    );
    this.state = inputs.pipe(
      map((input): ResourceState | undefined => {
        if ('liveness' in input) {
          const revision = this.translator.livenessChanged(input.liveness.mesh, input.liveness.name);
          return revision && context ? { revision, context, shared: this.shared } : undefined;
        }
        context = {
          meshTls,
          cache: this.dependencies,
          secrets: secretMaterialFromSet(
            input.change.set,
            (mesh, host) => this.identities.issuedServerCertificate(mesh, host),
            (mesh, host) => this.identities.issuedServerCertificatePending(mesh, host),
          ),
        };
        return { revision: this.translator.apply(input.change), context, shared: this.shared };
      }),
      filter((state): state is ResourceState => state !== undefined),
      shareReplay({ bufferSize: 1, refCount: false }),
    );
    this.model = this.state.pipe(map((s) => s.revision.model));
    // The model moves first and identities follow: a change is generated once with the new model,
    // then again for each proxy whose material the change affects (issuance is asynchronous anyway).
    // Generating a new identity against the old model (e.g. a certificate for a mesh whose mTLS was
    // just turned off) never happens this way.
    this.subscription = this.state.subscribe();
    this.hub = new StateHub(this.state);
    this.subscription.add(resources.subscribe((change) => this.identities.update(change)));
    // Never publish a partial config: while material is being issued, the proxy
    // keeps what it has (or, on a first connect, waits). In SotW an empty LDS/CDS would delete
    // every listener and cluster the proxy has. One function for every proxy.
    const publish = (config: GeneratedConfig, proxy: ProxyIdentity): boolean => {
      if (config.pending === undefined) return true;
      options.log.debug({ node: proxy.name, mesh: proxy.mesh, awaiting: config.pending }, 'holding the config until its material is issued');
      return false;
    };
    this.cache = new SnapshotCache(
      (node) => proxyConfigs(proxyIdentity(node), this.hub, this.identities, this.generation, publish),
      options.log,
      { ...(options.authenticate ? { authenticate: options.authenticate } : {}), defined, encoder: this.encoder },
    );
    this.subscription.add(
      resources.subscribe((change) => {
        // Kept by mesh then name (no key string per proxy), from what the change puts and deletes.
        const proxy = (r: Resource): boolean => r.type === 'Dataplane' || r.type === 'Gateway';
        const before = change.reset ? this.definedProxies : undefined;
        if (change.reset) this.definedProxies = new Map();
        const add = (r: Resource): void => {
          if (r.type !== 'Dataplane' && r.type !== 'Gateway') return;
          let names = this.definedProxies.get(r.mesh);
          if (!names) this.definedProxies.set(r.mesh, (names = new Set()));
          names.add(r.name);
          if (r.type === 'Dataplane') this.liveness?.define(r.mesh, r.name, true);
        };
        if (change.reset) for (const r of change.set.list()) add(r);
        for (const r of change.puts) add(r);
        for (const r of change.deletes) {
          if (r.type !== 'Dataplane' && r.type !== 'Gateway') continue;
          this.definedProxies.get(r.mesh)?.delete(r.name);
          if (r.type === 'Dataplane') this.liveness?.define(r.mesh, r.name, false);
        }
        // A reset may drop proxies it does not list as deletes.
        for (const [mesh, names] of before ?? []) for (const name of names) if (!this.definedProxies.get(mesh)?.has(name)) this.liveness?.define(mesh, name, false);
        // Rows and snapshots of proxies no longer defined go (a pass over every proxy: only when one went).
        if (change.reset || change.deletes.some(proxy)) {
          this.status.prune();
          this.cache.prune();
        }
      }),
    );
    this.xds = new XdsServer({
      watcher: this.cache,
      status: this.status,
      log: options.log.child({ component: 'xds' }),
      keepaliveTimeMs: options.keepaliveTimeMs,
      keepaliveTimeoutMs: options.keepaliveTimeoutMs,
      ...(options.xdsCredentials ? { credentials: options.xdsCredentials } : {}),
      ...(options.xdsLimits ? { limits: options.xdsLimits } : {}),
    });
  }

  /**
   * The user resources (`Kind/name`: Dataplane, Gateway, Mesh, Service, Route, Secret,
   * TrafficPermission) behind the resources of `typeUrl` last published to the proxy `name` of
   * `mesh` — those named in `resourceNames`, or all of that type. When the proxy NACKs them, this
   * is what to show the error on.
   */
  resourceSources(name: string, mesh: string, typeUrl: string, resourceNames?: readonly string[]): string[] {
    const snapshot = this.cache.lastSnapshot(name, mesh);
    if (!snapshot) return [];
    const names = resourceNames ?? [...(snapshot.resources.get(typeUrl)?.keys() ?? [])];
    return [...new Set(names.flatMap((n) => sourcesOf(snapshot.sources, typeUrl, n)))].sort();
  }

  /** What the changes so far recomputed, for tests, the bench and `/metrics`. */
  recompute(): RecomputeCounters {
    return {
      translations: Object.fromEntries(this.translator.translations),
      proxyGenerations: this.generation.proxyGenerations,
      endpointPatches: this.generation.endpointPatches,
      identityPatches: this.generation.identityPatches,
      resourcesEncoded: this.encoder.stats.encodes,
      pushes: Object.fromEntries([...this.status.sentPerType].map(([typeUrl, count]) => [TYPE_SHORT_NAMES[typeUrl] ?? protoNameOf(typeUrl), count])),
      cache: this.dependencies.stats,
    };
  }

  async listen(xdsAddress: string): Promise<number> {
    const port = await this.xds.listen(xdsAddress);
    this.xds.setServing(true);
    return port;
  }

  async close(): Promise<void> {
    this.xds.setServing(false);
    await this.xds.close();
    this.subscription.unsubscribe();
    this.hub.close();
    this.delivery.close();
    this.identities.close();
    this.liveness?.close();
  }
}

/**
 * One proxy's generated config over time: generated again only when something it
 * depends on changed, patched when only endpoints changed, left alone otherwise.
 *
 * - A tick of the proxy's identity (issuance, rotation, trust bundle) generates it again.
 * - A model revision whose change for the proxy's mesh is `unchanged` (another mesh changed)
 *   costs nothing: the proxy keeps its config.
 * - An `endpoints` change (translate/incremental.ts) replaces the ClusterLoadAssignments of the
 *   changed services in the proxy's last config, sharing one object per service with every other
 *   proxy (Istio's EDS-only push, Kuma's CLA cache). Every other type keeps its list, so the
 *   snapshot reuses their encoded maps and versions (snapshot.ts `previous`) and the session
 *   pushes EDS alone. The proxies whose own Dataplane changed are generated again.
 * - Anything else, or a revision this proxy did not see the one before of, generates it again.
 * `generateForProxy` on the full model stays the oracle: test/incremental checks both agree.
 */
import { Observable, type Subscription } from 'rxjs';
import { NO_MESH_TLS_MATERIAL } from '../ca/workload-identity.js';
import { generateForProxy, type GenerateContext, type ProxyIdentity } from '../generate/generate.js';
import { identitySecrets } from '../identity/names.js';
import { serviceEndpoints } from '../generate/services.js';
import type { MeshModel, Model } from '../model/model.js';
import { UNCHANGED, type ModelRevision } from '../translate/incremental.js';
import type { ResourceObject } from '../snapshot/encode.js';
import { MapWith, retainedForm, TypeMap, type GeneratedConfig, type GeneratedSources } from '../snapshot/snapshot.js';
import { ENDPOINT_TYPE, SECRET_TYPE } from '../snapshot/types.js';
import { serviceClusterName } from '../envoy/names.js';

/** What every proxy's generation reads: the model revision and the generation context built with it. */
export interface ResourceState {
  readonly revision: ModelRevision;
  readonly context: GenerateContext;
}

export interface GenerationCounters {
  /** Proxy configs generated from the model. */
  proxyGenerations: number;
  /** Proxy configs updated by swapping ClusterLoadAssignments, without generating. */
  endpointPatches: number;
  /** Proxy configs updated by swapping the identity Secrets (rotation, trust bundle), without generating. */
  identityPatches: number;
}

/** What an endpoint change of one revision and mesh swaps, built once for all proxies. */
interface EndpointPatch {
  /** The new ClusterLoadAssignment of each changed service, by cluster name. */
  readonly replacements: ReadonlyMap<string, ResourceObject>;
  /** Patched EDS lists by the list they patch: proxies sharing a list (sharedEndpointList) share its patch. */
  readonly lists: WeakMap<readonly ResourceObject[], readonly ResourceObject[]>;
}

const patchesByRevision = new WeakMap<ModelRevision, Map<string, EndpointPatch>>();

function endpointPatch(revision: ModelRevision, mesh: MeshModel, services: ReadonlySet<string>): EndpointPatch {
  let byMesh = patchesByRevision.get(revision);
  if (!byMesh) patchesByRevision.set(revision, (byMesh = new Map()));
  let found = byMesh.get(mesh.name);
  if (!found) {
    const map = new Map<string, ResourceObject>();
    for (const name of services) {
      const service = mesh.services.get(name);
      if (service) map.set(serviceClusterName(name), serviceEndpoints(service));
    }
    byMesh.set(mesh.name, (found = { replacements: map, lists: new WeakMap() }));
  }
  return found;
}

/**
 * EDS lists by the identities of their assignments: the proxies that call the same services hold
 * one list (the assignments are shared per service, generate/services.ts), so an endpoint change
 * patches it once for all of them and the snapshot finds its encoded set by the list
 * (snapshot.ts), not by encoding each proxy's. Lists are never mutated, so sharing is safe. The
 * table is bounded: past the bound it starts over, which costs sharing, never a wrong result.
 */
const listsByKey = new Map<string, readonly ResourceObject[]>();
const objectIds = new WeakMap<object, number>();
let nextObjectId = 0;
const MAX_SHARED_LISTS = 20_000;

function idOf(object: object): number {
  let id = objectIds.get(object);
  if (id === undefined) objectIds.set(object, (id = ++nextObjectId));
  return id;
}

function sharedList(list: readonly ResourceObject[]): readonly ResourceObject[] {
  let key = '';
  for (const object of list) key += `${idOf(object)},`;
  const found = listsByKey.get(key);
  if (found) return found;
  if (listsByKey.size >= MAX_SHARED_LISTS) listsByKey.clear();
  listsByKey.set(key, list);
  return list;
}

/**
 * Source maps (GeneratedSources.extra) by content: proxies of one service generate equal maps of
 * shared lists, one Map per type each; shared, they are held once (the table is bounded as above).
 *
 * A map that differs from a known one by one entry of its own (a proxy's inbound listener, named
 * by its address, comes from its TrafficPermissions) is that known map with the entry added
 * (MapWith), and is not entered in the table: otherwise every connected proxy kept a Map per
 * type, its key string in the table, and an outer Map and key of its own (about a kilobyte per
 * mTLS proxy, idle memory). The own entry is `own` when given, else the last one
 * (generation adds a proxy's inbound listeners after its outbound ones). The first map of its
 * kind is entered with the map without that entry, so the next proxy finds the latter.
 */
const sourceMaps = new Map<string, ReadonlyMap<string, unknown>>();

function enterSourceMap(key: string, map: ReadonlyMap<string, unknown>): void {
  if (sourceMaps.size >= MAX_SHARED_LISTS) sourceMaps.clear();
  sourceMaps.set(key, map);
}

/** `own`: the key of the proxy's own entry; the last when undefined; null: the map is shared whole or not at all. */
function sharedMap<V extends object>(map: ReadonlyMap<string, V>, own?: string | null): ReadonlyMap<string, V> {
  // One pass builds the map's key and the key of the map without its own entry (`restKey`): the
  // own entry is the last (its part starts at `lastAt`) or the one named `own`.
  let key = '';
  let restKey = '';
  let lastAt = 0;
  let ownName: string | undefined;
  let ownValue: V | undefined;
  for (const [name, value] of map) {
    const part = `${name.length}:${name}=${idOf(value)},`;
    if (own === undefined) {
      lastAt = key.length;
      ownName = name;
      ownValue = value;
    } else if (own !== null) {
      if (name === own) {
        ownName = name;
        ownValue = value;
      } else restKey += part;
    }
    key += part;
  }
  const found = sourceMaps.get(key) as ReadonlyMap<string, V> | undefined;
  if (found) return found;
  // Not known: is it a known map plus an entry of its own?
  if (map.size < 2 || ownName === undefined || ownValue === undefined) {
    enterSourceMap(key, map);
    return map;
  }
  if (own === undefined) restKey = key.slice(0, lastAt);
  const rest = sourceMaps.get(restKey) as ReadonlyMap<string, V> | undefined;
  if (rest) return new MapWith(rest, ownName, ownValue);
  enterSourceMap(key, map);
  const without = new Map(map);
  without.delete(ownName);
  enterSourceMap(restKey, without);
  return map;
}

function sharedSources(sources: GeneratedSources | undefined): GeneratedSources | undefined {
  if (!sources || sources.extra.size === 0) return sources;
  const inner = new Map<string, ReadonlyMap<string, readonly string[]>>();
  // The type whose map is the proxy's own (a known map plus an entry): the outer map is the known one plus it.
  let own: string | undefined;
  let owned = 0;
  for (const [typeUrl, byName] of sources.extra) {
    const shared = sharedMap(byName);
    inner.set(typeUrl, shared);
    if (shared instanceof MapWith) {
      own = typeUrl;
      owned++;
    }
  }
  return { owner: sources.owner, extra: sharedMap(inner, owned === 1 ? own : owned === 0 ? undefined : null) };
}

/**
 * A generated config with what proxies have in common shared between them: its EDS list replaced
 * by the equal shared one (sharedList), its source maps by the equal shared ones.
 */
function withSharedParts(config: GeneratedConfig): GeneratedConfig {
  const list = config.resources.get(ENDPOINT_TYPE);
  const sources = sharedSources(config.sources);
  const shared = list && list.length > 0 ? sharedList(list) : list;
  if (shared === list && sources === config.sources) return config;
  const resources = new Map(config.resources);
  if (shared) resources.set(ENDPOINT_TYPE, shared);
  return { ...config, resources, ...(sources ? { sources } : {}) };
}

/** `config` patched by `patch`, the patched EDS list shared by every proxy that held the same list. */
function patchShared(config: GeneratedConfig, patch: EndpointPatch): GeneratedConfig {
  const list = config.resources.get(ENDPOINT_TYPE);
  if (!list || patch.replacements.size === 0) return config;
  let patched = patch.lists.get(list);
  if (patched === undefined) {
    const next = patchEndpoints(config, patch.replacements).resources.get(ENDPOINT_TYPE)!;
    patched = next === list ? list : sharedList(next);
    patch.lists.set(list, patched);
  }
  if (patched === list) return config;
  // The previous lists with EDS replaced, not a copy: the snapshot then sees it is an EDS patch (snapshot.ts MapWith).
  return { ...config, resources: new MapWith(config.resources, ENDPOINT_TYPE, patched) };
}

/** `config` with the assignments named in `replacements` swapped; `config` itself when it has none of them. */
export function patchEndpoints(config: GeneratedConfig, replacements: ReadonlyMap<string, ResourceObject>): GeneratedConfig {
  const list = config.resources.get(ENDPOINT_TYPE);
  if (!list || replacements.size === 0) return config;
  let changed = false;
  const patched = list.map((assignment) => {
    const replacement = replacements.get(assignment['cluster_name'] as string);
    if (replacement === undefined || replacement === assignment) return assignment;
    changed = true;
    return replacement;
  });
  if (!changed) return config;
  const resources = new Map(config.resources);
  resources.set(ENDPOINT_TYPE, patched);
  return { ...config, resources };
}

/**
 * `config` with its mesh identity Secrets (certificate, trust bundle) replaced by the current
 * material, when that is all an identity tick can change: a Dataplane's config names the two
 * Secrets whenever both exist (generate/mesh-identity.ts), and only their presence, never their
 * content, shapes its listeners and clusters. Undefined when the tick may change more (the
 * identity appears or goes, a gateway, a proxy without a Dataplane): generate then.
 */
export function patchIdentity(config: GeneratedConfig, model: Model, proxy: ProxyIdentity, context: GenerateContext): GeneratedConfig | undefined {
  const mesh = model.meshes.get(proxy.mesh);
  if (!mesh?.mtls || !mesh.dataplanes.has(proxy.name)) return undefined;
  const secrets = identitySecrets(mesh.name, proxy.name, context.meshTls ?? NO_MESH_TLS_MATERIAL);
  const list = config.resources.get(SECRET_TYPE) ?? [];
  const byName = new Map(secrets.map((secret) => [secret['name'] as string, secret]));
  if (secrets.length !== 2 || list.length !== 2 || !list.every((secret) => byName.has(secret['name'] as string))) return undefined;
  const patched = list.map((secret) => byName.get(secret['name'] as string)!);
  if (patched.every((secret, i) => secret === list[i])) return config;
  // A TypeMap: the patched config is what the proxy keeps until its next change (xds/snapshot.ts retainConfig).
  const resources = new TypeMap<readonly ResourceObject[]>();
  config.resources.forEach((lists, typeUrl) => resources.set(typeUrl, lists));
  resources.set(SECRET_TYPE, patched);
  return { ...config, resources };
}

/**
 * The model states, fanned out to every connected proxy by a plain loop: one subscription to the
 * states for the whole fleet instead of one rxjs subscriber chain per proxy (each costs memory
 * per connected proxy and a few calls per proxy per change; a profiled hot path).
 */
export class StateHub {
  private current?: ResourceState;
  private failure?: { error: unknown };
  private readonly listeners = new Set<StateListener>();
  private readonly subscription: Subscription;

  constructor(states: Observable<ResourceState>) {
    this.subscription = states.subscribe({
      next: (state) => {
        this.current = state;
        // Listeners that join while this runs get the state when they join.
        for (const listener of [...this.listeners]) if (this.listeners.has(listener)) listener.next(state);
      },
      error: (error: unknown) => {
        this.failure = { error };
        for (const listener of [...this.listeners]) listener.error(error);
        this.listeners.clear();
      },
    });
  }

  /** Listens from now on; the current state, if any, is delivered at once. Returns the way to stop. */
  listen(listener: StateListener): () => void {
    if (this.failure) {
      listener.error(this.failure.error);
      return () => undefined;
    }
    this.listeners.add(listener);
    if (this.current !== undefined) listener.next(this.current);
    return () => void this.listeners.delete(listener);
  }

  /** Proxies listening, for tests. */
  get size(): number {
    return this.listeners.size;
  }

  close(): void {
    this.subscription.unsubscribe();
    this.listeners.clear();
  }
}

export interface StateListener {
  next(state: ResourceState): void;
  error(error: unknown): void;
}

/** Where a proxy's configs go (an rxjs Subscriber is one). */
export interface ConfigSink {
  next(config: GeneratedConfig): void;
  error(err: unknown): void;
  complete(): void;
}

/** Identity ticks per proxy without an Observable each (IdentityManager.listen). */
export interface TickSource {
  listen(ref: { readonly mesh: string; readonly name: string }, listener: { next(tick: number): void }): () => void;
}

/**
 * The configs of `proxy` as `states` and its identity `ticks` move; nothing is emitted for a change
 * that does not touch it, nor for a config `publish` refuses.
 *
 * An Observable, and a `listen` the snapshot cache uses instead of subscribing (xds/cache.ts
 * ConfigStream): no rxjs subscriber chain per connected proxy (idle memory).
 */
export function proxyConfigs(
  proxy: ProxyIdentity,
  states: Observable<ResourceState> | StateHub,
  ticks: Observable<number> | TickSource,
  counters: GenerationCounters,
  publish?: (config: GeneratedConfig, proxy: ProxyIdentity) => boolean,
): Observable<GeneratedConfig> & { listen(sink: ConfigSink): () => void } {
  const listen = (sink: ConfigSink): (() => void) => {
    const run = new ProxyConfigRun(proxy, counters, publish, sink);
    run.start(states, ticks);
    return () => run.stop();
  };
  return Object.assign(
    new Observable<GeneratedConfig>((subscriber) => listen(subscriber)),
    { listen },
  );
}

/**
 * One listener's run of `proxyConfigs`: its last config, the latest state and tick, and the step
 * from one to the next. A class rather than closures: one object per connected proxy instead of
 * a dozen closures and their contexts (idle memory).
 */
class ProxyConfigRun implements StateListener {
  /** The last config generated or patched, the revision and tick it is of; undefined before the first. */
  private lastConfig: GeneratedConfig | undefined = undefined;
  private lastRevision = 0;
  private lastTick = 0;
  private state: ResourceState | undefined = undefined;
  private tick: number | undefined = undefined;
  private completed = 0;
  private closed = false;
  private stopStates: (() => void) | undefined = undefined;
  private stopTicks: (() => void) | undefined = undefined;

  constructor(
    private readonly proxy: ProxyIdentity,
    private readonly counters: GenerationCounters,
    private readonly publish: ((config: GeneratedConfig, proxy: ProxyIdentity) => boolean) | undefined,
    private readonly sink: ConfigSink,
  ) {}

  start(states: Observable<ResourceState> | StateHub, ticks: Observable<number> | TickSource): void {
    if (states instanceof StateHub) {
      this.stopStates = states.listen(this);
    } else {
      const subscription = states.subscribe({ next: (value) => this.next(value), error: (err: unknown) => this.error(err), complete: () => this.complete() });
      this.stopStates = () => subscription.unsubscribe();
    }
    if (this.closed) {
      this.stop();
      return;
    }
    if (!(ticks instanceof Observable)) {
      // The identity manager's own listeners: no rxjs subscription per proxy (idle memory).
      const stop = ticks.listen(this.proxy, new TickObserver(this));
      if (this.closed) stop();
      else this.stopTicks = stop;
      return;
    }
    const subscription = ticks.subscribe(new TickObserver(this));
    if (this.closed) subscription.unsubscribe();
    else this.stopTicks = () => subscription.unsubscribe();
  }

  stop(): void {
    this.closed = true;
    this.stopStates?.();
    this.stopStates = undefined;
    this.stopTicks?.();
    this.stopTicks = undefined;
  }

  /** A model state (StateListener). */
  next(state: ResourceState): void {
    this.state = state;
    this.emit();
  }

  onTick(tick: number): void {
    this.tick = tick;
    this.emit();
  }

  error(err: unknown): void {
    if (this.closed) return;
    this.stop();
    this.sink.error(err);
  }

  complete(): void {
    if (this.closed || ++this.completed < 2) return;
    this.stop();
    this.sink.complete();
  }

  // combineLatest by hand: one change reaches every connected proxy, and this runs for each of
  // them, so no per-emission array or operator chain (a profiled hot path).
  private emit(): void {
    if (this.closed || this.state === undefined || this.tick === undefined) return;
    const config = this.step(this.state, this.tick);
    if (config && (this.publish === undefined || this.publish(config, this.proxy))) {
      this.sink.next(config);
      // The snapshot cache built it and keeps it without its encoded plain objects (xds/snapshot.ts
      // retainConfig): keep that same form, so the objects are not held here either.
      if (this.lastConfig === config) this.lastConfig = retainedForm(config);
    }
  }

  private generate(state: ResourceState, tick: number): GeneratedConfig {
    this.counters.proxyGenerations++;
    const config = withSharedParts(generateForProxy(state.revision.model, this.proxy, state.context));
    this.lastConfig = config;
    this.lastRevision = state.revision.revision;
    this.lastTick = tick;
    return config;
  }

  private step(state: ResourceState, tick: number): GeneratedConfig | undefined {
    const revision = state.revision;
    const last = this.lastConfig;
    if (last !== undefined && this.lastTick !== tick && this.lastRevision === revision.revision) {
      // An identity tick on an unchanged model: a rotation or a trust bundle change is an SDS-only update.
      const patched = patchIdentity(last, revision.model, this.proxy, state.context);
      if (!patched) return this.generate(state, tick);
      this.lastTick = tick;
      if (patched === last) return undefined;
      this.counters.identityPatches++;
      this.lastConfig = patched;
      return patched;
    }
    if (last === undefined || this.lastTick !== tick || revision.revision !== this.lastRevision + 1) {
      if (last !== undefined && this.lastTick === tick && this.lastRevision === revision.revision) return undefined;
      return this.generate(state, tick);
    }
    const change = revision.changes.get(this.proxy.mesh) ?? UNCHANGED;
    if (change.kind === 'unchanged') {
      this.lastRevision = revision.revision;
      return undefined;
    }
    const mesh = revision.model.meshes.get(this.proxy.mesh);
    if (change.kind === 'full' || !mesh || change.proxies.has(this.proxy.name)) return this.generate(state, tick);
    const patched = patchShared(last, endpointPatch(revision, mesh, change.services));
    this.lastRevision = revision.revision;
    if (patched === last) return undefined;
    this.counters.endpointPatches++;
    this.lastConfig = patched;
    return patched;
  }
}

/** The ticks' observer: an object with methods, not three closures per proxy. */
class TickObserver {
  constructor(private readonly run: ProxyConfigRun) {}
  next(tick: number): void {
    this.run.onTick(tick);
  }
  error(err: unknown): void {
    this.run.error(err);
  }
  complete(): void {
    this.run.complete();
  }
}

/**
 * One proxy's generated config over time: generated again only when something it depends on
 * changed, patched when only endpoints changed, left alone otherwise. What changed is read off
 * the keys of each model revision (translate/incremental.ts `ModelChange`, planned once per
 * change for the whole mesh, shared-parts.ts `changePlan`):
 *
 * - A tick of the proxy's identity (issuance, rotation, trust bundle) patches its SDS Secrets, or
 *   generates it again when the tick may change more.
 * - A revision with no key of the proxy's mesh (another mesh changed) costs nothing.
 * - `ServiceMembers` keys alone (an endpoint-only change) replace the ClusterLoadAssignments of
 *   those services in the proxy's last config, sharing one object per service with every other
 *   proxy (Istio's EDS-only push, Kuma's CLA cache). Every other type keeps its list, so the
 *   snapshot reuses their encoded maps and versions (snapshot.ts `previous`) and the session
 *   pushes EDS alone. `Dataplane` keys generate the proxies they name again.
 * - `Gateway` and `Secret` keys generate again the proxies that serve no Dataplane (gateways).
 * - Any other key generates it again, and so does a change whose keys the proxy cannot read: a
 *   revision that does not count from the one it saw last (`ModelRevision.since`), a tick without
 *   keys for a gateway. Keys not applied yet are taken together (their union).
 * `generateForProxy` on the full model stays the oracle: test/incremental checks both agree.
 */
import { Observable, type Subscription } from 'rxjs';
import { kindOfKey, type DependencyKey, type DependencyKind } from '../change/keys.js';
import { NO_MESH_TLS_MATERIAL } from '../ca/workload-identity.js';
import { contextMemo, generateForProxy, type GenerateContext, type ProxyIdentity } from '../generate/generate.js';
import { identitySecrets } from '../envoy/identity-secrets.js';
import { identitySecretNames } from '../identity/names.js';
import type { Model } from '../model/model.js';
import type { ModelChange, ModelRevision } from '../translate/incremental.js';
import type { ResourceObject } from '../snapshot/encode.js';
import { TypeMap, type GeneratedConfig } from '../snapshot/snapshot.js';
import { SECRET_TYPE } from '../snapshot/types.js';
import { SharedParts } from './shared-parts.js';

export { SharedParts } from './shared-parts.js';

export interface GenerationCounters {
  /** Proxy configs generated from the model. */
  proxyGenerations: number;
  /** Proxy configs updated by swapping ClusterLoadAssignments, without generating. */
  endpointPatches: number;
  /** Proxy configs updated by swapping the identity Secrets (rotation, trust bundle), without generating. */
  identityPatches: number;
}

/** What every proxy's generation reads: the model revision and the generation context built with it. */
export interface ResourceState {
  readonly revision: ModelRevision;
  readonly context: GenerateContext;
  /**
   * What proxies' configs share (EDS lists, source maps, endpoint patches), made by the
   * composition root. Without it each proxy's run keeps its own: nothing is shared between proxies.
   */
  readonly shared?: SharedParts;
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
  const material = context.meshTls ?? NO_MESH_TLS_MATERIAL;
  const secrets = identitySecrets(identitySecretNames(mesh.name), material.identity(mesh.name, proxy.name), material.trustBundle(mesh.name), context.cache);
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

/** Where a proxy's configs go (an rxjs Subscriber is one). */
export interface ConfigSink {
  /** May return the form of the config the sink keeps (snapshot/cache.ts ConfigReceiver), to keep in its place. */
  next(config: GeneratedConfig): GeneratedConfig | void;
  error(err: unknown): void;
  complete(): void;
}

/** Identity ticks per proxy without an Observable each (IdentityManager.listen). */
export interface TickSource {
  /** `keys`: the identity events a tick stands for (identity/identity-keys.ts); undefined for the starting version. */
  listen(ref: { readonly mesh: string; readonly name: string }, listener: { next(tick: number, keys?: readonly DependencyKey[]): void }): () => void;
}

/**
 * The identity events a sidecar's SDS Secrets answer: its own certificate, the mesh's trust bundle
 * and its CA phase. A sidecar reads no other identity event (a gateway's server certificate).
 */
const SIDECAR_IDENTITY_KINDS: ReadonlySet<DependencyKind> = new Set<DependencyKind>(['Certificate', 'TrustBundle', 'CaPhase']);

/** Whether identity events `keys` can change a sidecar's config. */
function readBySidecar(keys: readonly DependencyKey[]): boolean {
  return keys.some((key) => SIDECAR_IDENTITY_KINDS.has(kindOfKey(key)));
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

/** What a run holds for a change its keys do not say: a revision that does not follow the one it saw last, a tick without keys. */
const KEYS_UNKNOWN: unique symbol = Symbol('keys unknown');

type PendingModel = ModelChange | typeof KEYS_UNKNOWN;
type PendingIdentity = readonly DependencyKey[] | typeof KEYS_UNKNOWN;

/** `pending` and `change` taken together: the change's own set when nothing was pending (shared by every proxy, no copy), else a union of the run's own. */
function withChange(pending: PendingModel | undefined, change: ModelChange): PendingModel {
  if (pending === undefined || pending === KEYS_UNKNOWN) return pending ?? change;
  const union = new Set(pending);
  for (const key of change) union.add(key);
  return union;
}

function withTick(pending: PendingIdentity | undefined, keys: readonly DependencyKey[] | undefined): PendingIdentity {
  if (keys === undefined || pending === KEYS_UNKNOWN) return KEYS_UNKNOWN;
  return pending === undefined ? keys : [...pending, ...keys];
}

/**
 * One listener's run of `proxyConfigs`: its last config, the keys of what changed since, and the
 * step from one to the next. The step reads the keys alone: none pending, nothing to do; the plan
 * of the model keys (shared-parts.ts `changePlan`) says generate, patch EDS or leave; identity keys
 * a sidecar reads patch its SDS. Keys the run cannot read generate. Revision numbers serve only
 * to know whether a revision's keys count from the one the run saw last (`ModelRevision.since`).
 *
 * A class rather than closures: one object per connected proxy instead of a dozen closures and
 * their contexts (idle memory). Between changes it holds no key set (both pending fields are
 * undefined), and a change taken at once is the revision's own set, not a copy. Every state and
 * tick steps at once after the first config, so the keys of two events are united only if a step
 * ever waits; keys that arrive together (a revision whose `since` spans several) are one set.
 */
class ProxyConfigRun implements StateListener {
  /** The last config generated or patched; undefined before the first. */
  private lastConfig: GeneratedConfig | undefined = undefined;
  /** The model keys of the proxy's mesh received since `lastConfig`, not applied yet. */
  private pendingModel: PendingModel | undefined = undefined;
  /** The identity keys received since `lastConfig`, not applied yet. */
  private pendingIdentity: PendingIdentity | undefined = undefined;
  /** The revision received last: the next one's keys are read when they count from it. */
  private seen: number | undefined = undefined;
  private state: ResourceState | undefined = undefined;
  /** Whether the identity told its first version: a proxy's first config waits for it. */
  private ticked = false;
  private completed = 0;
  private closed = false;
  private stopStates: (() => void) | undefined = undefined;
  private stopTicks: (() => void) | undefined = undefined;
  /** What this run shares when the states carry no SharedParts: nothing beyond itself. */
  private own: SharedParts | undefined = undefined;

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
    const revision = state.revision;
    if (revision !== this.state?.revision) {
      // Keys are kept only against a config: the first one is generated whatever changed before it.
      const follows = revision.since === this.seen;
      this.seen = revision.revision;
      if (this.lastConfig !== undefined) {
        const change = revision.changes.get(this.proxy.mesh);
        if (!follows) this.pendingModel = KEYS_UNKNOWN;
        else if (change !== undefined) this.pendingModel = withChange(this.pendingModel, change);
      }
    }
    this.state = state;
    this.emit();
  }

  /** A new version of the proxy's identity, standing for `keys` (undefined: not said). */
  onTick(keys?: readonly DependencyKey[]): void {
    this.ticked = true;
    if (this.lastConfig !== undefined) this.pendingIdentity = withTick(this.pendingIdentity, keys);
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
    if (this.closed || this.state === undefined || !this.ticked) return;
    const config = this.step(this.state);
    if (config && (this.publish === undefined || this.publish(config, this.proxy))) {
      const kept = this.sink.next(config);
      // The snapshot cache built it and keeps it without its encoded plain objects (xds/snapshot.ts
      // retainConfig): keep that same form, so the objects are not held here either.
      if (this.lastConfig === config && kept) this.lastConfig = kept;
    }
  }

  private shared(state: ResourceState): SharedParts {
    return state.shared ?? (this.own ??= new SharedParts());
  }

  private generate(state: ResourceState): GeneratedConfig {
    this.counters.proxyGenerations++;
    const config = this.shared(state).config(generateForProxy(state.revision.model, this.proxy, state.context));
    this.lastConfig = config;
    return config;
  }

  /** The config after what is pending, applied: undefined when it stays the same. */
  private step(state: ResourceState): GeneratedConfig | undefined {
    const last = this.lastConfig;
    const model = this.pendingModel;
    const identity = this.pendingIdentity;
    if (last !== undefined && model === undefined && identity === undefined) return undefined;
    this.pendingModel = undefined;
    this.pendingIdentity = undefined;
    if (last === undefined || model === KEYS_UNKNOWN) return this.generate(state);
    const revision = state.revision;
    const mesh = revision.model.meshes.get(this.proxy.mesh);
    const name = this.proxy.name;
    const sidecar = mesh?.dataplanes.has(name) === true;
    let config = last;
    if (model !== undefined) {
      const shared = this.shared(state);
      const plan = shared.plan(model);
      if (!mesh || plan.all || plan.proxies.has(name) || (plan.withoutDataplane && !sidecar)) return this.generate(state);
      if (plan.services.size > 0) config = shared.patchEndpoints(config, mesh, plan.services, contextMemo(state.context));
    }
    const endpointsPatched = config !== last;
    // An identity event a sidecar does not read (a gateway's server certificate) leaves it alone;
    // one it reads is an SDS-only update when patchIdentity can make it, a generation otherwise.
    if (identity !== undefined && (identity === KEYS_UNKNOWN || !sidecar || readBySidecar(identity))) {
      const patched = patchIdentity(config, revision.model, this.proxy, state.context);
      if (!patched) return this.generate(state);
      if (patched !== config) this.counters.identityPatches++;
      config = patched;
    }
    if (endpointsPatched) this.counters.endpointPatches++;
    if (config === last) return undefined;
    this.lastConfig = config;
    return config;
  }
}

/** The ticks' observer: an object with methods, not three closures per proxy. */
class TickObserver {
  constructor(private readonly run: ProxyConfigRun) {}
  next(_version: number, keys?: readonly DependencyKey[]): void {
    this.run.onTick(keys);
  }
  error(err: unknown): void {
    this.run.error(err);
  }
  complete(): void {
    this.run.complete();
  }
}

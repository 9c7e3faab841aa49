/**
 * Workload identities (SPEC §1 Mesh, "Workload certificates"): the material behind
 * `MeshTlsMaterial`.
 *
 * - A proxy gets a certificate when it connects (its first xDS stream), if its mesh has mTLS
 *   enabled and it has a Dataplane (or a Gateway) there: one URI SAN `spiffe://<mesh>/<service>`
 *   per service its inbounds serve. The key is held in memory only.
 * - It is issued and rotated at 4/5 of its lifetime by issuance.ts (rotation.ts), re-issued at once when the services it
 *   serves change, and forgotten when the proxy's last stream closes: a reconnect, a restart of
 *   the control plane or a connection to another replica gets a new one.
 * - Every change is a tick on the proxy's `watch` observable; the runtime then generates that
 *   proxy's config again. Secret names never change (names.ts), so a rotation only touches SDS.
 *
 * CA switch (SPEC §1 Mesh, "Changing enabledBackend"), in three steps, so that at no point a
 * proxy presents a certificate its peer does not trust:
 * 1. The trust bundle grows to old + new roots and is published to every proxy of the mesh, while
 *    certificates are still issued from the old CA. The step ends when every connected proxy has
 *    received the bundle (MaterialDelivery: an SDS ACK, where it can be seen), or after
 *    `bundleTimeoutMs`.
 * 2. The new CA issues: connected proxies are re-issued at random times spread over
 *    `switchWindowMs`, and a proxy that connects now gets a new-CA certificate at once.
 * 3. Once every connected proxy holds a certificate from the new CA and has received it, the old
 *    roots are dropped from the bundle.
 * Steps 2 and 3 start `settleMs` after the previous step is confirmed: a proxyless app reads the
 * files `meshcp agent` writes only once per refresh interval, so an ACK from its agent means
 * "on disk", not yet "in use".
 */
import { Observable, type Subscription } from 'rxjs';
import { listChange, meshOf, ResourceSet, type ResourceChange } from '../api/resource-set.js';
import type { Resource } from '../api/types.js';
import type { IssuedServerCertificate, MeshTlsMaterial } from '../ca/workload-identity.js';
import { GATEWAY_CA_BACKEND, type MeshCaRegistry } from '../ca/providers/registry.js';
import type { IssuedIdentity, MeshCa } from '../ca/providers/types.js';
import { enabledBackend, indexResources, spiffeIdsOf, type MutableResourceIndex } from './resource-index.js';
import { validitySecondsOf } from './rotation.js';
import { CaSwitch } from './ca-switch.js';
import { WorkloadIssuance } from './issuance.js';
import { IssuedServerCertificates } from './server-certificates.js';
import { IdentityStatuses } from './statuses.js';
import { message, sameList, type MeshState, type MutableStatus, type ProxyState } from './state.js';
import { systemClock, systemScheduler, type Clock, type Scheduler } from './time.js';
import { IMMEDIATE_DELIVERY, type CaAbout, type IdentityLogger, type IdentityStatus, type MaterialDelivery, type MeshCaState, type ProxyRef } from './types.js';
import type { VersionListener } from './state.js';

export { IMMEDIATE_DELIVERY, type CaAbout, type IdentityLogger, type IdentityStatus, type MaterialDelivery, type MeshCaState, type ProxyRef } from './types.js';

export interface IdentityManagerOptions {
  readonly cas: MeshCaRegistry;
  readonly log: IdentityLogger;
  readonly clock?: Clock;
  readonly scheduler?: Scheduler;
  /** Uniform in [0, 1): rotation jitter and the spread of a CA switch. */
  readonly random?: () => number;
  /** Connected proxies are re-issued within this window after a CA switch. Default 2000 ms. */
  readonly switchWindowMs?: number;
  /** How long a CA switch waits for every proxy to receive the grown trust bundle. Default 10000 ms. */
  readonly bundleTimeoutMs?: number;
  /**
   * A CA switch waits this long after every proxy has confirmed a step before taking the next:
   * a proxyless app reads its files (written by `meshcp agent`) only every refresh interval (1 s
   * in `meshcp bootstrap grpc`). Default 2000 ms; 0 moves on at once.
   */
  readonly settleMs?: number;
  /** Delay before retrying a failed issuance. Default 5000 ms. */
  readonly retryDelayMs?: number;
  readonly delivery?: MaterialDelivery;
}

function isChange(input: readonly Resource[] | ResourceChange): input is ResourceChange {
  return !Array.isArray(input);
}

/** `s` as one sequential string: reading it once makes V8 flatten it in place. */
function flat(s: string): string {
  void s.charCodeAt(0);
  return s;
}

export class IdentityManager implements MeshTlsMaterial {
  private readonly clock: Clock;
  private readonly scheduler: Scheduler;
  private readonly random: () => number;
  private readonly switchWindowMs: number;
  private readonly retryDelayMs: number;
  private readonly delivery: MaterialDelivery;
  private readonly log: IdentityLogger;
  private readonly meshes = new Map<string, MeshState>();
  /**
   * Connected proxies by mesh, then name: no `mesh/name` key string is kept (or built per
   * lookup) for each proxy, and a mesh's proxies are one map (per-proxy memory).
   */
  private readonly proxies = new Map<string, Map<string, ProxyState>>();
  private readonly statuses = new IdentityStatuses();
  private readonly serverCertificates: IssuedServerCertificates;
  private readonly deliverySubscription: Subscription;
  private readonly caSwitch: CaSwitch;
  private set: ResourceSet = ResourceSet.EMPTY;
  private index: MutableResourceIndex = indexResources([]);
  private closed = false;
  private readonly issuance: WorkloadIssuance;

  constructor(private readonly options: IdentityManagerOptions) {
    this.clock = options.clock ?? systemClock;
    this.scheduler = options.scheduler ?? systemScheduler;
    this.random = options.random ?? Math.random;
    this.switchWindowMs = options.switchWindowMs ?? 2000;
    this.retryDelayMs = options.retryDelayMs ?? 5000;
    this.delivery = options.delivery ?? IMMEDIATE_DELIVERY;
    this.log = options.log;
    // The switch reads `closed` as it changes (after close() its timers do nothing).
    const manager = this;
    this.caSwitch = new CaSwitch(
      {
        get closed() {
          return manager.closed;
        },
        proxiesOf: (mesh) => this.proxiesOf(mesh),
        bumpMesh: (mesh) => this.bumpMesh(mesh),
        issue: (proxy) => this.issuance.issue(proxy),
        scheduleIssue: (proxy, delayMs) => this.issuance.schedule(proxy, delayMs),
      },
      {
        clock: this.clock,
        scheduler: this.scheduler,
        random: this.random,
        switchWindowMs: this.switchWindowMs,
        bundleTimeoutMs: options.bundleTimeoutMs ?? 10_000,
        settleMs: options.settleMs ?? 2000,
        delivery: this.delivery,
        log: this.log,
      },
    );
    this.issuance = new WorkloadIssuance({
      cas: options.cas,
      log: this.log,
      clock: this.clock,
      scheduler: this.scheduler,
      random: this.random,
      switchWindowMs: this.switchWindowMs,
      retryDelayMs: this.retryDelayMs,
      closed: () => this.closed,
      mesh: (name) => this.meshes.get(name),
      status: (proxy) => this.status(proxy),
      publish: (proxy) => this.publish(proxy),
      issued: (mesh) => this.caSwitch.checkRetirement(mesh),
    });
    this.serverCertificates = new IssuedServerCertificates({
      issuer: { caFor: (mesh) => this.serverCertificateCa(mesh) },
      clock: this.clock,
      scheduler: this.scheduler,
      random: this.random,
      log: this.log,
      changed: (mesh) => this.bumpMesh(mesh),
    });
    this.deliverySubscription = this.delivery.changes.subscribe(() => {
      // Only a mesh in the middle of a CA switch waits for deliveries.
      for (const mesh of this.meshes.values()) if (mesh.pending || mesh.retiring.length > 0) this.caSwitch.checkSwitch(mesh);
    });
  }

  get cas(): MeshCaRegistry {
    return this.options.cas;
  }

  /**
   * Takes the current (validated) resource set: Mesh mTLS policies, Dataplanes and Gateways. A
   * change looks only at what it touches: the meshes whose Mesh or Secrets it puts or
   * deletes (their CA, and every proxy of theirs), and the proxies whose Dataplane or Gateway it
   * puts or deletes. A reset (the first set) looks at everything.
   */
  update(input: readonly Resource[] | ResourceChange): void {
    if (this.closed) return;
    // A list (tests) is compared with the last set, so it takes the same path as a change.
    const change = isChange(input) ? input : listChange(this.set === ResourceSet.EMPTY ? undefined : this.set, ResourceSet.fromList(input));
    this.set = change.set;
    if (change.reset) {
      this.index = indexResources(change.set.list());
      this.initializeBuiltinBackends(this.index.meshes.keys());
      for (const name of new Set([...this.index.meshes.keys(), ...this.meshes.keys()])) this.reconcileMesh(this.meshState(name));
      for (const members of this.proxies.values()) for (const proxy of members.values()) this.reconcileProxy(proxy);
      return;
    }
    const meshes = new Set<string>();
    const proxies = new Set<ProxyState>();
    const look = (r: Resource): void => {
      if (r.type === 'Mesh' || r.type === 'Secret') meshes.add(meshOf(r));
      else if (r.type === 'Dataplane' || r.type === 'Gateway') {
        const proxy = this.proxy(r.mesh, r.name);
        if (proxy) proxies.add(proxy);
      }
    };
    for (const r of change.deletes) {
      this.index.remove(r);
      look(r);
    }
    change.puts.forEach((r, i) => {
      const old = change.replaced[i];
      if (old) this.index.remove(old);
      this.index.put(r);
      look(r);
    });
    this.initializeBuiltinBackends([...meshes].filter((m) => this.index.meshes.has(m)));
    for (const name of meshes) this.reconcileMesh(this.meshState(name));
    for (const name of meshes) for (const proxy of this.proxiesOf(name)) this.reconcileProxy(proxy);
    for (const proxy of proxies) if (!meshes.has(proxy.mesh)) this.reconcileProxy(proxy);
  }

  /** Resources indexed since the start: a change indexes only what it puts or deletes (recompute counter). */
  get resourcesIndexed(): number {
    return this.index.indexed;
  }

  /**
   * Connects a proxy for as long as the subscription lasts. Emits when the proxy's config may be
   * generated (at once, or once its first certificate is issued) and whenever its material changes.
   */
  watch(ref: ProxyRef): Observable<number> {
    return new Observable<number>((subscriber) => this.listen(ref, subscriber));
  }

  /**
   * `watch` without an Observable: `listener` is told each version until the returned function
   * is called (the runtime's per-proxy path; no rxjs subscription per proxy).
   */
  listen(ref: ProxyRef, listener: VersionListener): () => void {
    let members = this.proxies.get(ref.mesh);
    let proxy = members?.get(ref.name);
    if (!proxy) {
      // Every field the state ever gets, set now: fields added later would go to a separate property array.
      proxy = {
        mesh: ref.mesh,
        name: ref.name,
        subscribers: 0,
        version: -1,
        watchers: listener,
        ready: false,
        spiffeIds: undefined,
        identity: undefined,
        identityPublishedAt: undefined,
        issueSeq: 0,
        issuing: false,
        cancelTimer: undefined,
      };
      if (!members) this.proxies.set(ref.mesh, (members = new Map()));
      members.set(ref.name, proxy);
    } else if (Array.isArray(proxy.watchers)) proxy.watchers.push(listener);
    else proxy.watchers = [proxy.watchers, listener];
    const current = proxy;
    current.subscribers++;
    let stopped = false;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      const watchers = current.watchers;
      if (!Array.isArray(watchers)) {
        if (watchers === listener) current.watchers = [];
      } else {
        const index = watchers.indexOf(listener);
        if (index >= 0) watchers.splice(index, 1);
      }
      current.subscribers--;
      if (current.subscribers === 0 && this.proxy(current.mesh, current.name) === current) this.forget(current);
    };
    // As a BehaviorSubject would: the current version first (if any), then every new one.
    if (current.version >= 0) listener.next(current.version);
    if (current.subscribers === 1 && !(listener.closed ?? false)) {
      this.status(current).connected = true;
      this.reconcileProxy(current);
    }
    return stop;
  }

  identity(mesh: string, proxyName: string): IssuedIdentity | undefined {
    const proxy = this.proxy(mesh, proxyName);
    return proxy?.spiffeIds !== undefined ? proxy.identity : undefined;
  }

  /**
   * Asked once per generated proxy config: the bundle is kept per mesh for the set of CAs it was
   * built from, so every proxy shares one string and a CA change rebuilds it.
   */
  trustBundle(mesh: string): string | undefined {
    const state = this.meshes.get(mesh);
    if (!state?.ca || !state.backend) return undefined;
    const cas = [state.ca, ...(state.pending ? [state.pending.ca] : []), ...state.retiring];
    const known = state.bundle;
    if (known && known.cas.length === cas.length && known.cas.every((ca, i) => ca === cas[i])) return known.pem;
    const roots = new Map<string, string>();
    for (const ca of cas) for (const pem of this.options.cas.trustRoots(ca)) roots.set(pem.replace(/\s+/g, ''), pem);
    // Flattened once (a join of many PEMs is a tree of concatenations until first read).
    const pem = flat([...roots.values()].map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join(''));
    state.bundle = { cas, pem };
    return pem;
  }

  /** A server certificate for a Gateway Route host (SPEC §1 Route), see server-certificates.ts. */
  issuedServerCertificate(mesh: string, host: string): IssuedServerCertificate | undefined {
    return this.serverCertificates.get(mesh, host);
  }

  /** Whether the certificate of `issuedServerCertificate(mesh, host)` is still on its way. */
  issuedServerCertificatePending(mesh: string, host: string): boolean {
    return this.serverCertificates.pending(mesh, host);
  }

  /** The certificate served for a Gateway Route host, without its key; never starts an issuance (admin API reads). */
  serverCertificateOf(mesh: string, host: string): { readonly certPem: string; readonly notAfter: Date } | undefined {
    return this.serverCertificates.peek(mesh, host);
  }

  /**
   * Where the mesh's CA stands, for the admin API's overview: the issuing CA, a new one trusted
   * but not issuing yet (switch step 1), the old ones still trusted (step 2), and whether a CA is
   * being initialized or failed. No key material.
   */
  caState(mesh: string): MeshCaState {
    const state = this.meshes.get(mesh);
    const about = (ca: MeshCa): CaAbout => ({ backend: ca.backend, type: ca.type, notAfter: ca.notAfter });
    return {
      ...(state?.backend ? { enabledBackend: state.backend.name } : {}),
      ...(state?.ca ? { issuing: about(state.ca) } : {}),
      ...(state?.pending ? { pending: { ...about(state.pending.ca), since: state.pending.since } } : {}),
      retiring: (state?.retiring ?? []).map(about),
      initializing: state?.initializing !== undefined,
      ...(state?.caError !== undefined ? { error: state.caError } : {}),
    };
  }

  /** For `inspect`: every proxy that has connected since the control plane started. */
  listStatus(mesh?: string): IdentityStatus[] {
    return this.statuses.list(mesh);
  }

  getStatus(mesh: string, name: string): IdentityStatus | undefined {
    return this.statuses.get(mesh, name);
  }

  /** Whether a CA switch is in progress in the mesh (two CAs trusted). */
  switching(mesh: string): boolean {
    const state = this.meshes.get(mesh);
    return state !== undefined && (state.pending !== undefined || state.retiring.length > 0);
  }

  /** The initialized builtin CAs of the current Meshes (their Secrets for `get secrets`). */
  builtinCas(): MeshCa[] {
    return this.options.cas.builtinCas().filter((ca) => {
      if (ca.backend === GATEWAY_CA_BACKEND.name) return this.index.meshes.has(ca.mesh) || this.meshes.has(ca.mesh);
      return this.index.meshes.get(ca.mesh)?.mtls?.backends.some((b) => b.type === 'builtin' && b.name === ca.backend) ?? false;
    });
  }

  close(): void {
    this.closed = true;
    this.deliverySubscription.unsubscribe();
    this.serverCertificates.close();
    for (const mesh of this.meshes.values()) {
      mesh.pending?.cancelTimeout();
      mesh.settling?.();
    }
    for (const members of this.proxies.values()) {
      for (const proxy of members.values()) {
        proxy.cancelTimer?.();
        proxy.issueSeq++;
      }
    }
  }

  private meshState(name: string): MeshState {
    let state = this.meshes.get(name);
    if (!state) {
      state = { name, retiring: [] };
      this.meshes.set(name, state);
    }
    return state;
  }

  /** Kuma provisions every builtin backend when the Mesh appears, so its Secrets can be listed (and backed up) before it is enabled. */
  private initializeBuiltinBackends(names: Iterable<string>): void {
    for (const name of names) {
      const mesh = this.index.meshes.get(name);
      if (!mesh) continue;
      const resources = this.set.resourcesOf(mesh.name);
      for (const backend of mesh.mtls?.backends ?? []) {
        if (backend.type !== 'builtin') continue;
        const key = this.options.cas.keyOf(mesh.name, backend, resources);
        if (typeof key === 'string' && this.options.cas.get(key)) continue;
        this.options.cas.ensure(mesh.name, backend, resources).catch((err: unknown) => {
          this.log.error({ mesh: mesh.name, backend: backend.name, err: message(err) }, 'cannot initialize the builtin CA');
        });
      }
    }
  }

  private reconcileMesh(state: MeshState): void {
    const enabled = enabledBackend(this.index, state.name);
    const wasEnabled = state.backend !== undefined;
    state.backend = enabled;
    if (!enabled) {
      if (wasEnabled || state.ca) this.log.info({ mesh: state.name }, 'mTLS disabled: workload certificates are no longer issued');
      this.caSwitch.cancelPending(state);
      this.caSwitch.cancelSettling(state);
      state.ca = undefined;
      state.caKey = undefined;
      state.initializing = undefined;
      state.caError = undefined;
      state.retiring = [];
      return;
    }
    const key = this.options.cas.keyOf(state.name, enabled, this.set.resourcesOf(state.name));
    if (key instanceof Error) {
      // Validation rejects such a change before it gets here; keep issuing from the last good CA.
      state.caError = key.message;
      this.log.error({ mesh: state.name, backend: enabled.name, err: key.message }, 'cannot resolve the mesh CA; keeping the current one');
      return;
    }
    if (state.caKey === key) {
      // Switched back before the new CA issued anything: its root is no longer needed.
      if (state.pending && this.caSwitch.cancelPending(state)) this.bumpMesh(state.name);
      state.initializing = undefined;
      return;
    }
    if (state.initializing === key || state.pending?.key === key) return;
    state.initializing = key;
    this.options.cas.ensure(state.name, enabled, this.set.resourcesOf(state.name)).then(
      (ca) => this.activate(state, key, ca),
      (err: unknown) => {
        if (state.initializing !== key) return;
        state.initializing = undefined;
        state.caError = message(err);
        this.log.error({ mesh: state.name, backend: enabled.name, err: message(err) }, 'cannot initialize the mesh CA');
        // Waiting proxies get their config without a certificate (generation fails closed).
        for (const proxy of this.proxiesOf(state.name)) this.reconcileProxy(proxy);
      },
    );
  }

  private activate(state: MeshState, key: string, ca: MeshCa): void {
    if (this.closed || state.initializing !== key) return;
    state.initializing = undefined;
    state.caError = undefined;
    const previous = state.ca;
    if (previous !== undefined && previous.id !== ca.id) {
      this.caSwitch.startSwitch(state, key, ca, previous);
      return;
    }
    this.caSwitch.cancelPending(state);
    state.ca = ca;
    state.caKey = key;
    state.retiring = state.retiring.filter((r) => r.id !== ca.id);
    this.log.info({ mesh: state.name, backend: ca.backend, type: ca.type }, 'mesh CA ready');
    this.bumpMesh(state.name);
    for (const proxy of this.proxiesOf(state.name)) {
      if (proxy.spiffeIds === undefined) this.reconcileProxy(proxy);
      else if (!proxy.identity || proxy.identity.caId !== ca.id) this.issuance.issue(proxy);
    }
    this.caSwitch.checkRetirement(state);
  }

  private desiredSpiffeIds(proxy: ProxyState): readonly string[] | undefined {
    if (!this.meshes.get(proxy.mesh)?.backend) return undefined;
    return spiffeIdsOf(this.index, proxy.mesh, proxy.name);
  }

  private reconcileProxy(proxy: ProxyState): void {
    if (proxy.subscribers === 0 || this.closed) return;
    const wanted = this.desiredSpiffeIds(proxy);
    const status = this.status(proxy);
    if (wanted === undefined) {
      const had = proxy.identity !== undefined || proxy.spiffeIds !== undefined;
      this.issuance.drop(proxy);
      proxy.spiffeIds = undefined;
      status.spiffeIds = [];
      if (had || !proxy.ready) this.publish(proxy);
      return;
    }
    const changed = !sameList(proxy.spiffeIds, wanted);
    proxy.spiffeIds = wanted;
    status.spiffeIds = wanted;
    const mesh = this.meshState(proxy.mesh);
    if (!mesh.ca) {
      // While the CA is being prepared the proxy waits; if it cannot be, it gets its config without a certificate.
      if (mesh.initializing === undefined && !proxy.ready) this.publish(proxy);
      return;
    }
    if (changed || (!proxy.identity && !proxy.issuing)) this.issuance.issue(proxy);
    else this.issuance.followLifetime(proxy);
  }

  private forget(proxy: ProxyState): void {
    this.issuance.drop(proxy);
    const members = this.proxies.get(proxy.mesh);
    members?.delete(proxy.name);
    if (members?.size === 0) this.proxies.delete(proxy.mesh);
    const key = `${proxy.mesh}/${proxy.name}`;
    this.statuses.disconnected(proxy.mesh, proxy.name, this.index.dataplanes.has(key) || this.index.gateways.has(key));
    const mesh = this.meshes.get(proxy.mesh);
    if (mesh) this.caSwitch.checkSwitch(mesh);
  }

  private publish(proxy: ProxyState): void {
    proxy.ready = true;
    const version = ++proxy.version;
    const watchers = proxy.watchers;
    // A watcher may subscribe or unsubscribe while being told: tell those present now.
    if (!Array.isArray(watchers)) watchers.next(version);
    else if (watchers.length === 1) watchers[0]!.next(version);
    else for (const watcher of [...watchers]) watcher.next(version);
  }

  private bumpMesh(mesh: string): void {
    for (const proxy of this.proxiesOf(mesh)) if (proxy.ready) this.publish(proxy);
  }

  /**
   * The connected proxies of `mesh`, from a per-mesh index: called per issuance and per SDS ACK
   * during a CA switch, a scan of every proxy of every mesh each time was quadratic.
   */
  private proxiesOf(mesh: string): ProxyState[] {
    const members = this.proxies.get(mesh);
    return members ? [...members.values()].filter((p) => p.subscribers > 0) : [];
  }

  private proxy(mesh: string, name: string): ProxyState | undefined {
    return this.proxies.get(mesh)?.get(name);
  }

  private status(proxy: ProxyState): MutableStatus {
    return this.statuses.of(proxy);
  }

  /** The CA for gateway server certificates: the enabled backend, or the mesh's implicit gateway CA. */
  private serverCertificateCa(mesh: string): { ca: MeshCa; validitySeconds: number } | 'pending' | undefined {
    const state = this.meshes.get(mesh);
    if (state?.backend) {
      if (state.ca) return { ca: state.ca, validitySeconds: validitySecondsOf(state.backend.dpCert.rotation.expirationSeconds) };
      // reconcileMesh is initializing the enabled backend's CA: issuance waits for it. A CA that
      // failed to initialize is not pending (its hosts fail closed rather than holding the config).
      return state.caError === undefined ? 'pending' : undefined;
    }
    const key = this.options.cas.keyOf(mesh, GATEWAY_CA_BACKEND, this.set.resourcesOf(mesh));
    if (key instanceof Error) return undefined;
    const ca = this.options.cas.get(key);
    if (ca) return { ca, validitySeconds: GATEWAY_CA_BACKEND.dpCert.rotation.expirationSeconds };
    this.options.cas.ensure(mesh, GATEWAY_CA_BACKEND, this.set.resourcesOf(mesh)).then(
      () => this.bumpMesh(mesh),
      (err: unknown) => this.log.error({ mesh, err: message(err) }, 'cannot initialize the gateway CA'),
    );
    return 'pending';
  }
}

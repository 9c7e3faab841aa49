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
 *   `listen` tells each tick with the dependency keys it stands for (identity-keys.ts).
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
import { meshOf, ResourceSet, type ResourceChange } from '../api/resource-set.js';
import type { Resource } from '../api/types.js';
import type { DependencyKey } from '../change/keys.js';
import type { IssuedServerCertificate, MeshTlsMaterial } from '../ca/workload-identity.js';
import type { MeshCaRegistry } from '../ca/providers/registry.js';
import type { IssuedIdentity, MeshCa } from '../ca/providers/types.js';
import { CaSwitch } from './ca-switch.js';
import { certificateKey, serverCertificateKey } from './identity-keys.js';
import { WorkloadIssuance } from './issuance.js';
import { MeshCas } from './mesh-cas.js';
import { ConnectedProxies } from './proxies.js';
import { indexResources, spiffeIdsOf, type MutableResourceIndex } from './resource-index.js';
import { IssuedServerCertificates } from './server-certificates.js';
import { IdentityStatuses } from './statuses.js';
import { sameList, type MutableStatus, type ProxyState, type VersionListener } from './state.js';
import { systemClock, systemScheduler, type Clock, type Scheduler } from './time.js';
import { IMMEDIATE_DELIVERY, type IdentityLogger, type IdentityStatus, type MaterialDelivery, type MeshCaState, type ProxyRef } from './types.js';

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

const NO_KEYS: readonly DependencyKey[] = Object.freeze([]);

export class IdentityManager implements MeshTlsMaterial {
  private readonly log: IdentityLogger;
  private readonly meshes: MeshCas;
  private readonly proxies = new ConnectedProxies();
  private readonly statuses = new IdentityStatuses();
  private readonly serverCertificates: IssuedServerCertificates;
  private readonly deliverySubscription: Subscription;
  private readonly caSwitch: CaSwitch;
  private readonly issuance: WorkloadIssuance;
  private set: ResourceSet = ResourceSet.EMPTY;
  private index: MutableResourceIndex = indexResources([]);
  private closed = false;

  constructor(private readonly options: IdentityManagerOptions) {
    const clock = options.clock ?? systemClock;
    const scheduler = options.scheduler ?? systemScheduler;
    const random = options.random ?? Math.random;
    const switchWindowMs = options.switchWindowMs ?? 2000;
    const delivery = options.delivery ?? IMMEDIATE_DELIVERY;
    this.log = options.log;
    // The parts read `closed` and `index` as they change (after close() their timers do nothing).
    const manager = this;
    const publishMesh = (mesh: string, keys: readonly DependencyKey[]): void => this.proxies.publishMesh(mesh, keys);
    this.caSwitch = new CaSwitch(
      {
        get closed() {
          return manager.closed;
        },
        proxiesOf: (mesh) => this.proxies.of(mesh),
        publishMesh,
        issue: (proxy) => this.issuance.issue(proxy),
        scheduleIssue: (proxy, delayMs) => this.issuance.schedule(proxy, delayMs),
      },
      { clock, scheduler, random, switchWindowMs, bundleTimeoutMs: options.bundleTimeoutMs ?? 10_000, settleMs: options.settleMs ?? 2000, delivery, log: this.log },
    );
    this.meshes = new MeshCas(options.cas, this.log, {
      get closed() {
        return manager.closed;
      },
      get index() {
        return manager.index;
      },
      resourcesOf: (mesh) => this.set.resourcesOf(mesh),
      proxiesOf: (mesh) => this.proxies.of(mesh),
      publishMesh,
      reconcileProxy: (proxy, keys) => this.reconcileProxy(proxy, keys),
      issue: (proxy) => this.issuance.issue(proxy),
      caSwitch: this.caSwitch,
    });
    this.issuance = new WorkloadIssuance({
      cas: options.cas,
      log: this.log,
      clock,
      scheduler,
      random,
      switchWindowMs,
      retryDelayMs: options.retryDelayMs ?? 5000,
      closed: () => this.closed,
      mesh: (name) => this.meshes.get(name),
      status: (proxy) => this.status(proxy),
      publish: (proxy) => this.proxies.publish(proxy, [certificateKey(proxy.mesh, proxy.name)]),
      issued: (mesh) => this.caSwitch.checkRetirement(mesh),
    });
    this.serverCertificates = new IssuedServerCertificates({
      issuer: { caFor: (mesh) => this.meshes.serverCertificateCa(mesh) },
      clock,
      scheduler,
      random,
      log: this.log,
      changed: (mesh, host) => publishMesh(mesh, [serverCertificateKey(mesh, host)]),
    });
    this.deliverySubscription = delivery.changes.subscribe(() => {
      // Only a mesh in the middle of a CA switch waits for deliveries.
      for (const mesh of this.meshes.all()) if (mesh.pending || mesh.retiring.length > 0) this.caSwitch.checkSwitch(mesh);
    });
  }

  get cas(): MeshCaRegistry {
    return this.options.cas;
  }

  /**
   * Takes each change of the (validated) resource set: Mesh mTLS policies, Dataplanes and Gateways.
   * A change looks only at what it touches: the meshes whose Mesh or Secrets it puts or
   * deletes (their CA, and every proxy of theirs), and the proxies whose Dataplane or Gateway it
   * puts or deletes. A reset (the first set) looks at everything.
   */
  update(change: ResourceChange): void {
    if (this.closed) return;
    this.set = change.set;
    if (change.reset) {
      this.index = indexResources(change.set.list());
      this.meshes.initializeBuiltinBackends(this.index.meshes.keys());
      const keys = new Map<string, readonly DependencyKey[]>();
      for (const name of new Set([...this.index.meshes.keys(), ...this.meshes.names()])) keys.set(name, this.meshes.reconcile(this.meshes.state(name)));
      for (const proxy of this.proxies.all()) this.reconcileProxy(proxy, keys.get(proxy.mesh));
      return;
    }
    const meshes = new Set<string>();
    const proxies = new Set<ProxyState>();
    const look = (r: Resource): void => {
      if (r.type === 'Mesh' || r.type === 'Secret') meshes.add(meshOf(r));
      else if (r.type === 'Dataplane' || r.type === 'Gateway') {
        const proxy = this.proxies.get(r.mesh, r.name);
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
    this.meshes.initializeBuiltinBackends([...meshes].filter((m) => this.index.meshes.has(m)));
    const keys = new Map<string, readonly DependencyKey[]>();
    for (const name of meshes) keys.set(name, this.meshes.reconcile(this.meshes.state(name)));
    for (const name of meshes) for (const proxy of this.proxies.of(name)) this.reconcileProxy(proxy, keys.get(name));
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
   * `watch` without an Observable: `listener` is told each version, with the dependency keys it
   * stands for, until the returned function is called (the runtime's per-proxy path; no rxjs
   * subscription per proxy).
   */
  listen(ref: ProxyRef, listener: VersionListener): () => void {
    const proxy = this.proxies.add(ref, listener);
    let stopped = false;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      if (this.proxies.remove(proxy, listener)) this.forget(proxy);
    };
    // As a BehaviorSubject would: the current version first (if any), then every new one.
    if (proxy.version >= 0) listener.next(proxy.version);
    if (proxy.subscribers === 1 && !(listener.closed ?? false)) {
      this.status(proxy).connected = true;
      this.reconcileProxy(proxy);
    }
    return stop;
  }

  identity(mesh: string, proxyName: string): IssuedIdentity | undefined {
    const proxy = this.proxies.get(mesh, proxyName);
    return proxy?.spiffeIds !== undefined ? proxy.identity : undefined;
  }

  /** Asked once per generated proxy config; one string per mesh and set of CAs (mesh-cas.ts). */
  trustBundle(mesh: string): string | undefined {
    return this.meshes.trustBundle(mesh);
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
    return this.meshes.caState(mesh);
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
    return this.meshes.switching(mesh);
  }

  /** The initialized builtin CAs of the current Meshes (their Secrets for `get secrets`). */
  builtinCas(): MeshCa[] {
    return this.meshes.builtinCas();
  }

  close(): void {
    this.closed = true;
    this.deliverySubscription.unsubscribe();
    this.serverCertificates.close();
    for (const mesh of this.meshes.all()) {
      mesh.pending?.cancelTimeout();
      mesh.settling?.();
    }
    for (const proxy of this.proxies.all()) {
      proxy.cancelTimer?.();
      proxy.issueSeq++;
    }
  }

  /**
   * Looks at the proxy's SPIFFE IDs and certificate. A version it publishes stands for the
   * proxy's certificate key, plus `meshKeys` (what its mesh's reconciliation changed at once).
   */
  private reconcileProxy(proxy: ProxyState, meshKeys: readonly DependencyKey[] = NO_KEYS): void {
    if (proxy.subscribers === 0 || this.closed) return;
    const wanted = this.meshes.get(proxy.mesh)?.backend ? spiffeIdsOf(this.index, proxy.mesh, proxy.name) : undefined;
    const status = this.status(proxy);
    const publish = (): void => this.proxies.publish(proxy, [certificateKey(proxy.mesh, proxy.name), ...meshKeys]);
    if (wanted === undefined) {
      const had = proxy.identity !== undefined || proxy.spiffeIds !== undefined;
      this.issuance.drop(proxy);
      proxy.spiffeIds = undefined;
      status.spiffeIds = [];
      if (had || !proxy.ready) publish();
      return;
    }
    const changed = !sameList(proxy.spiffeIds, wanted);
    proxy.spiffeIds = wanted;
    status.spiffeIds = wanted;
    const mesh = this.meshes.state(proxy.mesh);
    if (!mesh.ca) {
      // While the CA is being prepared the proxy waits; if it cannot be, it gets its config without a certificate.
      if (mesh.initializing === undefined && !proxy.ready) publish();
      return;
    }
    if (changed || (!proxy.identity && !proxy.issuing)) this.issuance.issue(proxy);
    else this.issuance.followLifetime(proxy);
  }

  private forget(proxy: ProxyState): void {
    this.issuance.drop(proxy);
    this.proxies.delete(proxy);
    const key = `${proxy.mesh}/${proxy.name}`;
    this.statuses.disconnected(proxy.mesh, proxy.name, this.index.dataplanes.has(key) || this.index.gateways.has(key));
    const mesh = this.meshes.get(proxy.mesh);
    if (mesh) this.caSwitch.checkSwitch(mesh);
  }

  private status(proxy: ProxyState): MutableStatus {
    return this.statuses.of(proxy);
  }
}

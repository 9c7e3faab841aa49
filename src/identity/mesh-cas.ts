/**
 * The CA of each mesh, for the identity manager (manager.ts): which backend is enabled, its CA
 * initialized (or failed), a CA switch started when the material changes (ca-switch.ts), the trust
 * bundle built from the CAs in use, and the CA that signs gateway server certificates.
 *
 * What changes the mesh's material for every proxy is published to the mesh's ready proxies with
 * the keys it stands for (identity-keys.ts); what a proxy's own certificate does is the manager's.
 */
import type { Resource } from '../api/types.js';
import type { DependencyKey } from '../change/keys.js';
import { GATEWAY_CA_BACKEND, type MeshCaRegistry } from '../ca/providers/registry.js';
import type { MeshCa } from '../ca/providers/types.js';
import type { CaSwitch } from './ca-switch.js';
import { bundleChangeKeys, caPhaseKey } from './identity-keys.js';
import { enabledBackend, type ResourceIndex } from './resource-index.js';
import { validitySecondsOf } from './rotation.js';
import { message, type MeshState, type ProxyState } from './state.js';
import type { CaAbout, IdentityLogger, MeshCaState } from './types.js';

/** What the mesh CAs need from the identity manager. */
export interface MeshCasHost {
  readonly closed: boolean;
  readonly index: ResourceIndex;
  resourcesOf(mesh: string): readonly Resource[];
  /** Connected proxies of the mesh. */
  proxiesOf(mesh: string): ProxyState[];
  /** Publishes a change of the mesh's material, standing for `keys`, to every ready proxy of the mesh. */
  publishMesh(mesh: string, keys: readonly DependencyKey[]): void;
  /** Looks at the proxy again (its SPIFFE IDs, its certificate), telling it `keys` if it publishes. */
  reconcileProxy(proxy: ProxyState, keys?: readonly DependencyKey[]): void;
  issue(proxy: ProxyState): void;
  readonly caSwitch: CaSwitch;
}

/** `s` as one sequential string: reading it once makes V8 flatten it in place. */
function flat(s: string): string {
  void s.charCodeAt(0);
  return s;
}

export class MeshCas {
  private readonly meshes = new Map<string, MeshState>();

  constructor(
    private readonly cas: MeshCaRegistry,
    private readonly log: IdentityLogger,
    private readonly host: MeshCasHost,
  ) {}

  get(name: string): MeshState | undefined {
    return this.meshes.get(name);
  }

  has(name: string): boolean {
    return this.meshes.has(name);
  }

  names(): IterableIterator<string> {
    return this.meshes.keys();
  }

  all(): IterableIterator<MeshState> {
    return this.meshes.values();
  }

  state(name: string): MeshState {
    let state = this.meshes.get(name);
    if (!state) {
      state = { name, retiring: [] };
      this.meshes.set(name, state);
    }
    return state;
  }

  /** Kuma provisions every builtin backend when the Mesh appears, so its Secrets can be listed (and backed up) before it is enabled. */
  initializeBuiltinBackends(names: Iterable<string>): void {
    for (const name of names) {
      const mesh = this.host.index.meshes.get(name);
      if (!mesh) continue;
      const resources = this.host.resourcesOf(mesh.name);
      for (const backend of mesh.mtls?.backends ?? []) {
        if (backend.type !== 'builtin') continue;
        const key = this.cas.keyOf(mesh.name, backend, resources);
        if (typeof key === 'string' && this.cas.get(key)) continue;
        this.cas.ensure(mesh.name, backend, resources).catch((err: unknown) => {
          this.log.error({ mesh: mesh.name, backend: backend.name, err: message(err) }, 'cannot initialize the builtin CA');
        });
      }
    }
  }

  /**
   * Follows the mesh's enabled backend. Returns the keys of what it changed at once for every
   * proxy of the mesh (mTLS disabled: every CA of the mesh leaves the bundle), for the proxies'
   * own reconciliation to carry; what it starts (a CA initialized, a switch) publishes later.
   */
  reconcile(state: MeshState): readonly DependencyKey[] {
    const enabled = enabledBackend(this.host.index, state.name);
    const wasEnabled = state.backend !== undefined;
    state.backend = enabled;
    if (!enabled) {
      if (wasEnabled || state.ca) this.log.info({ mesh: state.name }, 'mTLS disabled: workload certificates are no longer issued');
      const dropped = [...(state.ca ? [state.ca] : []), ...(state.pending ? [state.pending.ca] : []), ...state.retiring];
      this.host.caSwitch.cancelPending(state);
      this.host.caSwitch.cancelSettling(state);
      state.ca = undefined;
      state.caKey = undefined;
      state.initializing = undefined;
      state.caError = undefined;
      state.retiring = [];
      return bundleChangeKeys(state.name, dropped.map((ca) => ca.backend));
    }
    const key = this.cas.keyOf(state.name, enabled, this.host.resourcesOf(state.name));
    if (key instanceof Error) {
      // Validation rejects such a change before it gets here; keep issuing from the last good CA.
      state.caError = key.message;
      this.log.error({ mesh: state.name, backend: enabled.name, err: key.message }, 'cannot resolve the mesh CA; keeping the current one');
      return [];
    }
    if (state.caKey === key) {
      // Switched back before the new CA issued anything: its root is no longer needed.
      const pending = state.pending;
      if (pending && this.host.caSwitch.cancelPending(state)) this.host.publishMesh(state.name, bundleChangeKeys(state.name, [pending.ca.backend]));
      state.initializing = undefined;
      return [];
    }
    if (state.initializing === key || state.pending?.key === key) return [];
    state.initializing = key;
    this.cas.ensure(state.name, enabled, this.host.resourcesOf(state.name)).then(
      (ca) => this.activate(state, key, ca),
      (err: unknown) => {
        if (state.initializing !== key) return;
        state.initializing = undefined;
        state.caError = message(err);
        this.log.error({ mesh: state.name, backend: enabled.name, err: message(err) }, 'cannot initialize the mesh CA');
        // Waiting proxies get their config without a certificate (generation fails closed).
        const keys = [caPhaseKey(state.name, enabled.name)];
        for (const proxy of this.host.proxiesOf(state.name)) this.host.reconcileProxy(proxy, keys);
      },
    );
    return [];
  }

  private activate(state: MeshState, key: string, ca: MeshCa): void {
    if (this.host.closed || state.initializing !== key) return;
    state.initializing = undefined;
    state.caError = undefined;
    const previous = state.ca;
    if (previous !== undefined && previous.id !== ca.id) {
      this.host.caSwitch.startSwitch(state, key, ca, previous);
      return;
    }
    this.host.caSwitch.cancelPending(state);
    state.ca = ca;
    state.caKey = key;
    state.retiring = state.retiring.filter((r) => r.id !== ca.id);
    this.log.info({ mesh: state.name, backend: ca.backend, type: ca.type }, 'mesh CA ready');
    // A first CA brings its roots into the bundle; the same material under another key changes only the phase.
    this.host.publishMesh(state.name, previous === undefined ? bundleChangeKeys(state.name, [ca.backend]) : [caPhaseKey(state.name, ca.backend)]);
    for (const proxy of this.host.proxiesOf(state.name)) {
      if (proxy.spiffeIds === undefined) this.host.reconcileProxy(proxy);
      else if (!proxy.identity || proxy.identity.caId !== ca.id) this.host.issue(proxy);
    }
    this.host.caSwitch.checkRetirement(state);
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
    for (const ca of cas) for (const pem of this.cas.trustRoots(ca)) roots.set(pem.replace(/\s+/g, ''), pem);
    // Flattened once (a join of many PEMs is a tree of concatenations until first read).
    const pem = flat([...roots.values()].map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join(''));
    state.bundle = { cas, pem };
    return pem;
  }

  /** See IdentityManager.caState. */
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

  /** Whether a CA switch is in progress in the mesh (two CAs trusted). */
  switching(mesh: string): boolean {
    const state = this.meshes.get(mesh);
    return state !== undefined && (state.pending !== undefined || state.retiring.length > 0);
  }

  /** The initialized builtin CAs of the current Meshes (their Secrets for `get secrets`). */
  builtinCas(): MeshCa[] {
    const index = this.host.index;
    return this.cas.builtinCas().filter((ca) => {
      if (ca.backend === GATEWAY_CA_BACKEND.name) return index.meshes.has(ca.mesh) || this.meshes.has(ca.mesh);
      return index.meshes.get(ca.mesh)?.mtls?.backends.some((b) => b.type === 'builtin' && b.name === ca.backend) ?? false;
    });
  }

  /** The CA for gateway server certificates: the enabled backend, or the mesh's implicit gateway CA. */
  serverCertificateCa(mesh: string): { ca: MeshCa; validitySeconds: number } | 'pending' | undefined {
    const state = this.meshes.get(mesh);
    if (state?.backend) {
      if (state.ca) return { ca: state.ca, validitySeconds: validitySecondsOf(state.backend.dpCert.rotation.expirationSeconds) };
      // reconcile() is initializing the enabled backend's CA: issuance waits for it. A CA that
      // failed to initialize is not pending (its hosts fail closed rather than holding the config).
      return state.caError === undefined ? 'pending' : undefined;
    }
    const resources = this.host.resourcesOf(mesh);
    const key = this.cas.keyOf(mesh, GATEWAY_CA_BACKEND, resources);
    if (key instanceof Error) return undefined;
    const ca = this.cas.get(key);
    if (ca) return { ca, validitySeconds: GATEWAY_CA_BACKEND.dpCert.rotation.expirationSeconds };
    this.cas.ensure(mesh, GATEWAY_CA_BACKEND, resources).then(
      () => this.host.publishMesh(mesh, [caPhaseKey(mesh, GATEWAY_CA_BACKEND.name)]),
      (err: unknown) => this.log.error({ mesh, err: message(err) }, 'cannot initialize the gateway CA'),
    );
    return 'pending';
  }
}

/**
 * The CA switch of a mesh (SPEC §1 Mesh, "Changing enabledBackend"; the steps are described in
 * manager.ts): trust both CAs until every proxy has the grown bundle, then issue from the new CA
 * spread over the switch window, then drop the old roots once every proxy holds and has received a
 * new-CA certificate. Split out of the identity manager, which keeps issuance and the
 * proxies; it reaches them through `CaSwitchHost`.
 */
import type { DependencyKey } from '../change/keys.js';
import type { MeshCa } from '../ca/providers/types.js';
import { bundleChangeKeys } from './identity-keys.js';
import { msAt, type MeshState, type PendingSwitch, type ProxyState } from './state.js';
import type { Clock, Scheduler } from './time.js';
import type { IdentityLogger, MaterialDelivery } from './types.js';

/** What the switch needs from the identity manager. */
export interface CaSwitchHost {
  readonly closed: boolean;
  /** Connected proxies of the mesh. */
  proxiesOf(mesh: string): ProxyState[];
  /** Publishes the mesh's material again to every ready proxy (a trust bundle change), standing for `keys`. */
  publishMesh(mesh: string, keys: readonly DependencyKey[]): void;
  issue(proxy: ProxyState): void;
  scheduleIssue(proxy: ProxyState, delayMs: number): void;
}

export interface CaSwitchTiming {
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly random: () => number;
  readonly switchWindowMs: number;
  readonly bundleTimeoutMs: number;
  readonly settleMs: number;
  readonly delivery: MaterialDelivery;
  readonly log: IdentityLogger;
}

export class CaSwitch {
  private readonly clock: Clock;
  private readonly scheduler: Scheduler;
  private readonly random: () => number;
  private readonly switchWindowMs: number;
  private readonly bundleTimeoutMs: number;
  private readonly settleMs: number;
  private readonly delivery: MaterialDelivery;
  private readonly log: IdentityLogger;

  constructor(
    private readonly host: CaSwitchHost,
    timing: CaSwitchTiming,
  ) {
    this.clock = timing.clock;
    this.scheduler = timing.scheduler;
    this.random = timing.random;
    this.switchWindowMs = timing.switchWindowMs;
    this.bundleTimeoutMs = timing.bundleTimeoutMs;
    this.settleMs = timing.settleMs;
    this.delivery = timing.delivery;
    this.log = timing.log;
  }

  cancelSettling(state: MeshState): void {
    state.settling?.();
    state.settling = undefined;
  }

  cancelPending(state: MeshState): boolean {
    const pending = state.pending;
    if (!pending) return false;
    pending.cancelTimeout();
    state.pending = undefined;
    return true;
  }

  /** Step 1: trust old and new, keep issuing from the old CA until every proxy has the bundle. */
  startSwitch(state: MeshState, key: string, ca: MeshCa, previous: MeshCa): void {
    this.cancelPending(state);
    this.cancelSettling(state);
    const since = this.clock.now();
    const cancelTimeout = this.scheduler.schedule(this.bundleTimeoutMs, () => {
      if (state.pending !== pending) return;
      this.log.warn({ mesh: state.name, waitedMs: this.bundleTimeoutMs }, 'CA switch: not every proxy confirmed the new trust bundle in time; issuing from the new CA anyway');
      this.promote(state, pending);
    });
    const pending: PendingSwitch = { ca, key, since, cancelTimeout };
    state.pending = pending;
    this.log.info(
      { mesh: state.name, from: previous.backend, to: ca.backend, spreadMs: this.switchWindowMs },
      'CA switch: proxies trust both CAs until every one holds a certificate from the new CA',
    );
    this.host.publishMesh(state.name, bundleChangeKeys(state.name, [ca.backend]));
    this.checkSwitch(state);
  }

  /** Step 2: the new CA issues; connected proxies are re-issued spread over the switch window. */
  private promote(state: MeshState, pending: PendingSwitch): void {
    if (state.pending !== pending || this.host.closed) return;
    this.cancelPending(state);
    const previous = state.ca;
    state.ca = pending.ca;
    state.caKey = pending.key;
    if (previous && previous.id !== pending.ca.id && !state.retiring.some((r) => r.id === previous.id)) state.retiring.push(previous);
    state.retiring = state.retiring.filter((r) => r.id !== pending.ca.id);
    for (const proxy of this.host.proxiesOf(state.name)) {
      if (proxy.spiffeIds === undefined) continue;
      if (!proxy.identity) this.host.issue(proxy);
      else if (proxy.identity.caId !== pending.ca.id || proxy.issuing) this.host.scheduleIssue(proxy, this.random() * this.switchWindowMs);
    }
    this.checkRetirement(state);
  }

  checkSwitch(state: MeshState): void {
    const pending = state.pending;
    if (pending) {
      const waiting = this.host.proxiesOf(state.name).some((p) => p.ready && !this.delivery.delivered(state.name, p.name, pending.since));
      if (!waiting) this.settle(state, () => this.promote(state, pending));
      return;
    }
    this.checkRetirement(state);
  }

  /** Runs `step` after `settleMs`, once per mesh at a time; the step re-checks its own conditions. */
  private settle(state: MeshState, step: () => void): void {
    if (this.settleMs <= 0) {
      step();
      return;
    }
    if (state.settling) return;
    state.settling = this.scheduler.schedule(this.settleMs, () => {
      state.settling = undefined;
      step();
    });
  }

  /** Drops the old roots once every connected proxy of the mesh holds (and has received) a certificate from the new CA. */
  checkRetirement(mesh: MeshState): void {
    if (this.retirementReady(mesh)) this.settle(mesh, () => this.retire(mesh));
  }

  /** Every connected proxy of the mesh holds (and has received) a certificate from the issuing CA. */
  private retirementReady(mesh: MeshState): boolean {
    if (mesh.retiring.length === 0 || !mesh.ca || mesh.pending) return false;
    for (const proxy of this.host.proxiesOf(mesh.name)) {
      if (proxy.spiffeIds === undefined) continue;
      if (proxy.identity?.caId !== mesh.ca.id || proxy.identityPublishedAt === undefined) return false;
      if (!this.delivery.delivered(mesh.name, proxy.name, new Date(msAt(proxy.identityPublishedAt)))) return false;
    }
    return true;
  }

  /** Step 3: the old roots leave the trust bundle. */
  private retire(mesh: MeshState): void {
    if (this.host.closed || !this.retirementReady(mesh) || !mesh.ca) return;
    const dropped = mesh.retiring.map((ca) => ca.backend);
    mesh.retiring = [];
    this.log.info({ mesh: mesh.name, backend: mesh.ca.backend, dropped }, 'CA switch complete: every proxy holds a certificate from the new CA; old roots dropped from the trust bundle');
    this.host.publishMesh(mesh.name, bundleChangeKeys(mesh.name, dropped));
  }
}

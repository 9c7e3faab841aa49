/**
 * Issuing one proxy's workload certificate (manager.ts): sign it from the mesh's issuing CA,
 * schedule its rotation at 4/5 of its lifetime (or, when the CA switched while it was being
 * signed, within the switch's spread), retry a failed issuance, and tell the manager (`publish`).
 * A newer issuance or a disconnect makes an older one's result void (`issueSeq`).
 */
import type { MeshCaRegistry } from '../ca/providers/registry.js';
import { rotationDelayMs, validitySecondsOf } from './rotation.js';
import { message, msAt, msOffset, type MeshState, type MutableStatus, type ProxyState } from './state.js';
import type { Clock, Scheduler } from './time.js';
import type { IdentityLogger } from './types.js';

export interface IssuanceContext {
  readonly cas: MeshCaRegistry;
  readonly log: IdentityLogger;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly random: () => number;
  readonly switchWindowMs: number;
  readonly retryDelayMs: number;
  readonly closed: () => boolean;
  mesh(name: string): MeshState | undefined;
  status(proxy: ProxyState): MutableStatus;
  /** The proxy's certificate changed (or is settled as none for now): generate its config again. */
  publish(proxy: ProxyState): void;
  /** An issuance completed: a CA switch may now retire the old CA. */
  issued(mesh: MeshState): void;
}

export class WorkloadIssuance {
  private lastNow?: Date;

  constructor(private readonly context: IssuanceContext) {}

  /** Forgets the proxy's identity: no rotation, and an issuance in flight is void. */
  drop(proxy: ProxyState): void {
    proxy.cancelTimer?.();
    proxy.cancelTimer = undefined;
    proxy.issueSeq++;
    proxy.issuing = false;
    proxy.identity = undefined;
  }

  /** Issues again after `delayMs` (rotation, retry, a CA switch's spread). */
  schedule(proxy: ProxyState, delayMs: number): void {
    const { clock, scheduler } = this.context;
    proxy.cancelTimer?.();
    const status = this.context.status(proxy);
    status.nextRotationAt = msOffset(clock.now().getTime() + delayMs);
    proxy.cancelTimer = scheduler.schedule(delayMs, () => {
      proxy.cancelTimer = undefined;
      if (proxy.subscribers > 0 && !this.context.closed()) this.issue(proxy);
    });
  }

  /**
   * After the mesh's `dpCert.rotation.expiration` changed: a live certificate issued for longer
   * than the mesh now asks for is rotated when one of the new lifetime would be (4/5 of it after
   * issuance, with the usual jitter), not at 4/5 of its own; one already past that point is
   * rotated within the CA switch's spread, so a fleet does not come back to the CA at once. A
   * longer lifetime waits for the rotation already scheduled.
   */
  followLifetime(proxy: ProxyState): void {
    const { clock, random, switchWindowMs } = this.context;
    const identity = proxy.identity;
    const backend = this.context.mesh(proxy.mesh)?.backend;
    if (!identity || !backend || proxy.issuing) return;
    const wantedMs = validitySecondsOf(backend.dpCert.rotation.expirationSeconds) * 1000;
    const issuedAt = identity.issuedAt.getTime();
    // Issued at most a second short of the validity asked for (X.509 times are whole seconds).
    if (identity.notAfter.getTime() - issuedAt <= wantedMs) return;
    const now = clock.now().getTime();
    const due = issuedAt + rotationDelayMs(identity.issuedAt, new Date(issuedAt + wantedMs), random);
    const scheduled = this.context.status(proxy).nextRotationAt;
    // Already due by then (overdue: already within the spread): leave it.
    const latest = due > now ? due : now + switchWindowMs;
    if (scheduled !== undefined && msAt(scheduled) <= latest) return;
    this.schedule(proxy, due > now ? due - now : random() * switchWindowMs);
  }

  issue(proxy: ProxyState): void {
    const context = this.context;
    const mesh = context.mesh(proxy.mesh);
    const ca = mesh?.ca;
    const backend = mesh?.backend;
    const spiffeIds = proxy.spiffeIds;
    if (!ca || !backend || spiffeIds === undefined || context.closed()) return;
    proxy.cancelTimer?.();
    proxy.cancelTimer = undefined;
    const seq = ++proxy.issueSeq;
    proxy.issuing = true;
    const now = this.sharedNow();
    context.cas.issue(ca, { spiffeIds, validitySeconds: validitySecondsOf(backend.dpCert.rotation.expirationSeconds), now }).then(
      (identity) => {
        if (seq !== proxy.issueSeq || proxy.subscribers === 0 || context.closed()) return;
        proxy.issuing = false;
        const previous = proxy.identity;
        proxy.identity = identity;
        const status = context.status(proxy);
        status.backend = identity.backend;
        status.serialHex = identity.serialHex;
        status.regeneratedAt = identity.issuedAt;
        status.expiration = identity.notAfter;
        status.regenerations++;
        status.lastError = undefined;
        if (mesh?.ca && mesh.ca.id !== identity.caId) {
          // The CA switched while this one was being signed: it joins the switch's spread.
          this.schedule(proxy, context.random() * context.switchWindowMs);
        } else {
          const delay = rotationDelayMs(identity.issuedAt, identity.notAfter, context.random);
          this.schedule(proxy, Math.max(0, delay - (context.clock.now().getTime() - identity.issuedAt.getTime())));
        }
        context.log.info(
          {
            mesh: proxy.mesh,
            proxy: proxy.name,
            backend: identity.backend,
            serial: identity.serialHex,
            ...(previous ? { previousSerial: previous.serialHex } : {}),
            spiffeIds: identity.spiffeIds,
            notAfter: identity.notAfter.toISOString(),
          },
          previous ? 'rotated workload certificate' : 'issued workload certificate',
        );
        proxy.identityPublishedAt = msOffset(context.clock.now().getTime());
        context.publish(proxy);
        if (mesh) context.issued(mesh);
      },
      (err: unknown) => {
        if (seq !== proxy.issueSeq || context.closed()) return;
        proxy.issuing = false;
        context.status(proxy).lastError = message(err);
        context.log.error({ mesh: proxy.mesh, proxy: proxy.name, err: message(err), retryInMs: context.retryDelayMs }, 'cannot issue a workload certificate');
        this.schedule(proxy, context.retryDelayMs);
        if (!proxy.ready) context.publish(proxy);
      },
    );
  }

  /**
   * The clock's time, as the same Date object as the last call's when the time has not moved: the
   * issuance time is kept per proxy (identity, status), and proxies issued together share it.
   */
  private sharedNow(): Date {
    const now = this.context.clock.now();
    if (this.lastNow?.getTime() === now.getTime()) return this.lastNow;
    this.lastNow = now;
    return now;
  }
}

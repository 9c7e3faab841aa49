/**
 * What `inspect` and `/metrics` show about each proxy's workload certificate (Kuma's CERT
 * REGENERATED AGO / EXPIRATION / REGENERATIONS), kept after a proxy disconnects. Split out of the
 * identity manager (issue #11).
 */
import type { MutableStatus, ProxyState } from './state.js';
import type { IdentityStatus } from './types.js';

export class IdentityStatuses {
  private readonly byProxy = new Map<string, MutableStatus>();

  /** The record of `proxy`, created on first use. */
  of(proxy: ProxyState): MutableStatus {
    const key = `${proxy.mesh}/${proxy.name}`;
    let status = this.byProxy.get(key);
    if (!status) {
      status = { mesh: proxy.mesh, name: proxy.name, connected: proxy.subscribers > 0, spiffeIds: [], regenerations: 0 };
      this.byProxy.set(key, status);
    }
    return status;
  }

  /** Every proxy that has connected since the control plane started (copies). */
  list(mesh?: string): IdentityStatus[] {
    return [...this.byProxy.values()].filter((s) => mesh === undefined || s.mesh === mesh).map(publicStatus);
  }

  get(mesh: string, name: string): IdentityStatus | undefined {
    const s = this.byProxy.get(`${mesh}/${name}`);
    return s ? publicStatus(s) : undefined;
  }

  /**
   * The proxy `key` (`mesh/name`) has no stream left. A proxy the config does not define
   * (`defined` false: unknown names under --auth none) and that was never issued a certificate
   * leaves nothing behind, or any caller could grow this map (security issue #9).
   */
  disconnected(key: string, defined: boolean): void {
    const status = this.byProxy.get(key);
    if (!status) return;
    status.connected = false;
    status.nextRotationAtMs = undefined;
    if (status.regenerations === 0 && !defined) this.byProxy.delete(key);
  }
}

/** A copy of `s` as the admin API shows it. */
function publicStatus(s: MutableStatus): IdentityStatus {
  const { nextRotationAtMs, ...rest } = s;
  return nextRotationAtMs === undefined ? rest : { ...rest, nextRotationAt: new Date(nextRotationAtMs) };
}

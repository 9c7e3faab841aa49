/**
 * What `inspect` and `/metrics` show about each proxy's workload certificate (Kuma's CERT
 * REGENERATED AGO / EXPIRATION / REGENERATIONS), kept after a proxy disconnects. Split out of the
 * identity manager.
 */
import { msAt, type MutableStatus, type ProxyState } from './state.js';
import type { IdentityStatus } from './types.js';

export class IdentityStatuses {
  /** By mesh, then name: no `mesh/name` key string per proxy (per-proxy memory). */
  private readonly byMesh = new Map<string, Map<string, MutableStatus>>();

  /** The record of `proxy`, created on first use. */
  of(proxy: ProxyState): MutableStatus {
    let byName = this.byMesh.get(proxy.mesh);
    let status = byName?.get(proxy.name);
    if (!status) {
      // Every field the record ever gets, set now: fields added later would go to a separate property array.
      status = {
        mesh: proxy.mesh,
        name: proxy.name,
        connected: proxy.subscribers > 0,
        spiffeIds: [],
        regenerations: 0,
        backend: undefined,
        serialHex: undefined,
        regeneratedAt: undefined,
        expiration: undefined,
        nextRotationAt: undefined,
        lastError: undefined,
      };
      if (!byName) this.byMesh.set(proxy.mesh, (byName = new Map()));
      byName.set(proxy.name, status);
    }
    return status;
  }

  /** Every proxy that has connected since the control plane started (copies). */
  list(mesh?: string): IdentityStatus[] {
    const out: IdentityStatus[] = [];
    for (const [name, byName] of this.byMesh) if (mesh === undefined || name === mesh) for (const s of byName.values()) out.push(publicStatus(s));
    return out;
  }

  get(mesh: string, name: string): IdentityStatus | undefined {
    const s = this.byMesh.get(mesh)?.get(name);
    return s ? publicStatus(s) : undefined;
  }

  /**
   * The proxy `name` of `mesh` has no stream left. A proxy the config does not define
   * (`defined` false: unknown names under --auth none) and that was never issued a certificate
   * leaves nothing behind, or any caller could grow this map.
   */
  disconnected(mesh: string, name: string, defined: boolean): void {
    const byName = this.byMesh.get(mesh);
    const status = byName?.get(name);
    if (!byName || !status) return;
    status.connected = false;
    status.nextRotationAt = undefined;
    if (status.regenerations === 0 && !defined) {
      byName.delete(name);
      if (byName.size === 0) this.byMesh.delete(mesh);
    }
  }
}

/** A copy of `s` as the admin API shows it: the optional fields only when set. */
function publicStatus(s: MutableStatus): IdentityStatus {
  return {
    mesh: s.mesh,
    name: s.name,
    connected: s.connected,
    spiffeIds: s.spiffeIds,
    regenerations: s.regenerations,
    ...(s.backend !== undefined ? { backend: s.backend } : {}),
    ...(s.serialHex !== undefined ? { serialHex: s.serialHex } : {}),
    ...(s.regeneratedAt !== undefined ? { regeneratedAt: s.regeneratedAt } : {}),
    ...(s.expiration !== undefined ? { expiration: s.expiration } : {}),
    ...(s.lastError !== undefined ? { lastError: s.lastError } : {}),
    ...(s.nextRotationAt !== undefined ? { nextRotationAt: new Date(msAt(s.nextRotationAt)) } : {}),
  };
}

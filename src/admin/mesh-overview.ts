/**
 * `GET /api/inspect/meshes`: each mesh at a glance, as the web GUI's overview shows it (Kuma's GUI
 * mesh page): the mTLS mode, where its CA stands (a switch in progress shows both CAs), proxies
 * online and offline, the proxies refusing config, and the certificate that expires first.
 * Everything is read from the live state the CLI's `inspect` reads; no key material.
 */
import { SERVICE_TAG } from '../api/tags.js';
import type { Resource } from '../api/types.js';
import type { MeshCa } from '../ca/providers/types.js';
import type { IdentityStatus } from '../identity/types.js';
import type { MeshCaState } from '../identity/manager.js';
import { inspectDataplanes, stateOf, type InspectSources } from './inspect.js';
import type { ResourceView } from './views.js';

/** What the overview and the other GUI views read besides `inspect` (the identity manager fits it). */
export interface IdentityViewSource {
  caState(mesh: string): MeshCaState;
  listStatus(mesh?: string): IdentityStatus[];
  /** The certificate served for a Route host without a `tls.serverCertificate`; never issues one. */
  serverCertificateOf(mesh: string, host: string): { readonly certPem: string; readonly notAfter: Date } | undefined;
}

export interface MeshViewSources {
  readonly inspect: InspectSources;
  readonly identities: IdentityViewSource;
  /** The initialized CAs of the served Meshes (runtime/metrics.ts meshCasInUse). */
  readonly meshCas: () => readonly MeshCa[];
  /** `GET /api/secrets` as the CLI reads it: summaries, never keys. */
  readonly secrets: (mesh?: string) => readonly ResourceView[];
}

export type CaPhase = 'off' | 'initializing' | 'ready' | 'switching' | 'error';

export interface CaView {
  readonly backend: string;
  readonly type: string;
  readonly notAfter: string;
  /** issuing: signs workload certificates; trusted: in the bundle, not issuing yet (switch step 1); retiring: still trusted (step 2). */
  readonly role: 'issuing' | 'trusted' | 'retiring';
}

export interface ExpiringCertificate {
  readonly kind: 'workload' | 'mesh CA' | 'secret' | 'route server certificate';
  /** The proxy, the backend, the Secret or the Route host. */
  readonly name: string;
  readonly notAfter: string;
}

export interface MeshOverview {
  readonly name: string;
  readonly mtls: {
    readonly mode: 'STRICT' | 'PERMISSIVE' | 'off';
    readonly enabledBackend?: string;
    readonly backends: readonly { readonly name: string; readonly type: string; readonly mode: string }[];
  };
  readonly ca: { readonly phase: CaPhase; readonly step?: string; readonly cas: readonly CaView[]; readonly error?: string };
  readonly proxies: { readonly total: number; readonly online: number; readonly offline: number; readonly nacking: number };
  /** Types currently refused (NACKED) over every proxy of the mesh. */
  readonly nacks: number;
  readonly soonestExpiry?: ExpiringCertificate;
  readonly counts: Readonly<Record<'dataplanes' | 'gateways' | 'services' | 'routes' | 'trafficPermissions' | 'secrets', number>>;
}

function caPhase(state: MeshCaState): { phase: CaPhase; step?: string } {
  if (state.enabledBackend === undefined) return { phase: 'off' };
  if (state.pending) return { phase: 'switching', step: `step 1 of 3: ${state.pending.backend} is trusted by every proxy before it issues; ${state.issuing?.backend ?? '?'} still issues` };
  if (state.retiring.length > 0) {
    return { phase: 'switching', step: `step 2 of 3: ${state.issuing?.backend ?? '?'} issues; ${state.retiring.map((r) => r.backend).join(', ')} stays trusted until every proxy holds a new certificate` };
  }
  if (state.initializing) {
    return state.issuing ? { phase: 'switching', step: `initializing ${state.enabledBackend}; ${state.issuing.backend} still issues` } : { phase: 'initializing' };
  }
  if (state.error !== undefined && !state.issuing) return { phase: 'error' };
  return state.issuing ? { phase: 'ready' } : { phase: 'initializing' };
}

function caViews(state: MeshCaState): CaView[] {
  const view = (ca: { backend: string; type: string; notAfter: Date }, role: CaView['role']): CaView => ({ backend: ca.backend, type: ca.type, notAfter: ca.notAfter.toISOString(), role });
  return [...(state.issuing ? [view(state.issuing, 'issuing')] : []), ...(state.pending ? [view(state.pending, 'trusted')] : []), ...state.retiring.map((r) => view(r, 'retiring'))];
}

function soonest(candidates: readonly ExpiringCertificate[]): ExpiringCertificate | undefined {
  let best: ExpiringCertificate | undefined;
  for (const c of candidates) if (best === undefined || c.notAfter < best.notAfter) best = c;
  return best;
}

function expiringIn(mesh: string, resources: readonly Resource[], secrets: readonly ResourceView[], sources: MeshViewSources): ExpiringCertificate[] {
  const out: ExpiringCertificate[] = [];
  for (const s of sources.identities.listStatus(mesh)) {
    if (s.connected && s.expiration) out.push({ kind: 'workload', name: s.name, notAfter: s.expiration.toISOString() });
  }
  for (const ca of sources.meshCas()) if (ca.mesh === mesh) out.push({ kind: 'mesh CA', name: ca.backend, notAfter: ca.notAfter.toISOString() });
  for (const v of secrets) {
    const notAfter = v.secret?.notAfter;
    if (notAfter !== undefined) out.push({ kind: 'secret', name: String(v.resource['name']), notAfter });
  }
  for (const r of resources) {
    if (r.type !== 'Route' || r.mesh !== mesh || r.tls?.serverCertificate !== undefined) continue;
    const issued = sources.identities.serverCertificateOf(mesh, r.host);
    if (issued) out.push({ kind: 'route server certificate', name: r.host, notAfter: issued.notAfter.toISOString() });
  }
  return out;
}

export function meshOverviews(sources: MeshViewSources, onlyMesh?: string): MeshOverview[] {
  const resources = sources.inspect.resources();
  const meshes = resources.filter((r): r is Resource & { type: 'Mesh' } => r.type === 'Mesh' && (onlyMesh === undefined || r.name === onlyMesh));
  const rows = inspectDataplanes(sources.inspect, onlyMesh);
  const statuses = sources.inspect.proxies.list();
  return meshes
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((mesh): MeshOverview => {
      const enabled = mesh.mtls?.backends.find((b) => b.name === mesh.mtls?.enabledBackend);
      const state = sources.identities.caState(mesh.name);
      const meshRows = rows.filter((r) => r.mesh === mesh.name);
      let nacks = 0;
      let nacking = 0;
      for (const proxy of statuses) {
        if (proxy.mesh !== mesh.name) continue;
        const refused = [...proxy.types.values()].filter((t) => stateOf(t) === 'NACKED').length;
        nacks += refused;
        if (refused > 0) nacking++;
      }
      const count = (type: Resource['type']): number => resources.filter((r) => r.type === type && r.type !== 'Mesh' && r.mesh === mesh.name).length;
      const services = new Set<string>();
      for (const r of resources) {
        if (r.type === 'Service' && r.mesh === mesh.name) services.add(r.name);
        if (r.type === 'Dataplane' && r.mesh === mesh.name) for (const i of r.networking.inbound) services.add(i.tags[SERVICE_TAG] ?? '');
      }
      const { phase, step } = caPhase(state);
      const secrets = sources.secrets(mesh.name);
      const expiry = soonest(expiringIn(mesh.name, resources, secrets, sources));
      return {
        name: mesh.name,
        mtls: {
          mode: enabled ? enabled.mode : 'off',
          ...(enabled ? { enabledBackend: enabled.name } : {}),
          backends: (mesh.mtls?.backends ?? []).map((b) => ({ name: b.name, type: b.type, mode: b.mode })),
        },
        ca: { phase, ...(step !== undefined ? { step } : {}), cas: caViews(state), ...(state.error !== undefined ? { error: state.error } : {}) },
        proxies: {
          total: meshRows.length,
          online: meshRows.filter((r) => r.status === 'Online').length,
          offline: meshRows.filter((r) => r.status === 'Offline').length,
          nacking,
        },
        nacks,
        ...(expiry ? { soonestExpiry: expiry } : {}),
        counts: {
          dataplanes: count('Dataplane'),
          gateways: count('Gateway'),
          services: services.size,
          routes: count('Route'),
          trafficPermissions: count('TrafficPermission'),
          secrets: secrets.length,
        },
      };
    });
}

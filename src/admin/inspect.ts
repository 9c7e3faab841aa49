/**
 * What `meshcp inspect` shows (SPEC §3, Kuma's `kumactl inspect dataplanes`): per proxy, the
 * stream state (xds/status.ts), the workload certificate state (identity/manager.ts) and, for
 * one proxy, a config dump of what was last sent with the ACK/NACK state of each type.
 *
 * Rows: every Dataplane resource (connected or not), plus every Gateway that has connected since
 * the server started and every other proxy while it is connected, so an edge gateway's NACKs are
 * visible too. `kind` tells them apart in JSON. A proxy is (mesh, name): `web-01` of two meshes is
 * two rows. The status registry forgets undefined proxies once they
 * disconnect (xds/status.ts), so unknown callers leave no rows.
 */
import { SERVICE_TAG } from '../api/tags.js';
import type { Resource } from '../api/types.js';
import type { IdentityStatus } from '../identity/types.js';
import { contentHash, decodeResource, type EncodedResource } from '../snapshot/encode.js';
import { proxyKey } from '../snapshot/node.js';
import { sourcesOf, type Snapshot } from '../snapshot/snapshot.js';
import { nackHint, type ProxyStatus, type TypeStatus } from '../xds/status.js';
import { PUSH_ORDER, TYPE_SHORT_NAMES, protoNameOf } from '../snapshot/types.js';

/** What inspect reads; ControlPlane and ResourceSources provide it (cli/serve.ts). */
export interface InspectSources {
  readonly resources: () => readonly Resource[];
  readonly proxies: { list(): ProxyStatus[]; get(name: string, mesh: string): ProxyStatus | undefined };
  readonly identities: { getStatus(mesh: string, name: string): IdentityStatus | undefined };
  readonly snapshots: { lastSnapshot(name: string, mesh: string): Snapshot | undefined };
}

export type ProxyKind = 'Dataplane' | 'Gateway' | 'Proxy';

export interface DataplaneInspection {
  readonly mesh: string;
  readonly name: string;
  readonly kind: ProxyKind;
  /** `kuma.io/service=web,kuma.io/protocol=http`: the inbound tags, sorted by key. */
  readonly tags: string;
  readonly status: 'Online' | 'Offline';
  readonly flavor?: string;
  readonly activeStreams: number;
  readonly lastConnected?: string;
  readonly lastDisconnected?: string;
  /** The last response sent or ACK received, over every type. */
  readonly lastUpdated?: string;
  /** Responses sent, over every type. */
  readonly totalUpdates: number;
  /** NACKs received, over every type. */
  readonly totalErrors: number;
  readonly certificate?: {
    readonly backend?: string;
    readonly regeneratedAt?: string;
    readonly expiration?: string;
    readonly regenerations: number;
    readonly lastError?: string;
  };
}

export interface TypeDump {
  /** LDS, RDS, CDS, EDS or SDS. */
  readonly type: string;
  readonly typeUrl: string;
  /** ACKED, NACKED (the last response was refused), SENT (no answer yet) or NOT_SENT. */
  readonly state: 'ACKED' | 'NACKED' | 'SENT' | 'NOT_SENT';
  readonly lastSentVersion?: string;
  readonly lastSentNonce?: string;
  readonly lastSentAt?: string;
  readonly lastAckedVersion?: string;
  readonly lastAckedAt?: string;
  readonly totalUpdates: number;
  readonly nackCount: number;
  readonly lastError?: string;
  /** What to do about `lastError` when it shows a known client limitation (xds/status.ts nackHint). */
  readonly hint?: string;
  /**
   * For a NACKED type: the user resources (`Kind/name`, in the proxy's mesh) the refused resources
   * were generated from, so the NACK can be fixed where it was caused.
   */
  readonly causedBy?: readonly string[];
  /**
   * False when the proxy's snapshot has changed since the last response (a push is pending, or
   * held back after a NACK): the resources below are then the current content of those names.
   */
  readonly resourcesMatchLastSent: boolean;
  readonly resources: readonly Record<string, unknown>[];
}

export interface ConfigDump {
  readonly mesh: string;
  readonly name: string;
  readonly status: 'Online' | 'Offline';
  readonly snapshotVersion?: string;
  readonly types: readonly TypeDump[];
}

const REDACTED = '<redacted>';

function iso(d: Date | undefined): string | undefined {
  return d?.toISOString();
}

function latest(...dates: (Date | undefined)[]): Date | undefined {
  let out: Date | undefined;
  for (const d of dates) if (d !== undefined && (out === undefined || d > out)) out = d;
  return out;
}

function tagsOf(r: Resource | undefined): string {
  if (r?.type === 'Gateway') return `${SERVICE_TAG}=${r.name}`;
  if (r?.type !== 'Dataplane') return '';
  const pairs = new Set<string>();
  for (const inbound of r.networking.inbound) for (const [k, v] of Object.entries(inbound.tags)) pairs.add(`${k}=${v}`);
  return [...pairs].sort().join(',');
}

function certificateOf(s: IdentityStatus | undefined): DataplaneInspection['certificate'] {
  if (!s || (s.regenerations === 0 && s.lastError === undefined)) return undefined;
  return {
    ...(s.backend !== undefined ? { backend: s.backend } : {}),
    ...(s.regeneratedAt ? { regeneratedAt: s.regeneratedAt.toISOString() } : {}),
    ...(s.expiration ? { expiration: s.expiration.toISOString() } : {}),
    regenerations: s.regenerations,
    ...(s.lastError !== undefined ? { lastError: s.lastError } : {}),
  };
}

function inspection(mesh: string, name: string, kind: ProxyKind, resource: Resource | undefined, proxy: ProxyStatus | undefined, identity: IdentityStatus | undefined): DataplaneInspection {
  const types = proxy ? [...proxy.types.values()] : [];
  const lastUpdated = latest(...types.flatMap((t) => [t.lastSentAt, t.lastAckedAt]));
  const certificate = certificateOf(identity);
  return {
    mesh,
    name,
    kind,
    tags: tagsOf(resource),
    status: proxy !== undefined && proxy.activeStreams > 0 ? 'Online' : 'Offline',
    ...(proxy ? { flavor: proxy.flavor } : {}),
    activeStreams: proxy?.activeStreams ?? 0,
    ...(proxy?.lastConnectedAt ? { lastConnected: iso(proxy.lastConnectedAt) } : {}),
    ...(proxy?.lastDisconnectedAt ? { lastDisconnected: iso(proxy.lastDisconnectedAt) } : {}),
    ...(lastUpdated ? { lastUpdated: iso(lastUpdated) } : {}),
    totalUpdates: types.reduce((n, t) => n + t.totalUpdates, 0),
    totalErrors: types.reduce((n, t) => n + t.nackCount, 0),
    ...(certificate ? { certificate } : {}),
  };
}

/** The status of the proxy `name` of `mesh` (node ids are proxy names; the mesh comes from node metadata). */
function statusIn(sources: InspectSources, mesh: string, name: string): ProxyStatus | undefined {
  return sources.proxies.get(name, mesh);
}

export function inspectDataplanes(sources: InspectSources, mesh?: string): DataplaneInspection[] {
  const resources = sources.resources();
  const rows: DataplaneInspection[] = [];
  const seen = new Set<string>();
  for (const r of resources) {
    if (r.type !== 'Dataplane' || (mesh !== undefined && r.mesh !== mesh)) continue;
    seen.add(proxyKey({ mesh: r.mesh, name: r.name }));
    rows.push(inspection(r.mesh, r.name, 'Dataplane', r, statusIn(sources, r.mesh, r.name), sources.identities.getStatus(r.mesh, r.name)));
  }
  for (const proxy of sources.proxies.list()) {
    if ((mesh !== undefined && proxy.mesh !== mesh) || seen.has(proxyKey({ mesh: proxy.mesh, name: proxy.nodeId }))) continue;
    const gateway = resources.find((r) => r.type === 'Gateway' && r.mesh === proxy.mesh && r.name === proxy.nodeId);
    rows.push(inspection(proxy.mesh, proxy.nodeId, gateway ? 'Gateway' : 'Proxy', gateway, proxy, sources.identities.getStatus(proxy.mesh, proxy.nodeId)));
  }
  return rows.sort((a, b) => (a.mesh === b.mesh ? a.name.localeCompare(b.name) : a.mesh.localeCompare(b.mesh)));
}

/**
 * Replaces private key material with `<redacted>` (SPEC §1: private keys never appear in CLI
 * output or admin API responses): the inline content of any `private_key` field, and any other
 * string that holds a PEM private key.
 */
export function redactPrivateKeys(value: unknown): unknown {
  if (typeof value === 'string') return /PRIVATE KEY/.test(value) ? REDACTED : value;
  if (Array.isArray(value)) return value.map(redactPrivateKeys);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if ((k === 'private_key' || k === 'privateKey') && typeof v === 'object' && v !== null && !Array.isArray(v)) {
      out[k] = Object.fromEntries(Object.entries(v).map(([field, inner]) => [field, field.startsWith('inline') ? REDACTED : redactPrivateKeys(inner)]));
    } else {
      out[k] = redactPrivateKeys(v);
    }
  }
  return out;
}

/** The user resources (`Kind/name`) that the resources `names` of `typeUrl` in `snapshot` came from. */
function causesOf(snapshot: Snapshot | undefined, typeUrl: string, names: readonly string[]): string[] {
  return [...new Set(names.flatMap((n) => sourcesOf(snapshot?.sources, typeUrl, n)))].sort();
}

/** A proxy that refused (NACKed) config generated from a user resource. */
export interface ProxyNack {
  readonly proxy: string;
  readonly mesh: string;
  /** LDS, RDS, CDS, EDS or SDS. */
  readonly type: string;
  readonly error: string;
  readonly hint?: string;
}

/**
 * Every user resource whose generated config some proxy currently refuses, keyed as the store
 * keys resources (`Mesh/name`, `Kind/mesh/name`): `meshcp get` shows the NACK on the Route,
 * Mesh, Service or Secret that caused it, with the proxy's error.
 */
export function nacksBySource(sources: InspectSources): Map<string, ProxyNack[]> {
  const out = new Map<string, ProxyNack[]>();
  for (const proxy of sources.proxies.list()) {
    for (const [typeUrl, t] of proxy.types) {
      if (stateOf(t) !== 'NACKED' || t.lastError === undefined) continue;
      const snapshot = sources.snapshots.lastSnapshot(proxy.nodeId, proxy.mesh);
      const hint = t.lastErrorHint ?? nackHint(t.lastError);
      const note: ProxyNack = { proxy: proxy.nodeId, mesh: proxy.mesh, type: TYPE_SHORT_NAMES[typeUrl] ?? protoNameOf(typeUrl), error: t.lastError, ...(hint !== undefined ? { hint } : {}) };
      for (const cause of causesOf(snapshot, typeUrl, t.lastSentNames)) {
        const slash = cause.indexOf('/');
        const kind = cause.slice(0, slash);
        const key = kind === 'Mesh' ? cause : `${kind}/${proxy.mesh}/${cause.slice(slash + 1)}`;
        out.set(key, [...(out.get(key) ?? []), note]);
      }
    }
  }
  return out;
}

export function stateOf(t: TypeStatus | undefined): TypeDump['state'] {
  if (!t || t.lastSentVersion === undefined) return 'NOT_SENT';
  if (t.lastAckedVersion === t.lastSentVersion && t.lastAckedAt !== undefined && (t.lastSentAt === undefined || t.lastAckedAt >= t.lastSentAt)) return 'ACKED';
  if (t.lastError !== undefined && t.nackCount > 0) return 'NACKED';
  return 'SENT';
}

/** Whether the snapshot still holds what the last response carried (session.ts: SotW versions hash `name@version`, Delta uses the type version). */
function matchesLastSent(typeUrl: string, t: TypeStatus | undefined, sent: readonly EncodedResource[], snapshot: Snapshot | undefined): boolean {
  if (!t || t.lastSentVersion === undefined || !snapshot) return false;
  const sotwVersion = contentHash(sent.map((r) => `${r.name}@${r.version}`).join('\n'));
  return sotwVersion === t.lastSentVersion || snapshot.typeVersions.get(typeUrl) === t.lastSentVersion;
}

/**
 * The resources of the last response per type, decoded, keys redacted. They are taken from the
 * proxy's current snapshot by the names the last response carried (the bytes themselves are not
 * kept per proxy); `resourcesMatchLastSent` says whether that is exactly what was sent. On a
 * Delta stream a response carries only the changed resources, so a type lists those.
 */
export function configDump(sources: InspectSources, mesh: string, name: string): ConfigDump | undefined {
  const proxy = statusIn(sources, mesh, name);
  const known = sources.resources().some((r) => (r.type === 'Dataplane' || r.type === 'Gateway') && r.mesh === mesh && r.name === name);
  if (!proxy && !known) return undefined;
  const snapshot = proxy ? sources.snapshots.lastSnapshot(name, mesh) : undefined;
  const typeUrls = [...PUSH_ORDER, ...[...(proxy?.types.keys() ?? [])].filter((t) => !PUSH_ORDER.includes(t))];
  const types = typeUrls.map((typeUrl): TypeDump => {
    const t = proxy?.types.get(typeUrl);
    const byName = snapshot?.resources.get(typeUrl);
    const names = [...(t?.lastSentNames ?? [])].sort();
    const sent = names.flatMap((n) => {
      const r = byName?.get(n);
      return r ? [r] : [];
    });
    return {
      type: TYPE_SHORT_NAMES[typeUrl] ?? protoNameOf(typeUrl),
      typeUrl,
      state: stateOf(t),
      ...(t?.lastSentVersion !== undefined ? { lastSentVersion: t.lastSentVersion } : {}),
      ...(t?.lastSentNonce !== undefined ? { lastSentNonce: t.lastSentNonce } : {}),
      ...(t?.lastSentAt ? { lastSentAt: iso(t.lastSentAt) } : {}),
      ...(t?.lastAckedVersion !== undefined ? { lastAckedVersion: t.lastAckedVersion } : {}),
      ...(t?.lastAckedAt ? { lastAckedAt: iso(t.lastAckedAt) } : {}),
      totalUpdates: t?.totalUpdates ?? 0,
      nackCount: t?.nackCount ?? 0,
      ...(t?.lastError !== undefined ? { lastError: t.lastError } : {}),
      // Recomputed from the error when the status came from another replica (etcd) without it.
      ...((t?.lastErrorHint ?? nackHint(t?.lastError)) !== undefined ? { hint: t?.lastErrorHint ?? nackHint(t?.lastError) } : {}),
      ...(stateOf(t) === 'NACKED' ? { causedBy: causesOf(snapshot, typeUrl, names) } : {}),
      resourcesMatchLastSent: names.length === sent.length && matchesLastSent(typeUrl, t, sent, snapshot),
      resources: sent.map((r) => redactPrivateKeys({ '@type': typeUrl, ...decodeResource(typeUrl, r.value) }) as Record<string, unknown>),
    };
  });
  return {
    mesh,
    name,
    status: proxy !== undefined && proxy.activeStreams > 0 ? 'Online' : 'Offline',
    ...(snapshot ? { snapshotVersion: snapshot.version } : {}),
    types: types.filter((t) => t.state !== 'NOT_SENT' || PUSH_ORDER.includes(t.typeUrl)),
  };
}

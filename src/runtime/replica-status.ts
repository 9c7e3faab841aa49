/**
 * Proxy status shared by replicas (SPEC §5): each replica publishes the status of the
 * proxies connected to it in etcd under its lease, and `inspect dataplanes` on any replica shows
 * every proxy, Online on whichever replica holds its stream. A replica that dies stops renewing
 * its lease; etcd then deletes its records and its proxies show Offline everywhere.
 *
 * A record is small: the counters and times inspect shows, not resource names. Changes are
 * gathered here (a record is encoded at most once per publish delay, however many responses the
 * proxy ACKed meanwhile) and the store coalesces them into at most one etcd transaction per flush
 * interval (store/etcd-status.ts), so the writes do not grow with the fleet. Reading, a record
 * whose value did not change since the last listing is not decoded again.
 */
import { Subject, type Observable, type Subscription } from 'rxjs';
import type { Logger } from '../log/logger.js';
import type { ProxyStatus, StatusRegistry, TypeStatus } from '../xds/status.js';

/** What the etcd store offers (etcd-store.ts). */
export interface StatusSpace {
  readonly replicaId: string;
  /** Marks this replica's record `key` for publishing (or with `undefined` removal); the store batches the writes. */
  publishStatus(key: string, value: string | undefined): void;
  statusRecords(): Observable<ReadonlyMap<string, string>>;
}

export interface ProxyStatusView {
  list(): ProxyStatus[];
  get(name: string, mesh?: string): ProxyStatus | undefined;
}

const PUBLISH_DELAY_MS = 200;

interface Record1 {
  readonly format: 1;
  readonly nodeId: string;
  readonly mesh: string;
  readonly flavor: string;
  readonly activeStreams: number;
  readonly connectedSince?: string;
  readonly lastConnectedAt?: string;
  readonly lastDisconnectedAt?: string;
  readonly types: readonly (readonly [string, { nackCount: number; totalUpdates: number; lastSentVersion?: string; lastSentAt?: string; lastAckedVersion?: string; lastAckedAt?: string; lastError?: string }])[];
}

const iso = (d: Date | undefined): string | undefined => d?.toISOString();

function encode(p: ProxyStatus): string {
  const record: Record1 = {
    format: 1,
    nodeId: p.nodeId,
    mesh: p.mesh,
    flavor: p.flavor,
    activeStreams: p.activeStreams,
    ...(p.connectedSince ? { connectedSince: iso(p.connectedSince) } : {}),
    ...(p.lastConnectedAt ? { lastConnectedAt: iso(p.lastConnectedAt) } : {}),
    ...(p.lastDisconnectedAt ? { lastDisconnectedAt: iso(p.lastDisconnectedAt) } : {}),
    types: [...p.types.entries()].map(([url, t]) => [
      url,
      {
        nackCount: t.nackCount,
        totalUpdates: t.totalUpdates,
        ...(t.lastSentVersion !== undefined ? { lastSentVersion: t.lastSentVersion } : {}),
        ...(t.lastSentAt ? { lastSentAt: iso(t.lastSentAt) } : {}),
        ...(t.lastAckedVersion !== undefined ? { lastAckedVersion: t.lastAckedVersion } : {}),
        ...(t.lastAckedAt ? { lastAckedAt: iso(t.lastAckedAt) } : {}),
        ...(t.lastError !== undefined ? { lastError: t.lastError } : {}),
      },
    ]),
  };
  return JSON.stringify(record);
}

/**
 * A record another replica (or someone with etcd access) wrote: everything is checked, since one
 * bad value (a date that does not parse, a count that is not a number) would otherwise break every
 * `inspect` on every replica. Undefined, with the reason, when it is not a status record.
 */
function decode(value: string): { status: ProxyStatus } | { problem: string } {
  let r: unknown;
  try {
    r = JSON.parse(value);
  } catch {
    return { problem: 'not JSON' };
  }
  if (!isObject(r) || r['format'] !== 1) return { problem: 'not a status record of format 1' };
  const nodeId = text(r['nodeId']);
  const mesh = text(r['mesh']);
  const flavor = r['flavor'] === undefined ? 'envoy' : text(r['flavor']);
  const activeStreams = count(r['activeStreams']);
  if (nodeId === undefined || mesh === undefined || flavor === undefined || activeStreams === undefined) return { problem: 'nodeId, mesh, flavor or activeStreams missing or malformed' };
  const times: Partial<Record<'connectedSince' | 'lastConnectedAt' | 'lastDisconnectedAt', Date>> = {};
  for (const field of ['connectedSince', 'lastConnectedAt', 'lastDisconnectedAt'] as const) {
    if (r[field] === undefined) continue;
    const at = date(r[field]);
    if (!at) return { problem: `${field} is not a date` };
    times[field] = at;
  }
  const types = new Map<string, TypeStatus>();
  const entries = r['types'] ?? [];
  if (!Array.isArray(entries) || entries.length > MAX_TYPES) return { problem: 'types is not a list of at most 16 entries' };
  for (const entry of entries as unknown[]) {
    const [url, t] = Array.isArray(entry) ? (entry as unknown[]) : [];
    const typeUrl = text(url);
    if (typeUrl === undefined || !isObject(t)) return { problem: 'a types entry is not [typeUrl, status]' };
    const nackCount = count(t['nackCount']);
    const totalUpdates = count(t['totalUpdates']);
    if (nackCount === undefined || totalUpdates === undefined) return { problem: `types ${JSON.stringify(typeUrl.slice(0, 80))}: nackCount or totalUpdates is not a count` };
    const status: { -readonly [K in keyof TypeStatus]: TypeStatus[K] } = { nackCount, totalUpdates, lastSentNames: [] };
    for (const field of ['lastSentVersion', 'lastAckedVersion', 'lastError'] as const) {
      if (t[field] === undefined) continue;
      const v = text(t[field], field === 'lastError' ? 4096 : 256);
      if (v === undefined) return { problem: `types ${JSON.stringify(typeUrl.slice(0, 80))}: ${field} is not a string` };
      status[field] = v;
    }
    for (const field of ['lastSentAt', 'lastAckedAt'] as const) {
      if (t[field] === undefined) continue;
      const at = date(t[field]);
      if (!at) return { problem: `types ${JSON.stringify(typeUrl.slice(0, 80))}: ${field} is not a date` };
      status[field] = at;
    }
    types.set(typeUrl, status);
  }
  return { status: { nodeId, mesh, flavor, activeStreams, ...times, types } };
}

const MAX_TYPES = 16;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A string of at most `max` characters (names are at most 253, SPEC §1). */
function text(v: unknown, max = 253): string | undefined {
  return typeof v === 'string' && v.length <= max ? v : undefined;
}

function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

function date(v: unknown): Date | undefined {
  if (typeof v !== 'string' || v.length > 64) return undefined;
  const at = new Date(v);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

const proxyKey = (mesh: string, name: string): string => `${encodeURIComponent(mesh)}/${encodeURIComponent(name)}`;

/** Online beats Offline; between two Online, the newer connection; between two Offline, the later disconnect. */
function better(a: ProxyStatus, b: ProxyStatus): ProxyStatus {
  if ((a.activeStreams > 0) !== (b.activeStreams > 0)) return a.activeStreams > 0 ? a : b;
  const at = (p: ProxyStatus): number => (p.activeStreams > 0 ? p.connectedSince ?? p.lastConnectedAt : p.lastDisconnectedAt ?? p.lastConnectedAt)?.getTime() ?? 0;
  return at(b) > at(a) ? b : a;
}

export class SharedProxyStatus implements ProxyStatusView {
  private readonly subscriptions: Subscription[] = [];
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private remote = new Map<string, ProxyStatus>();
  private readonly remoteChanged = new Subject<void>();
  /** After each change of what other replicas published (runtime/liveness.ts). */
  readonly changes: Observable<void> = this.remoteChanged.asObservable();
  /** Malformed records seen in the last listing, with why: each is logged once. */
  private badRecords = new Map<string, string>();
  /** Each record of another replica as last decoded, with the value it was decoded from. */
  private decoded = new Map<string, { readonly value: string; readonly result: ReturnType<typeof decode> }>();

  constructor(
    private readonly space: StatusSpace,
    private readonly registry: StatusRegistry,
    private readonly log?: Logger,
  ) {
    this.subscriptions.push(
      registry.events.subscribe((event) => {
        this.dirty.add(proxyKey(event.mesh, event.nodeId));
        // Connects and disconnects are what inspect's STATUS shows: publish those at once.
        if (event.kind === 'connect' || event.kind === 'disconnect') this.flush();
        else this.timer ??= setTimeout(() => this.flush(), PUBLISH_DELAY_MS);
      }),
      space.statusRecords().subscribe((records) => {
        const remote = new Map<string, ProxyStatus>();
        const bad = new Map<string, string>();
        const decodedNow = new Map<string, { readonly value: string; readonly result: ReturnType<typeof decode> }>();
        for (const [key, value] of records) {
          const slash = key.indexOf('/');
          if (key.slice(0, slash) === space.replicaId) continue;
          const known = this.decoded.get(key);
          const decoded = known?.value === value ? known.result : decode(value);
          decodedNow.set(key, { value, result: decoded });
          if ('problem' in decoded) {
            bad.set(key, decoded.problem);
            continue;
          }
          const { status } = decoded;
          const k = proxyKey(status.mesh, status.nodeId);
          const seen = remote.get(k);
          remote.set(k, seen ? better(seen, status) : status);
        }
        this.remote = remote;
        this.decoded = decodedNow;
        this.remoteChanged.next();
        // One bad record is skipped and logged once (again only when it changes), never fatal.
        for (const [key, problem] of bad) {
          if (this.badRecords.get(key) !== problem) this.log?.warn({ record: key.slice(0, 600), problem }, 'skipping a malformed proxy status record in the store');
        }
        this.badRecords = bad;
      }),
    );
  }

  list(): ProxyStatus[] {
    const merged = new Map(this.remote);
    for (const local of this.registry.list()) {
      const k = proxyKey(local.mesh, local.nodeId);
      const other = merged.get(k);
      merged.set(k, other ? better(local, other) : local);
    }
    return [...merged.values()];
  }

  /** Whether another replica holds a stream of the proxy. */
  online(mesh: string, name: string): boolean {
    return (this.remote.get(proxyKey(mesh, name))?.activeStreams ?? 0) > 0;
  }

  get(name: string, mesh = 'default'): ProxyStatus | undefined {
    const local = this.registry.get(name, mesh);
    const other = this.remote.get(proxyKey(mesh, name));
    if (local && other) return better(local, other);
    return local ?? other;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const s of this.subscriptions) s.unsubscribe();
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const k of this.dirty) {
      const [mesh, name] = k.split('/').map(decodeURIComponent) as [string, string];
      const status = this.registry.get(name, mesh);
      this.space.publishStatus(k, status ? encode(status) : undefined);
    }
    this.dirty.clear();
  }
}

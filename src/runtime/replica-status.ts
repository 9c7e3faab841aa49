/**
 * Proxy status shared by replicas (SPEC §5, issue #12): each replica publishes the status of the
 * proxies connected to it in etcd under its lease, and `inspect dataplanes` on any replica shows
 * every proxy, Online on whichever replica holds its stream. A replica that dies stops renewing
 * its lease; etcd then deletes its records and its proxies show Offline everywhere.
 *
 * Publishing is debounced (a status change per xDS response would otherwise be an etcd write
 * per push); a record is small: the counters and times inspect shows, not resource names.
 */
import { Subject, type Observable, type Subscription } from 'rxjs';
import type { Logger } from '../log/logger.js';
import type { ProxyStatus, StatusRegistry, TypeStatus } from '../xds/status.js';

/** What the etcd store offers (etcd-store.ts). */
export interface StatusSpace {
  readonly replicaId: string;
  publishStatus(key: string, value: string | undefined): Promise<void>;
  statusRecords(): import('rxjs').Observable<ReadonlyMap<string, string>>;
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
const date = (s: string | undefined): Date | undefined => (s === undefined ? undefined : new Date(s));

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

function decode(value: string): ProxyStatus | undefined {
  try {
    const r = JSON.parse(value) as Record1;
    if (r.format !== 1 || typeof r.nodeId !== 'string' || typeof r.mesh !== 'string') return undefined;
    const types = new Map<string, TypeStatus>();
    for (const [url, t] of r.types ?? []) {
      types.set(url, {
        nackCount: t.nackCount,
        totalUpdates: t.totalUpdates,
        lastSentNames: [],
        ...(t.lastSentVersion !== undefined ? { lastSentVersion: t.lastSentVersion } : {}),
        ...(t.lastSentAt !== undefined ? { lastSentAt: date(t.lastSentAt)! } : {}),
        ...(t.lastAckedVersion !== undefined ? { lastAckedVersion: t.lastAckedVersion } : {}),
        ...(t.lastAckedAt !== undefined ? { lastAckedAt: date(t.lastAckedAt)! } : {}),
        ...(t.lastError !== undefined ? { lastError: t.lastError } : {}),
      });
    }
    return {
      nodeId: r.nodeId,
      mesh: r.mesh,
      flavor: r.flavor,
      activeStreams: r.activeStreams,
      ...(r.connectedSince !== undefined ? { connectedSince: date(r.connectedSince)! } : {}),
      ...(r.lastConnectedAt !== undefined ? { lastConnectedAt: date(r.lastConnectedAt)! } : {}),
      ...(r.lastDisconnectedAt !== undefined ? { lastDisconnectedAt: date(r.lastDisconnectedAt)! } : {}),
      types,
    };
  } catch {
    return undefined;
  }
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
        for (const [key, value] of records) {
          const slash = key.indexOf('/');
          if (key.slice(0, slash) === space.replicaId) continue;
          const status = decode(value);
          if (!status) continue;
          const k = proxyKey(status.mesh, status.nodeId);
          const seen = remote.get(k);
          remote.set(k, seen ? better(seen, status) : status);
        }
        this.remote = remote;
        this.remoteChanged.next();
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
      this.space.publishStatus(k, status ? encode(status) : undefined).catch((err: unknown) => this.log?.debug({ err }, 'proxy status not published'));
    }
    this.dirty.clear();
  }
}

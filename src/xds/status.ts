/**
 * Live status per proxy and per type, kept for `inspect`, the admin API and metrics.
 * The xDS server writes it; nobody else does.
 *
 * A proxy is (mesh, name): `web-01` in mesh `default` and `web-01` in mesh `other` are two rows.
 * Rows are only created for authenticated streams (session.ts), and
 * the row of a proxy that is not defined in the config (no Dataplane or Gateway of that name in
 * that mesh) is dropped when its last stream closes, so unknown callers leave nothing behind.
 */
import { Subject, type Observable } from 'rxjs';
import { PROXY_LOG_BURST, PROXY_LOG_WINDOW_MS } from './limits.js';
import { LogBudget } from './log-budget.js';
import type { ProxyRef } from '../snapshot/node.js';
import { MAX_ERROR_LENGTH, nackHint, ProxyRow, TypeRow, type ProxyDefined, type StatusTypeRow } from './status-rows.js';
import type { ProxyStatus, StatusEvent } from './status-types.js';

export type { ProxyRef } from '../snapshot/node.js';
export type { ProxyStatus, StatusEvent, TypeStatus } from './status-types.js';
export { nackHint, type ProxyDefined, type StatusTypeRow } from './status-rows.js';

const systemNow = (): Date => new Date();

function isRow(proxy: ProxyRef | ProxyStatus): proxy is ProxyStatus {
  return (proxy as Partial<ProxyStatus>).types !== undefined;
}

function nameOf(proxy: ProxyRef | ProxyStatus): string {
  return isRow(proxy) ? proxy.nodeId : proxy.name;
}

export class StatusRegistry {
  /** By mesh, then name: no key string is built per event (every push and ACK of every proxy passes here). */
  private readonly proxies = new Map<string, Map<string, ProxyStatus>>();
  private count = 0;
  private readonly nowMs: () => number;
  /** Responses sent, per type URL (the control plane's push counters: no event subscriber per push). */
  readonly sentPerType = new Map<string, number>();
  private readonly eventSubject = new Subject<StatusEvent>();
  readonly events: Observable<StatusEvent> = this.eventSubject.asObservable();

  constructor(
    private readonly now: () => Date = systemNow,
    private readonly defined: ProxyDefined = () => true,
  ) {
    this.nowMs = now === systemNow ? Date.now : () => now().getTime();
  }

  /** Rows kept, for bounds checks. */
  get size(): number {
    return this.count;
  }

  list(): ProxyStatus[] {
    const out: ProxyStatus[] = [];
    for (const byName of this.proxies.values()) for (const status of byName.values()) out.push(status);
    return out;
  }

  /** The proxy `name` of `mesh` (`default`, as for a node without `metadata.mesh`). */
  get(name: string, mesh = 'default'): ProxyStatus | undefined {
    return this.proxies.get(mesh)?.get(name);
  }

  /**
   * Counts a stream of the proxy and returns its row, which the stream may pass instead of `ref`
   * while it is open (the row stays while the proxy has a stream): one lookup per stream rather
   * than one per push and ACK.
   */
  streamOpened(ref: ProxyRef, flavor: string): ProxyStatus {
    let byName = this.proxies.get(ref.mesh);
    if (!byName) this.proxies.set(ref.mesh, (byName = new Map()));
    let status = byName.get(ref.name);
    if (!status) {
      // Every field the row ever gets, set now: fields added later go to a separate property array.
      status = new ProxyRow(ref.name, ref.mesh, flavor);
      byName.set(ref.name, status);
      this.count++;
    }
    status.flavor = flavor;
    const now = this.now();
    if (status.activeStreams === 0) status.connectedSince = now;
    status.lastConnectedAt = now;
    status.activeStreams++;
    this.eventSubject.next({ kind: 'connect', nodeId: ref.name, mesh: ref.mesh });
    return status;
  }

  streamClosed(ref: ProxyRef): void {
    const status = this.get(ref.name, ref.mesh);
    if (!status) return;
    status.activeStreams = Math.max(0, status.activeStreams - 1);
    if (status.activeStreams === 0) {
      status.connectedSince = undefined;
      status.lastDisconnectedAt = this.now();
      if (!this.defined(ref.mesh, ref.name)) this.remove(ref.mesh, ref.name);
    }
    this.eventSubject.next({ kind: 'disconnect', nodeId: ref.name, mesh: ref.mesh });
  }

  /** Drops the rows of offline proxies that are no longer defined (after a config change). */
  prune(): void {
    for (const status of this.list()) if (status.activeStreams === 0 && !this.defined(status.mesh, status.nodeId)) this.remove(status.mesh, status.nodeId);
  }

  private remove(mesh: string, name: string): void {
    const byName = this.proxies.get(mesh);
    if (!byName?.delete(name)) return;
    this.count--;
    if (byName.size === 0) this.proxies.delete(mesh);
  }

  /**
   * The row of `typeUrl` in `proxy`'s status: a stream keeps it while it is open (the row stays
   * while the proxy has a stream) and passes it to sent/acked, so a push or an ACK does not look
   * it up in the proxy's map of types (every proxy, every change: a profiled hot path).
   */
  typeRowOf(proxy: ProxyStatus, typeUrl: string): StatusTypeRow {
    return this.typeStatus(proxy, typeUrl);
  }

  /** `row`: `proxy`'s row of `typeUrl` (typeRowOf), when the caller kept it. */
  sent(proxy: ProxyRef | ProxyStatus, typeUrl: string, version: string, nonce: string, names: readonly string[], row?: StatusTypeRow): void {
    const t = row ?? this.typeStatus(proxy, typeUrl);
    t.lastSentVersion = version;
    t.lastSentNonce = nonce;
    t.sentMs = this.nowMs();
    t.totalUpdates++;
    t.lastSentNames = names;
    this.sentPerType.set(typeUrl, (this.sentPerType.get(typeUrl) ?? 0) + 1);
    this.eventSubject.next({ kind: 'sent', nodeId: nameOf(proxy), mesh: proxy.mesh, typeUrl, version, resources: names.length });
  }

  /**
   * An ACK of the response `nonce`. A proxy's row shows the state of the latest response sent to
   * it for the type, whichever of its streams sent it: an ACK of any other response (an older one,
   * or one on another stream of the proxy) is counted as an event but does not make the row ACKED.
   * `nonce` undefined: the ACK is taken as of the latest response (callers that track no nonces).
   */
  acked(proxy: ProxyRef | ProxyStatus, typeUrl: string, version: string, row?: StatusTypeRow, nonce?: string): void {
    const t = row ?? this.typeStatus(proxy, typeUrl);
    const now = this.nowMs();
    const latest = nonce === undefined || nonce === t.lastSentNonce;
    const latencyMs = latest && t.sentMs >= 0 && t.lastSentVersion === version ? now - t.sentMs : undefined;
    if (latest) {
      t.lastAckedVersion = version;
      t.ackedMs = now;
    }
    this.eventSubject.next({ kind: 'ack', nodeId: nameOf(proxy), mesh: proxy.mesh, typeUrl, version, latencyMs });
  }

  /**
   * A NACK, of the response `nonce` when it names one of ours (undefined: the first request of a
   * stream reporting an error from before). Every NACK is counted; only one of the latest response
   * (or one not tied to a response) becomes the row's `lastError`, as the ACK state does.
   */
  nacked(proxy: ProxyRef | ProxyStatus, typeUrl: string, version: string, error: string, nonce?: string): void {
    const t = this.typeStatus(proxy, typeUrl);
    t.nackCount++;
    // error_detail comes from the proxy: keep what a person reads, not megabytes per type.
    const kept = error.length > MAX_ERROR_LENGTH ? `${error.slice(0, MAX_ERROR_LENGTH)}… (${error.length} characters)` : error;
    if (nonce === undefined || nonce === t.lastSentNonce) {
      t.lastError = kept;
      t.lastErrorHint = nackHint(kept);
    }
    this.eventSubject.next({ kind: 'nack', nodeId: nameOf(proxy), mesh: proxy.mesh, typeUrl, version, error: kept });
  }

  /**
   * Whether a log line caused by this proxy's input may be written now (its LogBudget); when it
   * may, how many were suppressed since the last one. The budget lives in the proxy's row, so all
   * its streams share it.
   */
  allowLog(proxy: ProxyStatus): number | undefined {
    const now = this.nowMs();
    if (!(proxy instanceof ProxyRow)) return 0;
    proxy.logBudget ??= new LogBudget(PROXY_LOG_BURST, PROXY_LOG_WINDOW_MS, now);
    return proxy.logBudget.take(now);
  }

  private typeStatus(ref: ProxyRef | ProxyStatus, typeUrl: string): TypeRow {
    const proxy = isRow(ref) ? ref : this.get(ref.name, ref.mesh);
    if (!proxy) throw new Error(`status for unknown proxy "${nameOf(ref)}" in mesh "${ref.mesh}"`);
    let t = proxy.types.get(typeUrl);
    if (!(t instanceof TypeRow)) {
      // A row restored from elsewhere (a plain TypeStatus) is taken over with its fields.
      const row = new TypeRow();
      if (t) Object.assign(row, t);
      proxy.types.set(typeUrl, row);
      t = row;
    }
    return t as TypeRow;
  }
}

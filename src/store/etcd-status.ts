/**
 * Proxy status a replica publishes in etcd: `<prefix>status/<replica>/<mesh>/<proxy>`, one row per
 * proxy connected to it, held by the replica's lease, so when the replica dies etcd drops its rows
 * once the lease expires, and a replica that stops cleanly revokes the lease, taking them at once.
 *
 * The writes must not grow with the fleet: a row written per connect, disconnect and ACK would be
 * tens of thousands of etcd writes a second when a large fleet reconnects. Rows are coalesced
 * instead: a change only marks the row pending (the latest value wins), and one transaction per
 * flush interval carries at most `maxRowsPerTxn` of the pending rows, oldest first; the rest wait
 * for the next interval. A row whose value etcd already holds is not written again. So a replica
 * makes at most one status write per interval whatever its fleet does, and none while nothing
 * changes (the lease keep-alive is not a write). When the lease is lost or a write fails, every
 * row is pending again and re-published under a new lease through the same path.
 *
 * The other side, every replica's rows, is a listing then a watch (a cancelled watch lists again).
 */
import { BehaviorSubject, type Observable } from 'rxjs';
import type { Etcd3, IWatchResponse, Lease, Watcher } from 'etcd3';
import type { Logger } from '../log/logger.js';
import { oneLine, pause } from './etcd-call.js';

export interface StatusWriteOptions {
  /** TTL of the lease: how long a dead replica's proxies stay Online elsewhere. Default 10. */
  readonly leaseSeconds?: number;
  /** At most one status transaction per this many ms. Default 250. */
  readonly flushIntervalMs?: number;
  /** Rows per transaction, at most; default 128, etcd's default --max-txn-ops. */
  readonly maxRowsPerTxn?: number;
}

/** What a replica wrote for proxy status since it started (etcd writes, for the bench and tests). */
export interface StatusWriteCounts {
  /** Committed status transactions. */
  readonly txns: number;
  /** Rows (puts and deletes) those transactions carried. */
  readonly rows: number;
  /** Leases granted (the first, and one after each loss). */
  readonly leases: number;
  /** Rows changed and not written yet. */
  readonly pending: number;
}

export const DEFAULT_STATUS_FLUSH_MS = 250;
const DEFAULT_MAX_ROWS = 128;

export class LeasedStatus {
  private lease: Lease | undefined;
  /** Rows etcd holds under the current lease (relative key → value). */
  private readonly published = new Map<string, string>();
  /** Rows changed since they were last written (undefined: remove); the latest value wins, the first change's place in line is kept. */
  private readonly pending = new Map<string, string | undefined>();
  private republishNeeded = false;
  private timer: NodeJS.Timeout | undefined;
  private flushing = false;
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  private failures = 0;
  private closed = false;
  private counts = { txns: 0, rows: 0, leases: 0 };
  private readonly interval: number;
  private readonly maxRows: number;
  private readonly leaseSeconds: number;
  private readonly records = new BehaviorSubject<ReadonlyMap<string, string>>(new Map());
  private watcher: Watcher | undefined;
  private watchStarted = false;
  private readonly log: Logger | undefined;
  /** Where this replica's rows live: `<prefix>status/<replica>/`. */
  private readonly own: string;

  /** `prefix`: `<store prefix>status/`, where every replica's rows live. */
  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    readonly replicaId: string,
    private readonly name: string,
    options: StatusWriteOptions & { readonly log?: Logger },
  ) {
    this.interval = Math.max(1, options.flushIntervalMs ?? DEFAULT_STATUS_FLUSH_MS);
    this.maxRows = Math.max(1, options.maxRowsPerTxn ?? DEFAULT_MAX_ROWS);
    this.leaseSeconds = options.leaseSeconds ?? 10;
    this.log = options.log;
    this.own = `${prefix}${replicaId}/`;
  }

  /** Marks one row of this replica for writing (or with `undefined` removal) in the next flush. */
  publish(key: string, value: string | undefined): void {
    if (this.closed) return;
    this.pending.set(key, value);
    this.schedule();
  }

  writes(): StatusWriteCounts {
    return { ...this.counts, pending: this.pending.size };
  }

  /** Every replica's rows (`<replica>/<…key>` → value), kept current by a watch. */
  allRecords(): Observable<ReadonlyMap<string, string>> {
    if (!this.watchStarted && !this.closed) {
      this.watchStarted = true;
      void this.relist();
    }
    return this.records.asObservable();
  }

  /** Stops writing and revokes the lease: a replica that stops cleanly takes its proxies' rows with it at once (pending ones are moot). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.watcher?.removeAllListeners();
    void this.watcher?.cancel().catch(() => undefined);
    this.records.complete();
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await Promise.race([lease.revoke().catch(() => undefined), pause(1000)]);
  }

  private schedule(): void {
    if (this.timer || this.flushing || this.closed) return;
    if (this.pending.size === 0 && !this.republishNeeded) return;
    // After failures, wait longer (up to a quarter of the lease) so an unreachable etcd is not hammered.
    const spacing = this.failures === 0 ? this.interval : Math.max(this.interval, Math.min(this.interval * 2 ** this.failures, (this.leaseSeconds * 1000) / 4));
    const wait = Math.max(0, this.lastFlushAt + spacing - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, wait);
    this.timer.unref();
  }

  private async flush(): Promise<void> {
    if (this.closed) return;
    this.flushing = true;
    this.lastFlushAt = Date.now();
    const batch: [string, string | undefined][] = [];
    try {
      if (this.republishNeeded) {
        // The rows held by a lost lease are gone (or go when it expires): all of them are pending again.
        for (const [key, value] of this.published) if (!this.pending.has(key)) this.pending.set(key, value);
        this.published.clear();
        this.republishNeeded = false;
      }
      for (const [key, value] of this.pending) {
        if (batch.length >= this.maxRows) break;
        this.pending.delete(key);
        const unchanged = value === undefined ? !this.published.has(key) : this.published.get(key) === value;
        if (!unchanged) batch.push([key, value]);
      }
      const [first] = batch;
      if (first) {
        const leaseId = await this.leaseId();
        const ops = batch.map(([key, value]) => (value === undefined ? this.client.delete().key(this.own + key) : this.client.put(this.own + key).value(value).lease(leaseId)));
        // A compare that always holds (every key has version >= 0) makes an unconditional transaction.
        await this.client.if(this.own + first[0], 'Version', '>', -1).then(...ops).commit();
        this.counts.txns++;
        this.counts.rows += batch.length;
        for (const [key, value] of batch) {
          if (value === undefined) this.published.delete(key);
          else this.published.set(key, value);
        }
      }
      this.failures = 0;
    } catch (err) {
      for (const [key, value] of batch) if (!this.pending.has(key)) this.pending.set(key, value);
      this.failures++;
      this.lost(oneLine(err));
    } finally {
      this.flushing = false;
      this.schedule();
    }
  }

  private async leaseId(): Promise<string> {
    if (!this.lease) {
      const lease = this.client.lease(this.leaseSeconds);
      lease.on('lost', (err: Error) => {
        if (lease !== this.lease) return;
        this.lost(oneLine(err));
        this.schedule();
      });
      this.lease = lease;
      this.counts.leases++;
    }
    return this.lease.grant();
  }

  /** The lease is gone or a write failed: drop it, and re-publish every row under a new one when etcd answers. */
  private lost(reason: string): void {
    if (this.closed) return;
    this.log?.debug({ store: this.name, reason }, 'proxy status not published; retrying');
    this.lease?.release();
    this.lease = undefined;
    this.republishNeeded = true;
  }

  /** Lists every status row, then watches them; a cancelled watch (compaction) lists again. */
  private async relist(): Promise<void> {
    let delay = 100;
    while (!this.closed) {
      try {
        const response = await this.client.getAll().prefix(this.prefix).exec();
        const rows = new Map<string, string>();
        for (const kv of response.kvs) rows.set(kv.key.toString('utf8').slice(this.prefix.length), kv.value.toString('utf8'));
        this.records.next(rows);
        const watcher = this.client.watch().prefix(this.prefix).startRevision(String(Number(response.header.revision) + 1)).watcher();
        this.watcher = watcher;
        watcher.on('data', (res: IWatchResponse) => {
          if (watcher !== this.watcher || this.closed) return;
          const next = new Map(this.records.value);
          for (const event of res.events) {
            const key = event.kv.key.toString('utf8').slice(this.prefix.length);
            if (event.type === 'Delete') next.delete(key);
            else next.set(key, event.kv.value.toString('utf8'));
          }
          this.records.next(next);
        });
        watcher.on('error', () => {
          if (watcher !== this.watcher || this.closed) return;
          watcher.removeAllListeners();
          this.watcher = undefined;
          void this.relist();
        });
        return;
      } catch {
        await pause(delay);
        delay = Math.min(delay * 2, 2000);
      }
    }
  }
}

/**
 * The snapshot cache: per proxy, the last good, consistency-checked snapshot. It is the
 * only thing the xDS server sees (go-control-plane's ConfigWatcher). A generated config
 * that fails the consistency check is logged and dropped: the proxy keeps the last good one.
 */
import { Observable, ReplaySubject, distinctUntilChanged, filter, map, share, throwError, type Subscription } from 'rxjs';
import { buildSnapshot, type GeneratedConfig, type Snapshot, type SnapshotResult } from './snapshot.js';
import type { ConfigWatcher, NodeInfo, WatchError } from './session.js';

export type ConfigSource = (node: NodeInfo) => Observable<GeneratedConfig>;

export interface CacheLogger {
  error(obj: object, msg: string): void;
}

interface SharedWatch {
  readonly snapshots: Observable<Snapshot>;
  subscribers: number;
}

export class SnapshotCache implements ConfigWatcher {
  private readonly watches = new Map<string, SharedWatch>();
  private readonly latest = new Map<string, Snapshot>();

  constructor(
    private readonly source: ConfigSource,
    private readonly log: CacheLogger,
    /** Refuses a proxy (bad token, unknown mesh...) before any config flows. */
    private readonly authenticate: (node: NodeInfo) => WatchError | undefined = () => undefined,
  ) {}

  /** Streams of one proxy (ADS plus per-type, or a reconnect overlapping the old stream) share one generation. */
  watch(node: NodeInfo): Observable<Snapshot> {
    const refusal = this.authenticate(node);
    if (refusal) return throwError(() => refusal);
    return new Observable<Snapshot>((subscriber) => {
      let shared = this.watches.get(node.id);
      if (!shared) {
        shared = { snapshots: this.snapshotsFor(node), subscribers: 0 };
        this.watches.set(node.id, shared);
      }
      shared.subscribers++;
      const inner: Subscription = shared.snapshots.subscribe(subscriber);
      const current = shared;
      return () => {
        inner.unsubscribe();
        current.subscribers--;
        // Forget it once nobody watches, so a reconnect generates afresh (new certificates etc.).
        if (current.subscribers === 0 && this.watches.get(node.id) === current) this.watches.delete(node.id);
      };
    });
  }

  /** The last snapshot published to a proxy, for config dumps. */
  lastSnapshot(nodeId: string): Snapshot | undefined {
    return this.latest.get(nodeId);
  }

  private snapshotsFor(node: NodeInfo): Observable<Snapshot> {
    return this.source(node).pipe(
      map((config) => buildSnapshot(config)),
      filter((result): result is Extract<SnapshotResult, { ok: true }> => {
        if (!result.ok) this.log.error({ node: node.id, errors: result.errors }, 'generated config is inconsistent; keeping the last good snapshot');
        return result.ok;
      }),
      map((result) => {
        this.latest.set(node.id, result.snapshot);
        return result.snapshot;
      }),
      distinctUntilChanged((a, b) => a.version === b.version),
      share({ connector: () => new ReplaySubject<Snapshot>(1), resetOnRefCountZero: true }),
    );
  }
}

/**
 * The contract between the snapshot cache and the xDS server (go-control-plane's
 * `ConfigWatcher`): the server asks for a node's snapshots and knows nothing of how they are made.
 */
import type { Observable } from 'rxjs';
import type { Snapshot } from './snapshot.js';

export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** Serves snapshots to proxies. An error ends the stream with the given gRPC status. */
export interface ConfigWatcher {
  watch(node: NodeInfo): Observable<Snapshot>;
  /**
   * Optional: `watch(node).subscribe(sink)` without an rxjs subscriber per stream (cache.ts);
   * returns the way to stop.
   */
  listen?(node: NodeInfo, sink: { next(snapshot: Snapshot): void; error(err: unknown): void }): () => void;
}

export class WatchError extends Error {
  constructor(
    readonly grpcCode: number,
    message: string,
  ) {
    super(message);
  }
}


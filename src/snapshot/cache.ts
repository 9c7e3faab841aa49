/**
 * The snapshot cache: per proxy, the last good, consistency-checked snapshot. It is the
 * only thing the xDS server sees (go-control-plane's ConfigWatcher). A generated config
 * that fails the consistency check is logged and dropped: the proxy keeps the last good one.
 *
 * Security:
 * - Streams share one generation only when they resolve to the same proxy: same name, mesh and
 *   flavor (everything generation reads from the node, generate.ts proxyIdentity). Keying by
 *   `node.id` alone handed `web-01` of mesh `other` the config, and workload key, of `web-01` in
 *   mesh `default`.
 * - A stream is accepted until its token expires, or is revoked; then that stream (and only it)
 *   ends with UNAUTHENTICATED, so an expired or revoked token stops receiving certificates.
 * - Nothing is kept for a proxy nobody watches, except the last snapshot of a proxy the config
 *   defines (for config dumps while it is offline).
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import { Observable } from 'rxjs';
import { ResourceEncoder } from './encode.js';
import { nodeMesh, nodeRef, proxyKey } from './node.js';
import { retainConfig } from './retain.js';
import { buildSnapshot, sameSnapshotContent, type GeneratedConfig, type Snapshot, type SnapshotResult } from './snapshot.js';
import { WatchError, type ConfigWatcher, type NodeInfo } from './watcher.js';

/**
 * Refused with a gRPC status, or accepted until `expiresAt` (for ever when absent), or until
 * `revocation` calls back (its credential was revoked): it returns the way to stop listening.
 */
export type NodeAuthentication =
  | { readonly ok: false; readonly error: WatchError }
  | { readonly ok: true; readonly expiresAt?: Date; readonly revocation?: (end: (error: WatchError) => void) => () => void };

/** Decides, from a stream's node, whether any config flows to it (identity/xds-auth.ts: dataplane tokens). */
export type NodeAuthenticator = (node: NodeInfo) => NodeAuthentication;

export type ConfigSource = (node: NodeInfo) => Observable<GeneratedConfig>;

export interface CacheLogger {
  error(obj: object, msg: string): void;
}

export interface SnapshotCacheOptions {
  /** Refuses a proxy (bad token, unknown mesh...) before any config flows. Every proxy is accepted when absent. */
  readonly authenticate?: NodeAuthenticator;
  /** Whether the config defines the proxy: only then is its last snapshot kept once it disconnects. Never when absent. */
  readonly defined?: (mesh: string, name: string) => boolean;
  /** Encodes the generated resources (the control plane's own, for its counters); the cache's own when absent. */
  readonly encoder?: ResourceEncoder;
}

/** What every shared watch of a cache reads: one object per cache, not fields per watch. */
interface WatchContext {
  readonly log: CacheLogger;
  readonly latest: Map<string, Snapshot>;
  readonly encoder: ResourceEncoder;
}

/**
 * One generation shared by the streams of a proxy: the upstream config subscription, the last
 * snapshot (replayed to a stream that joins) and the streams. Fanned out by hand rather than with
 * rxjs `share` and a ReplaySubject, whose subscriber chain cost memory per connected proxy and
 * calls per proxy per change. It is also the upstream's sink: its methods, not three
 * closures per proxy.
 *
 * Each config is one step (build, check, keep, skip when equal) rather than an operator chain, as
 * an endpoint change runs it for every connected proxy (a profiled hot path). The previous config
 * and snapshot are kept, so their unchanged types are reused.
 */
class SharedWatch {
  /** The last snapshot pushed to the sinks. */
  last: Snapshot | undefined = undefined;
  connected = false;
  /** Stops the upstream config subscription. */
  upstream: (() => void) | undefined = undefined;
  /** Every stream left (or failed) before the upstream subscription was returned. */
  done = false;
  /** buildSnapshot's options: the encoder, and the last config built and its snapshot (updated in place). */
  private readonly options: { encoder: ResourceEncoder; previous: { config: GeneratedConfig; snapshot: Snapshot } | undefined };

  constructor(
    /** proxyKey of the proxy, for `latest`. */
    readonly proxyKey: string,
    /** Usually one (an ADS stream): an array costs a fraction of a Set. */
    readonly sinks: SnapshotSink[],
    private readonly node: NodeInfo,
    private readonly context: WatchContext,
  ) {
    // `previous` set now (undefined): a field added later goes to a separate property array.
    this.options = { encoder: context.encoder, previous: undefined };
  }

  /** Returns the form of `config` kept (retainConfig), for the producer to keep in its place. */
  next(config: GeneratedConfig): GeneratedConfig {
    const options = this.options;
    const result: SnapshotResult = buildSnapshot(config, options);
    if (!result.ok) {
      this.context.log.error({ node: this.node.id, mesh: nodeMesh(this.node), errors: result.errors }, 'generated config is inconsistent; keeping the last good snapshot');
      return config;
    }
    const previous = options.previous;
    const before = previous?.snapshot;
    // Kept without the plain objects it was encoded from (retain.ts): every idle proxy keeps it.
    const kept = retainConfig(config, result.snapshot);
    // Updated in place: one object per watch, not one per config (every proxy, every change).
    if (previous) {
      previous.config = kept;
      previous.snapshot = result.snapshot;
    } else options.previous = { config: kept, snapshot: result.snapshot };
    this.context.latest.set(this.proxyKey, result.snapshot);
    if (before !== undefined && sameSnapshotContent(before, result.snapshot)) return kept;
    this.last = result.snapshot;
    const sinks = this.sinks;
    if (sinks.length === 1) sinks[0]!.next(result.snapshot);
    else for (const sink of [...sinks]) if (sinks.includes(sink)) sink.next(result.snapshot);
    return kept;
  }

  error(err: unknown): void {
    for (const sink of [...this.sinks]) sink.error(err);
  }

  complete(): void {
    for (const sink of [...this.sinks]) sink.complete?.();
  }
}

/** What `SnapshotCache.listen` delivers to (an rxjs Subscriber is one). */
export interface SnapshotSink {
  next(snapshot: Snapshot): void;
  error(err: unknown): void;
  complete?(): void;
}

/**
 * Where a config stream's configs go. `next` may return the form of the config its receiver keeps
 * (the snapshot cache: the config with its encoded lists replaced by stand-ins, retain.ts), which
 * the producer then keeps in place of the config, so neither holds the plain objects.
 */
export interface ConfigReceiver {
  next(config: GeneratedConfig): GeneratedConfig | void;
  error(err: unknown): void;
  complete(): void;
}

/** A config source that can be listened to without an rxjs subscriber chain (runtime/proxy-configs.ts ProxyConfigs). */
export interface ConfigStream {
  listen(sink: ConfigReceiver): () => void;
}

function isConfigStream(source: unknown): source is ConfigStream {
  return typeof (source as Partial<ConfigStream>).listen === 'function';
}

/** Subscribes `sink` to `source`: directly when it is a ConfigStream, else through rxjs. Returns the way to stop. */
function listenTo(source: Observable<GeneratedConfig>, sink: ConfigReceiver): () => void {
  if (isConfigStream(source)) return source.listen(sink);
  const subscription = source.subscribe(sink);
  return () => subscription.unsubscribe();
}

const NO_OP = (): void => undefined;

/** setTimeout takes at most 2^31-1 ms (~24.8 days); a longer token is re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Everything generation reads from the node: streams that differ in any of it never share one. */
function watchKey(node: NodeInfo): string {
  const flavor = node.metadata['flavor'];
  return JSON.stringify([nodeMesh(node), node.id, typeof flavor === 'string' ? flavor : null]);
}

export class SnapshotCache implements ConfigWatcher {
  private readonly watches = new Map<string, SharedWatch>();
  private readonly latest = new Map<string, Snapshot>();
  /** Shared watches per proxy (proxyKey): a proxy's flavors each have one. */
  private readonly watchesPerProxy = new Map<string, number>();
  private readonly authenticate: NodeAuthenticator;
  private readonly defined: (mesh: string, name: string) => boolean;
  private readonly context: WatchContext;

  constructor(
    private readonly source: ConfigSource,
    log: CacheLogger,
    options: SnapshotCacheOptions = {},
  ) {
    this.authenticate = options.authenticate ?? (() => ({ ok: true }));
    this.defined = options.defined ?? (() => false);
    this.context = { log, latest: this.latest, encoder: options.encoder ?? new ResourceEncoder() };
  }

  /** Shared generations and kept snapshots, for bounds checks. */
  get sizes(): { readonly watches: number; readonly latest: number } {
    return { watches: this.watches.size, latest: this.latest.size };
  }

  /** Streams of one proxy (ADS plus per-type, or a reconnect overlapping the old stream) share one generation. */
  watch(node: NodeInfo): Observable<Snapshot> {
    return new Observable<Snapshot>((subscriber) => this.listen(node, subscriber));
  }

  /**
   * `watch(node).subscribe(sink)` without an rxjs subscriber per stream (about a kilobyte per
   * connected proxy, idle memory): the sink gets the snapshots, or the error that ends
   * the watch (a refused node: at once), after which it hears nothing more. Returns the way to
   * stop; call it after an error too (as rxjs unsubscribes on error), so the stream is released.
   */
  listen(node: NodeInfo, sink: SnapshotSink): () => void {
    const auth = this.authenticate(node);
    if (!auth.ok) {
      sink.error(auth.error);
      return NO_OP;
    }
    const key = watchKey(node);
    let shared = this.watches.get(key);
    if (!shared) {
      // Made with its first sink: an array grown by push from empty reserves room for 17.
      shared = new SharedWatch(proxyKey(nodeRef(node)), [sink], node, this.context);
      this.watches.set(key, shared);
      this.watchesPerProxy.set(shared.proxyKey, (this.watchesPerProxy.get(shared.proxyKey) ?? 0) + 1);
    } else shared.sinks.push(sink);
    const current = shared;
    if (current.connected) {
      if (current.last !== undefined) sink.next(current.last);
    } else {
      this.connect(node, current);
    }
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let unwatch: (() => void) | undefined;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      unwatch?.();
      const at = current.sinks.indexOf(sink);
      if (at >= 0) current.sinks.splice(at, 1);
      // Forget it once nobody watches, so a reconnect generates afresh (new certificates etc.).
      if (current.sinks.length === 0) {
        current.done = true;
        current.upstream?.();
      }
      if (current.sinks.length === 0 && this.watches.get(key) === current) {
        this.watches.delete(key);
        const remaining = (this.watchesPerProxy.get(current.proxyKey) ?? 1) - 1;
        if (remaining > 0) this.watchesPerProxy.set(current.proxyKey, remaining);
        else {
          this.watchesPerProxy.delete(current.proxyKey);
          const ref = nodeRef(node);
          if (!this.defined(ref.mesh, ref.name)) this.latest.delete(current.proxyKey);
        }
      }
    };
    if (auth.expiresAt) {
      const expiresAt = auth.expiresAt;
      const arm = (): void => {
        if (stopped) return;
        const remaining = expiresAt.getTime() - Date.now();
        if (remaining <= 0) {
          const ref = nodeRef(node);
          // SPEC §2 Tokens: a token is valid until `exp`; past it the stream has no credential.
          const error = new WatchError(
            grpcStatus.UNAUTHENTICATED,
            `dataplane token of node "${ref.name}" in mesh "${ref.mesh}" expired at ${expiresAt.toISOString()}; reconnect with a new token (meshcp token generate --name ${ref.name} --mesh ${ref.mesh})`,
          );
          // As an rxjs error: the watch ends for this stream, then the sink hears of it.
          stop();
          sink.error(error);
          return;
        }
        timer = setTimeout(arm, Math.min(remaining, MAX_TIMER_MS));
      };
      arm();
    }
    // SPEC §2 Token lifecycle: a revoked token's open streams end, this one among them.
    if (auth.revocation && !stopped) {
      unwatch = auth.revocation((error) => {
        if (stopped) return;
        stop();
        sink.error(error);
      });
    }
    return stop;
  }

  /** The last snapshot published to the proxy `name` of `mesh`, for config dumps. */
  lastSnapshot(name: string, mesh = 'default'): Snapshot | undefined {
    return this.latest.get(proxyKey({ mesh, name }));
  }

  /** Drops the kept snapshots of proxies nobody watches that the config no longer defines. */
  prune(): void {
    for (const key of this.latest.keys()) {
      if (this.watchesPerProxy.has(key)) continue;
      const [mesh, name] = JSON.parse(key) as [string, string];
      if (!this.defined(mesh, name)) this.latest.delete(key);
    }
  }

  /** Subscribes the shared watch to the proxy's configs. */
  private connect(node: NodeInfo, shared: SharedWatch): void {
    shared.connected = true;
    const upstream = listenTo(this.source(node), shared);
    if (shared.done) upstream();
    else shared.upstream = upstream;
  }
}

/**
 * Unary Fetch* (the per-type services' REST-like calls). A fetch passes the gates a stream's first
 * request passes: its node is read alone and bounded, checked (nodeProblem), and authenticated
 * before anything else of the request is decoded; a refusal has the stream's gRPC status
 * (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAUTHENTICATED, PERMISSION_DENIED) and one log line.
 *
 * A fetch joins the proxy's config watch, so it gets the workload certificate the proxy's streams
 * have. The watch a fetch opened is kept for `lingerMs` after it answered: sequential fetches of a
 * proxy with no stream reuse one certificate instead of each issuing a new one. At most
 * MAX_LINGERING watches are kept so (the oldest goes first), and only for authenticated callers.
 */
import { encodeResource, type EncodedResource } from '../snapshot/encode.js';
import { MAX_ABSENT_ANSWERS, MAX_RESOURCE_NAME_LENGTH, type XdsLimits } from './limits.js';
import { nodeMesh, nodeProblem, proxyKey } from '../snapshot/node.js';
import { decodeRequest, readNode, RequestRefusal } from './request.js';
import { WatchError, type ConfigWatcher, type NodeInfo } from '../snapshot/watcher.js';
import type { SessionLogger } from './session.js';
import type { Snapshot } from '../snapshot/snapshot.js';
import { ENDPOINT_TYPE, protoNameOf } from '../snapshot/types.js';
import { toWireResponse } from './wire.js';

const INVALID_ARGUMENT = 3;
const RESOURCE_EXHAUSTED = 8;
const UNAVAILABLE = 14;

export const DEFAULT_FETCH_LINGER_MS = 5 * 60_000;
const MAX_LINGERING = 1024;
const FETCH_TIMEOUT_MS = 10_000;

export interface FetchOptions {
  readonly watcher: ConfigWatcher;
  readonly log: SessionLogger;
  readonly limits: Pick<XdsLimits, 'maxNodeBytes' | 'maxNamesPerType'>;
  /** How long a fetch's config watch is kept after it answered. */
  readonly lingerMs?: number;
  /** The server's counters: a fetch decoded whole counts as a decoded request. */
  readonly stats?: { decodedRequests: number };
}

interface Lingering {
  readonly stop: () => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** The status a failed fetch ends with. */
export function fetchErrorStatus(err: unknown): { code: number; details: string } {
  if (err instanceof RequestRefusal || err instanceof WatchError) return { code: err.grpcCode, details: err.message };
  return { code: UNAVAILABLE, details: err instanceof Error ? err.message : String(err) };
}

export class FetchService {
  private readonly lingering = new Map<string, Lingering>();
  private closed = false;

  constructor(private readonly options: FetchOptions) {}

  /** Config watches kept for sequential fetches, for bounds checks. */
  get lingeringWatches(): number {
    return this.lingering.size;
  }

  async fetch(bytes: Buffer, typeUrl: string, peer: string): Promise<object> {
    let node: NodeInfo;
    try {
      node = this.admit(bytes);
    } catch (err) {
      const { code, details } = fetchErrorStatus(err);
      this.options.log.warn({ peer, code }, `refused an xDS fetch: ${details}`);
      throw err;
    }
    // Authentication: a refused caller is logged by the authenticator, and nothing is kept.
    const snapshot = await this.open(node);
    if (this.options.stats) this.options.stats.decodedRequests++;
    const request = decodeRequest(bytes, false);
    const names = request.resourceNames.filter((n) => n !== '*');
    const refusal = namesProblem(names, typeUrl, this.options.limits.maxNamesPerType);
    if (refusal !== undefined) {
      this.options.log.warn({ node: node.id, mesh: nodeMesh(node), code: refusal.grpcCode }, `refused an xDS fetch: ${refusal.message}`);
      throw refusal;
    }
    const all = snapshot.resources.get(typeUrl) ?? new Map<string, EncodedResource>();
    let absent = 0;
    // As on a stream, every requested EDS name is answered, an unknown cluster with no endpoints (up to a bound).
    const answer = (n: string): EncodedResource[] => {
      const found = all.get(n);
      if (found) return [found];
      return typeUrl === ENDPOINT_TYPE && ++absent <= MAX_ABSENT_ANSWERS ? [encodeResource(ENDPOINT_TYPE, { cluster_name: n })] : [];
    };
    const resources = names.length === 0 ? [...all.values()] : names.flatMap(answer);
    return toWireResponse({ kind: 'sotw', typeUrl, versionInfo: snapshot.typeVersions.get(typeUrl) ?? '', nonce: '', resources });
  }

  close(): void {
    this.closed = true;
    for (const entry of this.lingering.values()) {
      clearTimeout(entry.timer);
      entry.stop();
    }
    this.lingering.clear();
  }

  /** The node of a fetch, read and checked as a stream's first request's is; throws a RequestRefusal. */
  private admit(bytes: Buffer): NodeInfo {
    const node = readNode(bytes, false, this.options.limits.maxNodeBytes);
    if (!node || node.id === '') throw new RequestRefusal(INVALID_ARGUMENT, 'a fetch must carry a node with a non-empty node.id');
    const problem = nodeProblem(node);
    if (problem !== undefined) throw new RequestRefusal(INVALID_ARGUMENT, problem);
    return node;
  }

  /** Joins the proxy's config watch and resolves with its snapshot; the watch then lingers. */
  private open(node: NodeInfo): Promise<Snapshot> {
    return new Promise<Snapshot>((resolve, reject) => {
      let settled = false;
      let failed = false;
      let stop: (() => void) | undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const key = watchKey(node);
      // listen may deliver before it returns `stop`: read it when called.
      const release = (): void => stop?.();
      const sink = {
        next: (snapshot: Snapshot): void => {
          if (settled) return;
          settled = true;
          if (timer !== undefined) clearTimeout(timer);
          this.linger(key, release);
          resolve(snapshot);
        },
        error: (err: unknown): void => {
          if (settled) {
            // A lingering watch that ended (its token expired): forget it.
            this.forget(key, release);
            return;
          }
          settled = true;
          failed = true;
          if (timer !== undefined) clearTimeout(timer);
          release();
          reject(err instanceof WatchError ? err : new WatchError(UNAVAILABLE, err instanceof Error ? err.message : String(err)));
        },
      };
      const watcher = this.options.watcher;
      if (watcher.listen) stop = watcher.listen(node, sink);
      else {
        const subscription = watcher.watch(node).subscribe(sink);
        stop = () => subscription.unsubscribe();
      }
      if (failed) {
        stop();
        return;
      }
      if (!settled) {
        timer = setTimeout(() => {
          if (settled) return;
          settled = true;
          release();
          reject(new WatchError(UNAVAILABLE, `no configuration for proxy "${node.id}" within ${FETCH_TIMEOUT_MS} ms; try again`));
        }, FETCH_TIMEOUT_MS);
      }
    });
  }

  /** Keeps a watch for `lingerMs`, replacing (after) the proxy's older one. */
  private linger(key: string, stop: () => void): void {
    if (this.closed) {
      stop();
      return;
    }
    const timer = setTimeout(() => this.forget(key, stop), this.options.lingerMs ?? DEFAULT_FETCH_LINGER_MS);
    timer.unref();
    const previous = this.lingering.get(key);
    this.lingering.delete(key);
    this.lingering.set(key, { stop, timer });
    if (previous) {
      clearTimeout(previous.timer);
      previous.stop();
    }
    if (this.lingering.size > MAX_LINGERING) {
      const [oldestKey] = this.lingering.keys();
      if (oldestKey !== undefined) this.forget(oldestKey, undefined);
    }
  }

  /** Stops the lingering watch of `key` (only the one whose stop is `stop`, when given). */
  private forget(key: string, stop: (() => void) | undefined): void {
    const entry = this.lingering.get(key);
    if (!entry || (stop !== undefined && entry.stop !== stop)) return;
    this.lingering.delete(key);
    clearTimeout(entry.timer);
    entry.stop();
  }
}

function namesProblem(names: readonly string[], typeUrl: string, max: number): RequestRefusal | undefined {
  const type = protoNameOf(typeUrl);
  if (names.length > max) return new RequestRefusal(RESOURCE_EXHAUSTED, `the fetch asks for ${names.length} ${type} names; at most ${max} are allowed (--xds-max-names-per-type)`);
  const long = names.find((n) => n.length > MAX_RESOURCE_NAME_LENGTH);
  if (long !== undefined) return new RequestRefusal(INVALID_ARGUMENT, `a ${type} resource name is ${long.length} characters long; at most ${MAX_RESOURCE_NAME_LENGTH} are allowed`);
  return undefined;
}

/** What generation reads from the node (cache.ts watchKey): fetches of one proxy and flavor share a watch. */
function watchKey(node: NodeInfo): string {
  const flavor = node.metadata['flavor'];
  return JSON.stringify([proxyKey({ mesh: nodeMesh(node), name: node.id }), typeof flavor === 'string' ? flavor : null]);
}

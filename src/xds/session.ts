/**
 * The xDS protocol state machine for one gRPC stream (ADS or per-type, SotW or Delta).
 * It knows nothing about gRPC or the config model: requests come in as plain values,
 * responses go out through `send`, snapshots come from a `ConfigWatcher`.
 *
 * Protocol rules (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol):
 * - The first request for a type on a stream is always answered, even when it carries a
 *   version or nonce from an earlier stream (envoy #15767): the new stream starts fresh.
 * - A request whose nonce is not the latest one sent for that type is stale and ignored.
 * - A NACK (`error_detail` set) is recorded; the same content is never sent again
 *   (go-control-plane #962, an endless NACK loop). Only a change of content is pushed.
 * - At most one unacknowledged response per type per stream; later changes are coalesced
 *   into the next response once the ACK/NACK arrives (Istio PR #28261).
 * - Every requested EDS name is answered, with an empty ClusterLoadAssignment if unknown,
 *   or Envoy waits for it while warming (SotW). In Delta an unknown name is reported in
 *   `removed_resources`, the protocol's way of saying it does not exist.
 * - LDS/CDS SotW responses carry the full set (absence means delete).
 * - After a Cluster changes, its EDS name is answered again even when the endpoints did not
 *   change: Envoy keeps the updated cluster warming until it gets a ClusterLoadAssignment
 *   (envoy#13009, #31535; Istio pushes EDS for an updated service). Delta forgets the client's
 *   version instead.
 * - Make-before-break (xDS protocol "Eventual consistency considerations"): a Listener or
 *   RouteConfiguration naming a cluster or secret that this stream has not sent yet, or whose
 *   push awaits its ACK, is held (Envoy holds a CDS ACK while the new clusters warm); a cluster
 *   or secret the snapshot dropped stays while a Listener/RouteConfiguration (or Cluster) the
 *   client holds still names it, and goes once the change that stops naming it is ACKed. Only
 *   types on the same stream can be ordered: per-type streams are independent.
 * - SotW: an empty `resource_names` is the legacy wildcard only until names were requested; after
 *   that it unsubscribes from everything (xDS protocol, "How the client specifies what resources
 *   to return"). Delta: subscribing again to a name (or `*`) the client holds resends it ("the
 *   server must still provide it").
 * - State is bounded by what is subscribed: nothing is remembered per name once unsubscribed.
 */
import { randomBytes } from 'node:crypto';
import type { Observable } from 'rxjs';
import { encodeResource, type EncodedResource } from './encode.js';
import { replacedKey, sortedVersion, typeSet, typeVersion, type Snapshot } from './snapshot.js';
import { nodeFlavor, nodeProblem, nodeRef, printableExcerpt, type ProxyRef } from './node.js';
import { nackHint, type ProxyStatus, type StatusRegistry, type StatusTypeRow } from './status.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, KNOWN_TYPES, LISTENER_TYPE, PUSH_ORDER, ROUTE_TYPE, SECRET_TYPE, isFullStateType } from './types.js';

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

export interface XdsRequest {
  readonly node?: NodeInfo;
  readonly typeUrl: string;
  /** SotW */
  readonly versionInfo: string;
  readonly resourceNames: readonly string[];
  /** Delta */
  readonly subscribe: readonly string[];
  readonly unsubscribe: readonly string[];
  readonly initialVersions: Readonly<Record<string, string>>;
  readonly responseNonce: string;
  readonly errorDetail?: string;
}

export type XdsResponse =
  | { kind: 'sotw'; typeUrl: string; versionInfo: string; nonce: string; resources: readonly EncodedResource[] }
  | { kind: 'delta'; typeUrl: string; systemVersionInfo: string; nonce: string; resources: readonly EncodedResource[]; removed: readonly string[] };

export interface SessionLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface SessionOptions {
  readonly mode: 'sotw' | 'delta';
  /** Set on the per-type services; ADS streams carry any type. */
  readonly fixedTypeUrl?: string;
  readonly watcher: ConfigWatcher;
  readonly status: StatusRegistry;
  readonly log: SessionLogger;
  send(response: XdsResponse): void;
  close(grpcCode: number, message: string): void;
}

// gRPC status codes used here.
const INVALID_ARGUMENT = 3;
/** Refused secret names remembered per stream, so each is logged once; bounded so a stream cannot grow it without limit. */
const MAX_TRACKED_REFUSALS = 1024;
/** Names quoted in a refusal log line. */
const REFUSAL_SAMPLES = 5;

/**
 * What the client holds of one type, by name: the resource this stream sent, or undefined when
 * only its version is known (Delta `initial_resource_versions`).
 */
type Holding = ReadonlyMap<string, EncodedResource | undefined>;

/**
 * A Set or Map that stays empty, shared by every stream for what it never records (a SotW stream
 * keeps no client versions; most types are never owed a re-answer): empty collections cost about
 * 150 bytes each, times seven per type per proxy. Writing to one is a bug, and throws.
 */
class EmptySet<T> extends Set<T> {
  override add(): this {
    throw new Error('internal: write to a shared empty set');
  }
}
class EmptyMap<K, V> extends Map<K, V> {
  override set(): this {
    throw new Error('internal: write to a shared empty map');
  }
}
const NO_NAMES: Set<string> = new EmptySet<string>();
const NO_VERSIONS: Map<string, string> = new EmptyMap<string, string>();
const NOTHING_HELD: Holding = new EmptyMap<string, EncodedResource | undefined>();

/** A Delta stream's own holding (never a snapshot's map): Delta updates it in place. */
function owned(holding: Holding): Map<string, EncodedResource | undefined> {
  return holding as Map<string, EncodedResource | undefined>;
}

/** `holding` without `name`: a copy when it has it (a SotW holding may be a snapshot's shared map). */
function without(holding: Holding, name: string): Holding {
  if (!holding.has(name)) return holding;
  const copy = new Map(holding);
  copy.delete(name);
  return copy;
}

interface TypeState {
  readonly typeUrl: string;
  wildcard: boolean;
  /** SotW replaces it on a subscription change; Delta owns one and updates it. */
  names: Set<string>;
  /** SotW: names were requested on this subscription, so an empty list no longer means wildcard. */
  explicit: boolean;
  /** Nonce of the response waiting for an ACK/NACK, if any. */
  pendingNonce?: string;
  /** Nonce of the latest response sent, ACKed or not: the only one a request may carry. */
  lastNonce?: string;
  pendingVersion?: string;
  /** Force an answer even if the content did not change (first request, new subscription). */
  mustAnswer: boolean;
  /** SotW: the version of the last response sent (ACKed or NACKed), a hash of its content. */
  lastSentVersion?: string;
  /** Delta: the resource versions the client holds, as far as this stream knows ('' = forgotten: resend). SotW: always empty. */
  clientVersions: Map<string, string>;
  /** Delta: subscribed names already reported absent. SotW: always empty. */
  reportedAbsent: Set<string>;
  /** Whether the latest response was NACKed. */
  nacked: boolean;
  /** What the client holds once it applies the latest response. */
  latest: Holding;
  /** What it held at its last ACK: a NACKed response leaves it there. */
  acked: Holding;
  /** What the pending response makes it hold, once ACKed. */
  pendingHolding?: Holding;
  /** A push was held back, or kept a removal back: retry it when another type settles. */
  deferred: boolean;
  /** SotW EDS: names whose Cluster changed, owed an answer even if their endpoints did not (created when needed). */
  owed?: Set<string>;
  /** SotW EDS without CDS on this stream: owed names already sent, answered once more on a re-request (created when needed). */
  reanswer?: Set<string>;
  /** This type's row in the proxy's status (StatusRegistry.typeRowOf), once a push or ACK needed it. */
  statusRow?: StatusTypeRow;
}

const WILDCARD = 1;
const EXPLICIT = 2;
const MUST_ANSWER = 4;
const NACKED = 8;
const DEFERRED = 16;

/**
 * A TypeState as a stream keeps it: every field set at creation (a field added later goes to a
 * separate property array) and the five flags in one small integer, read and written through
 * accessors. Every connected proxy has four or five (issue #11 idle memory).
 */
class TypeStateRecord implements TypeState {
  private flags = MUST_ANSWER;
  names: Set<string>;
  pendingNonce: string | undefined = undefined;
  lastNonce: string | undefined = undefined;
  pendingVersion: string | undefined = undefined;
  lastSentVersion: string | undefined = undefined;
  clientVersions: Map<string, string>;
  reportedAbsent: Set<string>;
  latest: Holding;
  acked: Holding;
  pendingHolding: Holding | undefined = undefined;
  owed: Set<string> | undefined = undefined;
  reanswer: Set<string> | undefined = undefined;
  statusRow: StatusTypeRow | undefined = undefined;

  constructor(
    readonly typeUrl: string,
    delta: boolean,
  ) {
    this.names = delta ? new Set() : NO_NAMES;
    this.clientVersions = delta ? new Map() : NO_VERSIONS;
    this.reportedAbsent = delta ? new Set() : NO_NAMES;
    this.latest = delta ? new Map() : NOTHING_HELD;
    this.acked = delta ? new Map() : NOTHING_HELD;
  }

  private flag(bit: number, value: boolean): void {
    this.flags = value ? this.flags | bit : this.flags & ~bit;
  }
  get wildcard(): boolean {
    return (this.flags & WILDCARD) !== 0;
  }
  set wildcard(value: boolean) {
    this.flag(WILDCARD, value);
  }
  get explicit(): boolean {
    return (this.flags & EXPLICIT) !== 0;
  }
  set explicit(value: boolean) {
    this.flag(EXPLICIT, value);
  }
  get mustAnswer(): boolean {
    return (this.flags & MUST_ANSWER) !== 0;
  }
  set mustAnswer(value: boolean) {
    this.flag(MUST_ANSWER, value);
  }
  get nacked(): boolean {
    return (this.flags & NACKED) !== 0;
  }
  set nacked(value: boolean) {
    this.flag(NACKED, value);
  }
  get deferred(): boolean {
    return (this.flags & DEFERRED) !== 0;
  }
  set deferred(value: boolean) {
    this.flag(DEFERRED, value);
  }
}

/**
 * A stream's type states, one slot per known type (PUSH_ORDER): a Map per stream cost about 250
 * bytes per connected proxy (issue #11 idle memory). Only known types get a state (onRequest).
 */
class TypeStates {
  private readonly slots: (TypeState | undefined)[] = [undefined, undefined, undefined, undefined, undefined];

  get(typeUrl: string): TypeState | undefined {
    const i = PUSH_ORDER.indexOf(typeUrl);
    return i < 0 ? undefined : this.slots[i];
  }
  has(typeUrl: string): boolean {
    return this.get(typeUrl) !== undefined;
  }
  set(typeUrl: string, state: TypeState): void {
    const i = PUSH_ORDER.indexOf(typeUrl);
    if (i < 0) throw new Error(`internal: no state slot for ${typeUrl}`);
    this.slots[i] = state;
  }
}
if (PUSH_ORDER.length !== 5) throw new Error('internal: TypeStates has five slots');

/** A session's sink for its config watch: an object with methods, not two closures per stream. */
class SessionSink {
  constructor(private readonly session: XdsSession) {}
  next(snapshot: Snapshot): void {
    this.session.onSnapshot(snapshot);
  }
  error(err: unknown): void {
    this.session.onWatchError(err);
  }
}

let streamCounter = 0;
/**
 * Nonces are `<process prefix><stream counter>-<response counter>`: unique per stream within the
 * process, and, by the random prefix drawn once per process, not repeated by a restarted one
 * (a per-stream draw cost a synchronous randomBytes call per connecting proxy).
 */
const PROCESS_PREFIX = randomBytes(4).toString('hex');

export class XdsSession {
  private node?: NodeInfo;
  private snapshot?: Snapshot;
  /** Stops the config watch (ConfigWatcher.listen, or the subscription to `watch`). */
  private stopWatch?: () => void;
  private readonly types = new TypeStates();
  private readonly streamId = `${PROCESS_PREFIX}${(++streamCounter).toString(36)}`;
  private nonceCounter = 0;
  /** Secret names this stream asked for and did not get; logged once each (up to MAX_TRACKED_REFUSALS names). */
  private refusedSecrets: Set<string> = NO_NAMES;
  /** Refusals found by the push in progress, logged as one line (security issue #9: not one line per name). */
  private refusalBatch?: { count: number; samples: string[]; saturated: boolean };
  /** Set once more than MAX_TRACKED_REFUSALS names were refused: later refusals are not logged (they would repeat on every push). */
  private refusalsSaturated = false;
  /** The proxy this stream serves, (mesh, name): the status registry's key. */
  private proxy: ProxyRef = { mesh: '', name: '' };
  /** Whether this stream was authenticated and counted in the status registry. */
  private registered = false;
  /** The proxy's status row while this stream is open (StatusRegistry.streamOpened). */
  private row?: ProxyStatus;
  private closed = false;
  /** Types whose `deferred` is set (setDeferred): with none, a request or snapshot need not look at every type. */
  private deferredTypes = 0;

  constructor(private readonly options: SessionOptions) {}

  get nodeId(): string | undefined {
    return this.node?.id;
  }

  onRequest(request: XdsRequest): void {
    if (this.closed) return;
    if (!this.acceptNode(request.node)) return;
    const requested = this.resolveTypeUrl(request.typeUrl);
    if (requested === undefined) return;
    // The constant itself: every later lookup and comparison of this request's type is by identity.
    const typeUrl = CANONICAL_TYPES.get(requested);
    if (typeUrl === undefined) {
      this.options.log.warn({ node: this.node?.id, typeUrl: requested }, 'ignoring request for an unknown resource type');
      return;
    }
    const state = this.types.get(typeUrl);
    const changed = this.options.mode === 'sotw' ? this.onSotwRequest(typeUrl, state, request) : this.onDeltaRequest(typeUrl, state, request);
    // An ACKed CDS/SDS may release a held LDS/RDS, an ACKed LDS/RDS a removal kept back: retry
    // the deferred types too, in make-before-break order.
    // (A push may defer another type, e.g. a CDS push owes EDS: the count is read as the loop goes.)
    if (!changed && this.deferredTypes === 0) return;
    for (const type of PUSH_ORDER) {
      if ((type === typeUrl && changed) || (this.deferredTypes > 0 && this.types.get(type)?.deferred === true)) this.push(type);
    }
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopWatch?.();
    if (this.registered) this.options.status.streamClosed(this.proxy);
    this.row = undefined;
  }

  private acceptNode(node: NodeInfo | undefined): boolean {
    if (this.node) {
      // Envoy may send the node on the first request only; a different id is a different proxy.
      if (node && node.id !== '' && node.id !== this.node.id) {
        // The new id is not echoed: it was never validated (nodeProblem), it may be huge or hold terminal escapes.
        this.fail(INVALID_ARGUMENT, `node.id changed on the stream from "${this.node.id}" to "${printableExcerpt(node.id)}"`);
        return false;
      }
      return true;
    }
    if (!node || node.id === '') {
      this.fail(INVALID_ARGUMENT, 'the first request on a stream must carry a non-empty node.id');
      return false;
    }
    // Security issue #9 (holes 8, 9): nothing is kept or logged about a node that is unbounded or
    // not printable; its values are not echoed either.
    const problem = nodeProblem(node);
    if (problem !== undefined) {
      this.fail(INVALID_ARGUMENT, problem);
      return false;
    }
    this.node = node;
    this.proxy = nodeRef(node);
    // Authentication happens in watch(): a refused stream fails synchronously and is never
    // registered, so unauthenticated callers leave no status row (security issue #9, hole 8).
    const sink = new SessionSink(this);
    const watcher = this.options.watcher;
    let stop: () => void;
    if (watcher.listen) stop = watcher.listen(node, sink);
    else {
      const subscription = watcher.watch(node).subscribe(sink);
      stop = () => subscription.unsubscribe();
    }
    if (this.closed) {
      stop();
      return false;
    }
    this.stopWatch = stop;
    this.registered = true;
    this.row = this.options.status.streamOpened(this.proxy, nodeFlavor(node));
    return true;
  }

  private resolveTypeUrl(requested: string): string | undefined {
    const fixed = this.options.fixedTypeUrl;
    if (fixed === undefined) {
      if (requested === '') {
        this.fail(INVALID_ARGUMENT, 'type_url is required on an aggregated stream');
        return undefined;
      }
      return requested;
    }
    if (requested !== '' && requested !== fixed) {
      this.fail(INVALID_ARGUMENT, `this service serves ${fixed}, not ${requested}`);
      return undefined;
    }
    return fixed;
  }

  /** The watch ended with an error (SessionSink): the stream ends with its gRPC status. */
  onWatchError(err: unknown): void {
    const code = err instanceof WatchError ? err.grpcCode : 13;
    this.fail(code, err instanceof Error ? err.message : String(err));
  }

  private fail(code: number, message: string): void {
    this.options.log.warn({ node: this.node?.id, code }, `closing xDS stream: ${message}`);
    this.options.close(code, message);
    this.end();
  }

  private newState(typeUrl: string): TypeState {
    const delta = this.options.mode === 'delta';
    const state = new TypeStateRecord(typeUrl, delta);
    this.types.set(typeUrl, state);
    return state;
  }

  /** Returns whether a push should be attempted. */
  private onSotwRequest(typeUrl: string, existing: TypeState | undefined, request: XdsRequest): boolean {
    let state = existing;
    if (!state || request.responseNonce === '') {
      // A fresh subscription for this type on this stream (or the client restarted the type).
      if (request.errorDetail !== undefined) this.recordNack(typeUrl, request.versionInfo, request.errorDetail);
      state = state ?? this.newState(typeUrl);
      state.pendingNonce = undefined;
      state.pendingHolding = undefined;
      state.mustAnswer = true;
      // The legacy wildcard applies to the first request of a subscription.
      state.explicit = false;
      this.setSotwNames(state, request.resourceNames);
      return true;
    }
    // Stale: superseded by a newer response. A request carrying the latest nonce after its ACK
    // is how Envoy changes a subscription (e.g. new EDS names after a CDS update), so it is
    // not stale even though nothing is pending any more.
    if (request.responseNonce !== state.lastNonce) return false;
    const settles = request.responseNonce === state.pendingNonce;
    if (settles) this.settlePending(state, request);
    // A NACK of the latest response after it was settled (a client that ACKed, then NACKed the
    // same nonce): its content is never sent again either, so it is not re-answered (reRequested).
    else if (request.errorDetail !== undefined) state.nacked = true;
    if (this.setSotwNames(state, request.resourceNames)) state.mustAnswer = true;
    else if (!settles && this.reRequested(state)) state.mustAnswer = true;
    return true;
  }

  /**
   * SotW EDS on a stream without CDS: the Cluster update reaches Envoy on another stream, after
   * which Envoy asks again for the same names with the latest nonce and keeps the new cluster
   * warming until it is answered (envoy#13009, #31535). Such a request (neither an ACK nor a
   * subscription change) is answered once for names whose cluster changed, unless that response
   * was NACKed (never resend NACKed content, go-control-plane #962).
   */
  private reRequested(state: TypeState): boolean {
    const reanswer = state.reanswer;
    if (reanswer === undefined || reanswer.size === 0) return false;
    const hit = !state.nacked && [...reanswer].some((n) => state.wildcard || state.names.has(n));
    state.reanswer = undefined;
    return hit;
  }

  private onDeltaRequest(typeUrl: string, existing: TypeState | undefined, request: XdsRequest): boolean {
    let state = existing;
    const first = !state;
    if (!state) {
      state = this.newState(typeUrl);
      state.wildcard = request.subscribe.includes('*') || (request.subscribe.length === 0 && isFullStateType(typeUrl));
      for (const [name, version] of Object.entries(request.initialVersions)) {
        state.clientVersions.set(name, version);
        // Held from an earlier stream: its content is unknown here, but the client has it.
        owned(state.latest).set(name, undefined);
        owned(state.acked).set(name, undefined);
      }
      if (request.errorDetail !== undefined) this.recordNack(typeUrl, '', request.errorDetail);
    } else if (request.responseNonce !== '') {
      if (request.responseNonce !== state.pendingNonce) {
        // Stale ACK/NACK; subscription changes still apply (they are not tied to a response).
        if (request.subscribe.length === 0 && request.unsubscribe.length === 0) return false;
      } else {
        this.settlePending(state, request);
      }
    }
    for (const name of request.subscribe) {
      // Subscribing again to what the client holds resends it: "the server must still provide
      // it" (xDS protocol, incremental variant). On the first request, initial_resource_versions
      // say what it holds.
      if (name === '*') {
        if (!first && state.wildcard) this.forgetAll(state);
        state.wildcard = true;
      } else {
        if (!first) this.forget(state, name);
        state.names.add(name);
      }
    }
    for (const name of request.unsubscribe) {
      if (name === '*') state.wildcard = false;
      state.names.delete(name);
      this.release(state, name);
    }
    if (first || request.subscribe.length > 0 || request.unsubscribe.length > 0) this.dropUnsubscribed(state);
    return true;
  }

  /** Delta: the client's copy of `name` no longer counts, so it is sent (or reported absent) again. */
  private forget(state: TypeState, name: string): void {
    if (state.clientVersions.has(name)) state.clientVersions.set(name, '');
    state.reportedAbsent.delete(name);
  }

  private forgetAll(state: TypeState): void {
    for (const name of state.clientVersions.keys()) state.clientVersions.set(name, '');
    state.reportedAbsent.clear();
    state.mustAnswer = true;
  }

  /** Forgets everything about a name the client unsubscribed (it drops the resource). */
  private release(state: TypeState, name: string): void {
    state.clientVersions.delete(name);
    state.reportedAbsent.delete(name);
    state.latest = without(state.latest, name);
    state.acked = without(state.acked, name);
    if (state.pendingHolding) state.pendingHolding = without(state.pendingHolding, name);
    state.owed?.delete(name);
    state.reanswer?.delete(name);
  }

  /** Bounded state (issue #10 point 5): per-name bookkeeping only for what is subscribed. */
  private dropUnsubscribed(state: TypeState): void {
    if (state.wildcard) return;
    const names = new Set<string>();
    for (const map of [state.clientVersions, state.latest, state.acked, state.pendingHolding]) for (const name of map?.keys() ?? []) names.add(name);
    for (const set of [state.reportedAbsent, state.owed, state.reanswer]) for (const name of set ?? []) names.add(name);
    for (const name of names) if (!state.names.has(name)) this.release(state, name);
  }

  private settlePending(state: TypeState, request: XdsRequest): void {
    const version = state.pendingVersion ?? request.versionInfo;
    state.pendingNonce = undefined;
    state.pendingVersion = undefined;
    const holding = state.pendingHolding;
    state.pendingHolding = undefined;
    state.nacked = request.errorDetail !== undefined;
    // Make-before-break counts on what the client accepted; after a NACK it stays on what it ACKed before.
    if (!state.nacked && holding) state.acked = holding;
    if (request.errorDetail !== undefined) {
      this.recordNack(state.typeUrl, version, request.errorDetail);
    } else {
      this.options.status.acked(this.row ?? this.proxy, state.typeUrl, version, this.statusRow(state));
    }
  }

  private recordNack(typeUrl: string, version: string, error: string): void {
    const hint = nackHint(error);
    this.options.log.warn({ node: this.node?.id, typeUrl, version, error, ...(hint !== undefined ? { hint } : {}) }, 'proxy rejected configuration (NACK)');
    this.options.status.nacked(this.row ?? this.proxy, typeUrl, version, error);
  }

  /** Returns whether the subscription changed. */
  private setSotwNames(state: TypeState, names: readonly string[]): boolean {
    // An empty list is the legacy wildcard (LDS/CDS) only while no names were requested; after
    // explicit names it unsubscribes from everything (xDS protocol, "How the client specifies
    // what resources to return").
    const wildcard = names.includes('*') || (names.length === 0 && !state.explicit && isFullStateType(state.typeUrl));
    if (names.length > 0) state.explicit = true;
    // An ACK repeats the subscription: compared without building a set (every proxy ACKs every push).
    if (wildcard === state.wildcard && sameNames(names, state.names)) return false;
    const next = names.length === 0 ? NO_NAMES : this.namesSet(state.typeUrl, names);
    state.wildcard = wildcard;
    state.names = next.size === 0 ? NO_NAMES : next;
    this.dropUnsubscribed(state);
    return true;
  }

  /**
   * A SotW subscription as a set, the snapshot's own names when they are the same (an EDS or RDS
   * subscription usually is): that set is shared by every stream subscribed to the same names.
   */
  private namesSet(typeUrl: string, names: readonly string[]): Set<string> {
    const all = this.snapshot?.resources.get(typeUrl);
    if (all !== undefined && all.size > 0) {
      const shared = keySet(all);
      if (sameNames(names, shared)) return shared;
    }
    return new Set(names.filter((n) => n !== '*'));
  }

  /** A snapshot from the watch (SessionSink). */
  onSnapshot(snapshot: Snapshot): void {
    const previous = this.snapshot;
    this.snapshot = snapshot;
    // With CDS on this stream, EDS is owed when the CDS carrying the change goes out (pushSotw/pushDelta of CDS);
    // without it (a per-type EDS stream), the change is seen between snapshots.
    if (previous && !this.types.has(CLUSTER_TYPE)) this.oweEndpoints(updatedBetween(previous, snapshot));
    // An endpoint patch replaces one type's set over the previous snapshot's (snapshot.ts MapWith): only that type can differ.
    const only = previous ? replacedKey(previous.resources, snapshot.resources) : undefined;
    for (const typeUrl of PUSH_ORDER) {
      // A type whose map is the previous snapshot's (snapshot.ts reuses unchanged types) has nothing
      // new to send, unless a push of it is owed (deferred); requests push on their own. Skipping it
      // keeps an EDS-only change from costing five pushes' worth of work per proxy (issue #11).
      if (previous) {
        const same = only !== undefined ? typeUrl !== only || previous.resources.get(only) === snapshot.resources.get(only) : previous.resources.get(typeUrl) === snapshot.resources.get(typeUrl);
        if (same && (this.deferredTypes === 0 || this.types.get(typeUrl)?.deferred !== true)) continue;
      }
      this.push(typeUrl);
    }
  }

  /** The type's status row, kept by the type while the stream is open (its row is: streamOpened). */
  private statusRow(state: TypeState): StatusTypeRow | undefined {
    if (this.row === undefined) return undefined;
    return (state.statusRow ??= this.options.status.typeRowOf(this.row, state.typeUrl));
  }

  private setDeferred(state: TypeState, value: boolean): void {
    if (state.deferred === value) return;
    state.deferred = value;
    this.deferredTypes += value ? 1 : -1;
  }

  private push(typeUrl: string): void {
    const state = this.types.get(typeUrl);
    if (!state || this.closed || !this.snapshot || state.pendingNonce !== undefined) return;
    this.setDeferred(state, false);
    if (this.options.mode === 'sotw') this.pushSotw(state, this.snapshot);
    else this.pushDelta(state, this.snapshot);
  }

  private selected(state: TypeState, snapshot: Snapshot): EncodedResource[] {
    const all = snapshot.resources.get(state.typeUrl) ?? NOTHING_SENT;
    // Delta says "does not exist" with removed_resources, so no empty assignment is made up.
    const absent = (name: string): EncodedResource | undefined =>
      this.options.mode === 'delta' && state.typeUrl === ENDPOINT_TYPE ? undefined : this.absentResource(state.typeUrl, name);
    if (state.wildcard) {
      const extra = [...state.names].filter((n) => !all.has(n)).map(absent);
      return [...all.values(), ...extra.filter((r): r is EncodedResource => r !== undefined)];
    }
    const out: EncodedResource[] = [];
    for (const name of state.names) {
      const found = all.get(name) ?? absent(name);
      if (found) out.push(found);
    }
    return out;
  }

  /**
   * EDS names of updated clusters are answered again (envoy#13009, #31535). SotW: marked owed;
   * Delta: the client's version is forgotten, so the next EDS push carries them.
   */
  private oweEndpoints(clusters: readonly EncodedResource[]): void {
    const eds = this.types.get(ENDPOINT_TYPE);
    if (!eds) return;
    for (const cluster of clusters) {
      for (const name of cluster.refs.endpoints) {
        if (!eds.wildcard && !eds.names.has(name)) continue;
        if (this.options.mode === 'delta') this.forget(eds, name);
        else (eds.owed ??= new Set()).add(name);
        this.setDeferred(eds, true);
      }
    }
  }

  /**
   * Make-before-break for additions (issue #10 point 3; xDS protocol "Eventual consistency
   * considerations"): a Listener/RouteConfiguration naming a cluster or secret that this stream
   * will send but has not yet, or whose push awaits its ACK, is held. Envoy holds a CDS ACK while
   * the new clusters warm; a listener going out first points at a cluster that is not there. A
   * name this stream will not send (not in the snapshot, not subscribed — Envoy asks for SDS
   * names only once a listener names them) holds nothing.
   */
  private heldBack(state: TypeState, resources: readonly EncodedResource[], snapshot: Snapshot): boolean {
    if (state.typeUrl !== LISTENER_TYPE && state.typeUrl !== ROUTE_TYPE) return false;
    return resources.some((r) => this.awaits(CLUSTER_TYPE, r.refs.clusters, snapshot) || this.awaits(SECRET_TYPE, r.refs.secrets, snapshot));
  }

  private awaits(typeUrl: string, names: readonly string[], snapshot: Snapshot): boolean {
    if (names.length === 0) return false;
    const dep = this.types.get(typeUrl);
    if (!dep) return false;
    const all = snapshot.resources.get(typeUrl);
    for (const name of names) {
      if (!all?.has(name) || !(dep.wildcard || dep.names.has(name))) continue;
      if (!dep.latest.has(name)) return true;
      if (dep.pendingNonce !== undefined && !dep.acked.has(name)) return true;
    }
    return false;
  }

  /**
   * Make-before-break for removals (issue #10 point 3): a cluster (or secret) that the snapshot
   * dropped is kept while a Listener or RouteConfiguration (for a secret: a Listener or Cluster)
   * that the client holds on this stream, ACKed or just sent, names it and the snapshot's version
   * of that holder no longer does: the change that stops naming it goes out first, and the
   * removal once that is ACKed. When the snapshot's holder still names it (a fail-closed route to
   * a cluster that has gone) nothing would release it, so it is not kept.
   */
  private stillNamed(state: TypeState, snapshot: Snapshot, wanted: { has(name: string): boolean }): Holding {
    const holderTypes = state.typeUrl === CLUSTER_TYPE ? HOLDERS_OF_CLUSTERS : state.typeUrl === SECRET_TYPE ? HOLDERS_OF_SECRETS : undefined;
    if (holderTypes === undefined) return NOTHING_HELD;
    const kept = new Map<string, EncodedResource | undefined>();
    const refsOf = (r: EncodedResource): readonly string[] => (state.typeUrl === CLUSTER_TYPE ? r.refs.clusters : r.refs.secrets);
    const dropped = new Set<string>();
    for (const holding of [state.latest, state.acked]) for (const name of holding.keys()) if (!wanted.has(name)) dropped.add(name);
    if (dropped.size === 0) return NOTHING_HELD;
    for (const holderType of holderTypes) {
      const holder = this.types.get(holderType);
      if (!holder) continue;
      const current = snapshot.resources.get(holderType);
      for (const holding of [holder.latest, holder.acked]) {
        for (const [name, resource] of holding) {
          if (!resource) continue;
          for (const ref of refsOf(resource)) {
            if (!dropped.has(ref) || kept.has(ref)) continue;
            const now = current?.get(name);
            if (!now || !refsOf(now).includes(ref)) kept.set(ref, state.latest.get(ref) ?? state.acked.get(ref));
          }
        }
      }
    }
    return kept;
  }

  /**
   * Every requested EDS name is answered; an unknown cluster has no endpoints. A secret that is
   * not in this proxy's snapshot is never looked up anywhere else: the snapshot was generated
   * for this proxy's identity alone, so asking for another proxy's identity, a route's server
   * key or a CA key yields nothing. The refusal is logged once per name and stream (SPEC §2),
   * as one line per push with a count and a few sample names: a request for 100k unknown
   * secrets once wrote 100k lines (security issue #9, hole 8). At most MAX_TRACKED_REFUSALS
   * names are remembered per stream; past that, the stream's refusals are no longer logged.
   */
  private absentResource(typeUrl: string, name: string): EncodedResource | undefined {
    if (typeUrl === SECRET_TYPE && !this.refusalsSaturated && !this.refusedSecrets.has(name)) {
      if (!this.refusalBatch) {
        const batch = { count: 0, samples: [] as string[], saturated: false };
        this.refusalBatch = batch;
        // Every name of one push is selected synchronously: the batch is complete when this runs.
        queueMicrotask(() => {
          this.refusalBatch = undefined;
          if (batch.saturated) this.refusalsSaturated = true;
          const more = batch.saturated ? `; over ${MAX_TRACKED_REFUSALS} refused on this stream, further refusals on it are not logged` : '';
          this.options.log.warn(
            { node: this.proxy.name, mesh: this.proxy.mesh, count: batch.count, secrets: batch.samples },
            `${batch.count} secret(s) refused: not (or not yet) part of this proxy's configuration${more}`,
          );
        });
      }
      if (this.refusedSecrets.size < MAX_TRACKED_REFUSALS) (this.refusedSecrets === NO_NAMES ? (this.refusedSecrets = new Set()) : this.refusedSecrets).add(name);
      else this.refusalBatch.saturated = true;
      this.refusalBatch.count++;
      if (this.refusalBatch.samples.length < REFUSAL_SAMPLES) this.refusalBatch.samples.push(printableExcerpt(name));
    }
    return typeUrl === ENDPOINT_TYPE ? encodeResource(ENDPOINT_TYPE, { cluster_name: name }) : undefined;
  }

  /**
   * Whether the selection is exactly the snapshot's set of the type (wildcard, or the names it
   * holds; the common case): then the response is that set's shared sorted list and version,
   * computed once for every proxy holding it (snapshot.ts `typeSet`), not sorted and hashed per proxy.
   */
  private selectsAll(state: TypeState, all: ReadonlyMap<string, EncodedResource>): boolean {
    if (state.names instanceof SharedNames && state.names === keySet(all)) return true;
    if (state.wildcard) {
      for (const name of state.names) if (!all.has(name)) return false;
      return true;
    }
    if (state.names.size !== all.size) return false;
    for (const name of state.names) if (!all.has(name)) return false;
    return true;
  }

  private pushSotw(state: TypeState, snapshot: Snapshot): void {
    const all = snapshot.resources.get(state.typeUrl) ?? NOTHING_SENT;
    const whole = this.selectsAll(state, all);
    const chosen = whole ? undefined : this.selected(state, snapshot);
    const kept = this.stillNamed(state, snapshot, whole ? all : new Set(chosen!.map((r) => r.name)));
    this.setDeferred(state, kept.size > 0);
    let resources: readonly EncodedResource[];
    let version: string;
    let names: readonly string[];
    let holding: Holding;
    if (whole && kept.size === 0) {
      const set = typeSet(all);
      resources = set.sorted;
      version = set.version;
      names = set.names;
      holding = all;
    } else {
      const list = [...(chosen ?? typeSet(all).sorted), ...[...kept.values()].filter((r): r is EncodedResource => r !== undefined)].sort(byName);
      resources = list;
      version = sortedVersion(list);
      names = list.map((r) => r.name);
      holding = new Map(list.map((r) => [r.name, r]));
    }
    const owedNames = state.owed;
    const owed = owedNames !== undefined && owedNames.size > 0 && resources.some((r) => owedNames.has(r.name));
    // An owed EDS re-answer (a cluster update) of content the client NACKed is not sent again:
    // never resend NACKed content (go-control-plane #962), as reRequested() holds for SotW too.
    if (version === state.lastSentVersion && !state.mustAnswer && (!owed || state.nacked)) return;
    if (this.heldBack(state, resources, snapshot)) {
      this.setDeferred(state, true);
      return;
    }
    const previous = state.latest;
    state.latest = holding;
    state.pendingHolding = holding;
    state.nacked = false;
    if (owed && !this.types.has(CLUSTER_TYPE)) for (const name of owedNames) if (holding.has(name)) (state.reanswer ??= new Set()).add(name);
    state.owed = undefined;
    if (state.typeUrl === CLUSTER_TYPE) this.oweEndpoints(resources.filter((r) => isUpdate(previous.get(r.name)?.version, r)));
    const nonce = this.nextNonce();
    state.lastSentVersion = version;
    state.mustAnswer = false;
    state.pendingNonce = nonce;
    state.lastNonce = nonce;
    state.pendingVersion = version;
    this.options.status.sent(this.row ?? this.proxy, state.typeUrl, version, nonce, names, this.statusRow(state));
    this.options.send({ kind: 'sotw', typeUrl: state.typeUrl, versionInfo: version, nonce, resources });
  }

  private pushDelta(state: TypeState, snapshot: Snapshot): void {
    const all = snapshot.resources.get(state.typeUrl) ?? NOTHING_SENT;
    const wanted = this.selected(state, snapshot);
    const wantedNames = new Set(wanted.map((r) => r.name));
    const changed = wanted.filter((r) => state.clientVersions.get(r.name) !== r.version);
    const kept = this.stillNamed(state, snapshot, wantedNames);
    this.setDeferred(state, kept.size > 0);
    // clientVersions holds subscribed names only (dropUnsubscribed); a dropped one that is still
    // named waits (make-before-break).
    const removed = [...state.clientVersions.keys()].filter((name) => !wantedNames.has(name) && !kept.has(name));
    // Tell the client once that a name it asked for does not exist (so it stops waiting).
    const absent = [...state.names].filter((name) => !all.has(name) && !wantedNames.has(name) && !state.clientVersions.has(name) && !state.reportedAbsent.has(name));
    // The first wildcard request is answered even when empty, or Envoy does not finish
    // initializing (go-control-plane respondDelta: `state.IsWildcard() && state.IsFirst()`).
    const firstWildcard = state.mustAnswer && state.wildcard;
    if (changed.length === 0 && removed.length === 0 && absent.length === 0 && !firstWildcard) {
      state.mustAnswer = false;
      return;
    }
    if (this.heldBack(state, changed, snapshot)) {
      this.setDeferred(state, true);
      return;
    }
    state.mustAnswer = false;
    const updated = state.typeUrl === CLUSTER_TYPE ? changed.filter((r) => isUpdate(state.latest.get(r.name)?.version ?? state.clientVersions.get(r.name), r)) : [];
    for (const r of changed) {
      state.clientVersions.set(r.name, r.version);
      owned(state.latest).set(r.name, r);
      state.reportedAbsent.delete(r.name);
    }
    for (const name of removed) {
      state.clientVersions.delete(name);
      owned(state.latest).delete(name);
      // Once reported, a subscribed name that is gone is not reported again on the next push.
      if (state.names.has(name)) state.reportedAbsent.add(name);
    }
    for (const name of absent) state.reportedAbsent.add(name);
    removed.push(...absent);
    state.pendingHolding = new Map(state.latest);
    state.nacked = false;
    this.oweEndpoints(updated);
    const version = typeVersion(snapshot, state.typeUrl);
    const nonce = this.nextNonce();
    state.pendingNonce = nonce;
    state.lastNonce = nonce;
    state.pendingVersion = version;
    this.options.status.sent(this.row ?? this.proxy, state.typeUrl, version, nonce, changed.map((r) => r.name), this.statusRow(state));
    this.options.send({ kind: 'delta', typeUrl: state.typeUrl, systemVersionInfo: version, nonce, resources: changed, removed });
  }

  private nextNonce(): string {
    return `${this.streamId}-${++this.nonceCounter}`;
  }
}

const CANONICAL_TYPES: ReadonlyMap<string, string> = new Map([...KNOWN_TYPES].map((t) => [t, t]));
const NOTHING_SENT: ReadonlyMap<string, EncodedResource> = new EmptyMap<string, EncodedResource>();
const HOLDERS_OF_CLUSTERS: readonly string[] = [LISTENER_TYPE, ROUTE_TYPE];
const HOLDERS_OF_SECRETS: readonly string[] = [LISTENER_TYPE, CLUSTER_TYPE];

function byName(a: EncodedResource, b: EncodedResource): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * The names of a snapshot's type map, as a set shared by every stream (never written: SotW
 * replaces its names); one set per distinct list of names, so a patched map with the same names
 * (an endpoint change) has the very set its subscribers hold, and `selectsAll` is one comparison.
 */
const keySets = new WeakMap<ReadonlyMap<string, unknown>, Set<string>>();
const namesByContent = new Map<string, Set<string>>();
const MAX_NAME_SETS = 20_000;

class SharedNames extends Set<string> {
  private sealed = false;
  constructor(names: Iterable<string>) {
    super(names);
    this.sealed = true;
  }
  override add(name: string): this {
    if (this.sealed) throw new Error('internal: write to a shared name set');
    return super.add(name);
  }
  override delete(): boolean {
    throw new Error('internal: write to a shared name set');
  }
  override clear(): void {
    throw new Error('internal: write to a shared name set');
  }
}

function keySet(map: ReadonlyMap<string, EncodedResource>): Set<string> {
  let found = keySets.get(map);
  if (!found) {
    const names = typeSet(map).names;
    const key = names.join('\n');
    found = namesByContent.get(key);
    if (!found || found.size !== names.length) {
      found = new SharedNames(names);
      if (namesByContent.size >= MAX_NAME_SETS) namesByContent.clear();
      namesByContent.set(key, found);
    }
    keySets.set(map, found);
  }
  return found;
}

/** Whether `names` (a request's, '*' aside) are exactly `held`. */
function sameNames(names: readonly string[], held: ReadonlySet<string>): boolean {
  let count = 0;
  for (const name of names) {
    if (name === '*') continue;
    if (!held.has(name)) return false;
    count++;
  }
  // More entries than held names: duplicates in the request.
  return count === held.size || new Set(names.filter((n) => n !== '*')).size === held.size;
}

/** Whether `resource` replaces a different version the client held ('' or undefined: unknown, or new). */
function isUpdate(heldVersion: string | undefined, resource: EncodedResource): boolean {
  return heldVersion !== undefined && heldVersion !== '' && heldVersion !== resource.version;
}

/** Clusters present in both snapshots whose content changed. */
function updatedBetween(previous: Snapshot, next: Snapshot): EncodedResource[] {
  const before = previous.resources.get(CLUSTER_TYPE);
  const out: EncodedResource[] = [];
  for (const [name, cluster] of next.resources.get(CLUSTER_TYPE) ?? []) {
    if (isUpdate(before?.get(name)?.version, cluster)) out.push(cluster);
  }
  return out;
}

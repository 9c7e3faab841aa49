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
 * - SotW: an empty `resource_names` is the legacy wildcard only on the stream's first request of
 *   the type; after names were requested it unsubscribes from everything (xDS protocol, "How the
 *   client specifies what resources to return"). Only that first request has an empty nonce: a
 *   later one is a subscription change, never a restart, so it neither turns the wildcard back on
 *   nor is answered while a response awaits its ACK.
 * - Delta: subscribing again to a name (or `*`) the client holds resends it ("the server must
 *   still provide it"); unsubscribing a name the wildcard still covers is answered with the
 *   resource, or its removal when it does not exist (the client must learn which).
 * - State is bounded by what is subscribed: nothing is remembered per name once unsubscribed, and
 *   a stream subscribes to at most `maxNamesPerType` names per type (limits.ts).
 */
import { randomBytes } from 'node:crypto';
import { encodeResource, type EncodedResource } from '../snapshot/encode.js';
import { DEFAULT_XDS_LIMITS, MAX_ABSENT_ANSWERS, MAX_LOGGED_PROXY_TEXT, MAX_RESOURCE_NAME_LENGTH, type XdsLimits } from './limits.js';
import { replacedKey, sortedVersion, typeSet, typeVersion, type Snapshot } from '../snapshot/snapshot.js';
import { nodeFlavor, nodeProblem, nodeRef, printableExcerpt, type ProxyRef } from '../snapshot/node.js';
import { WatchError, type ConfigWatcher, type NodeInfo } from '../snapshot/watcher.js';
import { heldBack, isUpdate, stillNamed, updatedBetween } from './ordering.js';
import { SecretRefusals } from './refusals.js';
import { nackHint, type ProxyStatus, type StatusRegistry, type StatusTypeRow } from './status.js';
import {
  EmptyMap,
  NO_NAMES,
  SharedNames,
  TypeStateRecord,
  TypeStates,
  dropUnsubscribed,
  forget,
  forgetAll,
  keySet,
  newSubscriptionCounters,
  owned,
  releaseNames,
  sameNames,
  type Holding,
  type SubscriptionCounters,
  type TypeState,
} from './subscription.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, KNOWN_TYPES, LISTENER_TYPE, PUSH_ORDER, ROUTE_TYPE, SECRET_TYPE, isFullStateType, protoNameOf } from '../snapshot/types.js';

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
  /** The per-proxy and per-stream caps; DEFAULT_XDS_LIMITS when absent. */
  readonly limits?: Pick<XdsLimits, 'maxStreamsPerProxy' | 'maxNamesPerType'>;
  /** What subscription changes cost, shared by the server's sessions; a stream's own when absent. */
  readonly counters?: SubscriptionCounters;
  send(response: XdsResponse): void;
  close(grpcCode: number, message: string): void;
}

// gRPC status codes used here.
const INVALID_ARGUMENT = 3;
const RESOURCE_EXHAUSTED = 8;
const INTERNAL = 13;

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
  /** Secret names this stream asked for and did not get, and those it was given (refusals.ts); made when first needed. */
  private refusals?: SecretRefusals;
  /** Whether unknown EDS names beyond MAX_ABSENT_ANSWERS were left unanswered and said so. */
  private absentCapLogged = false;
  /** While the config watch is being opened: an error then is an authentication refusal, which the authenticator logs. */
  private opening = false;
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

  /** Read from the options, not kept per stream (every connected proxy has a session). */
  private get limits(): Pick<XdsLimits, 'maxStreamsPerProxy' | 'maxNamesPerType'> {
    return this.options.limits ?? DEFAULT_XDS_LIMITS;
  }

  /** The server's counters; without them (a session made alone) the counts go nowhere. */
  private get counters(): SubscriptionCounters {
    return this.options.counters ?? newSubscriptionCounters();
  }

  get nodeId(): string | undefined {
    return this.node?.id;
  }

  /**
   * The stream's first request carries `node` (read alone, request.ts): checked and authenticated
   * before anything else of the request is decoded. Returns whether the stream goes on.
   */
  open(node: NodeInfo | undefined): boolean {
    if (this.closed) return false;
    return this.acceptNode(node);
  }

  onRequest(request: XdsRequest): void {
    if (this.closed) return;
    if (!this.acceptNode(request.node)) return;
    const requested = this.resolveTypeUrl(request.typeUrl);
    if (requested === undefined) return;
    // The constant itself: every later lookup and comparison of this request's type is by identity.
    const typeUrl = CANONICAL_TYPES.get(requested);
    if (typeUrl === undefined) {
      this.proxyLog({ typeUrl: printableExcerpt(requested, MAX_LOGGED_PROXY_TEXT), typeUrlLength: requested.length }, 'ignoring request for an unknown resource type');
      return;
    }
    const state = this.types.get(typeUrl);
    if (!this.withinLimits(typeUrl, state, request)) return;
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
    // Nothing is kept or logged about a node that is unbounded or
    // not printable; its values are not echoed either.
    const problem = nodeProblem(node);
    if (problem !== undefined) {
      this.fail(INVALID_ARGUMENT, problem);
      return false;
    }
    this.node = node;
    this.proxy = nodeRef(node);
    // Authentication happens in watch(): a refused stream fails synchronously and is never
    // registered, so unauthenticated callers leave no status row.
    const sink = new SessionSink(this);
    const watcher = this.options.watcher;
    let stop: () => void;
    this.opening = true;
    try {
      if (watcher.listen) stop = watcher.listen(node, sink);
      else {
        const subscription = watcher.watch(node).subscribe(sink);
        stop = () => subscription.unsubscribe();
      }
    } finally {
      this.opening = false;
    }
    if (this.closed) {
      stop();
      return false;
    }
    // Counted once authenticated: an unauthenticated caller learns nothing about the proxy's streams.
    const streams = this.options.status.get(this.proxy.name, this.proxy.mesh)?.activeStreams ?? 0;
    if (streams >= this.limits.maxStreamsPerProxy) {
      stop();
      this.fail(RESOURCE_EXHAUSTED, `proxy "${this.proxy.name}" in mesh "${this.proxy.mesh}" already has ${streams} open xDS streams; at most ${this.limits.maxStreamsPerProxy} are allowed (--xds-max-streams-per-proxy)`);
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
      // The requested type is the proxy's text: escaped and cut, as in a log line.
      this.fail(INVALID_ARGUMENT, `this service serves ${fixed}, not ${printableExcerpt(requested, MAX_LOGGED_PROXY_TEXT)}`);
      return undefined;
    }
    return fixed;
  }

  /** The watch ended with an error (SessionSink): the stream ends with its gRPC status. */
  onWatchError(err: unknown): void {
    const code = err instanceof WatchError ? err.grpcCode : INTERNAL;
    // A refusal while the watch opens is the authenticator's, and it logged it: one line per refused caller.
    this.fail(code, err instanceof Error ? err.message : String(err), !this.opening);
  }

  private fail(code: number, message: string, log = true): void {
    if (log) this.options.log.warn({ node: this.node?.id, code }, `closing xDS stream: ${message}`);
    this.options.close(code, message);
    this.end();
  }

  /**
   * A line about this proxy's own input (a NACK, an unknown type), through its log budget: a few
   * per minute for all its streams, the rest counted in the next line.
   */
  private proxyLog(fields: object, message: string): void {
    const suppressed = this.row === undefined ? 0 : this.options.status.allowLog(this.row);
    if (suppressed === undefined) return;
    this.options.log.warn({ node: this.proxy.name, mesh: this.proxy.mesh, ...fields, ...(suppressed > 0 ? { suppressed } : {}) }, message);
  }

  /**
   * The names one request may add: at most `maxNamesPerType` per type on the stream, each at most
   * MAX_RESOURCE_NAME_LENGTH long. Past that the stream is closed: a legitimate proxy asks for the
   * names meshcp gave it, and each name costs state and a share of every response.
   */
  private withinLimits(typeUrl: string, state: TypeState | undefined, request: XdsRequest): boolean {
    const max = this.limits.maxNamesPerType;
    let count: number;
    let added: readonly string[];
    if (this.options.mode === 'sotw') {
      count = request.resourceNames.length;
      added = request.resourceNames;
    } else {
      added = request.subscribe;
      count = state?.names.size ?? 0;
      for (const name of request.subscribe) if (state?.names.has(name) !== true) count++;
      // Initial versions make per-name state before any name is subscribed.
      if (state === undefined) count = Math.max(count, Object.keys(request.initialVersions).length);
    }
    if (count > max) {
      this.fail(RESOURCE_EXHAUSTED, `the stream subscribes to ${count} ${protoNameOf(typeUrl)} names; at most ${max} per type are allowed (--xds-max-names-per-type)`);
      return false;
    }
    for (const name of added) {
      if (name.length > MAX_RESOURCE_NAME_LENGTH) {
        this.fail(INVALID_ARGUMENT, `a ${protoNameOf(typeUrl)} resource name is ${name.length} characters long; at most ${MAX_RESOURCE_NAME_LENGTH} are allowed`);
        return false;
      }
    }
    return true;
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
    if (!state) {
      // The stream's first request of the type: answered (mustAnswer is set on a new state), and
      // the only one where an empty list is the legacy wildcard.
      if (request.errorDetail !== undefined) this.recordNack(typeUrl, request.versionInfo, request.errorDetail);
      state = this.newState(typeUrl);
      this.setSotwNames(state, request.resourceNames);
      return true;
    }
    if (request.responseNonce === '') {
      // Only the first request of a type has no nonce. A later one changes the subscription like
      // any request; it is answered if nothing awaits an ACK, and never resets what does: a client
      // repeating it without reading was otherwise sent a full response each time.
      if (request.errorDetail !== undefined) this.recordNack(typeUrl, request.versionInfo, request.errorDetail);
      this.setSotwNames(state, request.resourceNames);
      if (state.pendingNonce === undefined) state.mustAnswer = true;
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
        if (!first && state.wildcard) forgetAll(state);
        state.wildcard = true;
      } else {
        if (!first) forget(state, name);
        state.names.add(name);
        state.owedRemovals?.delete(name);
      }
    }
    let wildcardEnded = false;
    const released: string[] = [];
    for (const name of request.unsubscribe) {
      if (name === '*') {
        wildcardEnded ||= state.wildcard;
        state.wildcard = false;
        continue;
      }
      if (!state.names.delete(name)) continue;
      released.push(name);
    }
    // Each unsubscribed name is dropped in place: a request costs the names it carries.
    releaseNames(state, released, this.counters);
    if (state.wildcard) for (const name of released) this.stillWildcard(state, name);
    // Only a new stream (initial versions of names not subscribed) or the end of the wildcard can
    // leave state for names that are not subscribed: only then is everything held looked at.
    if (first || wildcardEnded) dropUnsubscribed(state, this.counters);
    return true;
  }

  /**
   * Delta: `name` was unsubscribed while the wildcard still covers it. The client must be told
   * whether it still exists (go-control-plane's delta `unsubscribe` does the same): it is sent
   * again when the snapshot has it (its version was released), else reported removed.
   */
  private stillWildcard(state: TypeState, name: string): void {
    if (this.snapshot?.resources.get(state.typeUrl)?.has(name) === true) return;
    (state.owedRemovals ??= new Set()).add(name);
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
      this.recordNack(state.typeUrl, version, request.errorDetail, request.responseNonce);
    } else {
      this.options.status.acked(this.row ?? this.proxy, state.typeUrl, version, this.statusRow(state), request.responseNonce);
    }
  }

  /**
   * A NACK: recorded in the proxy's status and logged through its budget, its `error_detail`
   * escaped and cut (the proxy writes it, in any size and with any characters).
   */
  private recordNack(typeUrl: string, version: string, error: string, nonce?: string): void {
    const head = error.length > MAX_LOGGED_PROXY_TEXT ? error.slice(0, 4 * MAX_LOGGED_PROXY_TEXT) : error;
    const hint = nackHint(head);
    this.proxyLog(
      { typeUrl, version: printableExcerpt(version, 128), error: printableExcerpt(error, MAX_LOGGED_PROXY_TEXT), ...(error.length > MAX_LOGGED_PROXY_TEXT ? { errorLength: error.length } : {}), ...(hint !== undefined ? { hint } : {}) },
      'proxy rejected configuration (NACK)',
    );
    this.options.status.nacked(this.row ?? this.proxy, typeUrl, version, error, nonce);
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
    dropUnsubscribed(state, this.counters);
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
      // keeps an EDS-only change from costing five pushes' worth of work per proxy.
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

  /**
   * Names of `typeUrl` (RDS or EDS) the client still uses though the snapshot dropped them: a
   * route table nothing in the snapshot names (only a listener draining after an update can still
   * use it, and Envoy stops asking for it once that is gone), or the endpoints of a cluster this
   * stream keeps by make-before-break (ordering.ts) that the snapshot dropped.
   */
  private stillInUse(typeUrl: string, snapshot: Snapshot): { has(name: string): boolean } {
    const named = namedInSnapshot(snapshot, typeUrl);
    if (typeUrl === ROUTE_TYPE) return { has: (name) => !named.has(name) };
    const kept = new Set<string>();
    const clusters = this.types.get(CLUSTER_TYPE);
    const current = snapshot.resources.get(CLUSTER_TYPE);
    for (const holding of clusters ? [clusters.latest, clusters.acked] : []) {
      for (const [name, cluster] of holding) {
        if (cluster === undefined || current?.has(name)) continue;
        for (const eds of cluster.refs.endpoints) if (!named.has(eds)) kept.add(eds);
      }
    }
    return kept;
  }

  private selected(state: TypeState, snapshot: Snapshot): EncodedResource[] {
    const all = snapshot.resources.get(state.typeUrl) ?? NOTHING_SENT;
    let answered = 0;
    let keep: { has(name: string): boolean } | undefined;
    // Delta says "does not exist" with removed_resources, so no empty assignment is made up.
    const absent = (name: string): EncodedResource | undefined => {
      // A route table or endpoints the client holds and still asks for stay as they are until it
      // stops asking: Envoy asks while a listener or cluster still uses them — a listener draining
      // after an update still routes with its old route table, and a cluster kept by
      // make-before-break (ordering.ts) still balances over its endpoints. Made-up emptiness there
      // is a 503 window; and the old route table, held, keeps its clusters kept until then.
      if (state.typeUrl === ROUTE_TYPE || state.typeUrl === ENDPOINT_TYPE) {
        const held = state.acked.get(name) ?? state.latest.get(name);
        if (held !== undefined && (keep ??= this.stillInUse(state.typeUrl, snapshot)).has(name)) {
          // Endpoints of a kept cluster go with it: look again once CDS settles.
          if (state.typeUrl === ENDPOINT_TYPE) this.setDeferred(state, true);
          return held;
        }
      }
      if (state.typeUrl === SECRET_TYPE) this.refusalsOf().absent(name, state.latest.has(name) || state.acked.has(name));
      if (state.typeUrl !== ENDPOINT_TYPE || this.options.mode === 'delta') return undefined;
      // Every requested EDS name is answered, an unknown cluster with no endpoints, so Envoy does
      // not wait for it; up to a bound, so a request cannot make a response of any size.
      if (++answered > MAX_ABSENT_ANSWERS) {
        if (answered === MAX_ABSENT_ANSWERS + 1 && !this.absentCapLogged) {
          this.absentCapLogged = true;
          this.proxyLog({ typeUrl: state.typeUrl, answered: MAX_ABSENT_ANSWERS }, `over ${MAX_ABSENT_ANSWERS} requested names are unknown; only as many get an empty answer`);
        }
        return undefined;
      }
      return encodeResource(ENDPOINT_TYPE, { cluster_name: name });
    };
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
        if (this.options.mode === 'delta') forget(eds, name);
        else (eds.owed ??= new Set()).add(name);
        this.setDeferred(eds, true);
      }
    }
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
    const kept = stillNamed(this.types, state, snapshot, whole ? all : new Set(chosen!.map((r) => r.name)));
    if (kept.size > 0) this.setDeferred(state, true);
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
    if (heldBack(this.types, state, resources, snapshot)) {
      this.setDeferred(state, true);
      return;
    }
    const previous = state.latest;
    state.latest = holding;
    state.pendingHolding = holding;
    state.nacked = false;
    if (state.typeUrl === SECRET_TYPE) this.droppedSecrets([...previous.keys()].filter((name) => !holding.has(name)));
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
    const kept = stillNamed(this.types, state, snapshot, wantedNames);
    if (kept.size > 0) this.setDeferred(state, true);
    // clientVersions holds subscribed names only (dropUnsubscribed); a dropped one that is still
    // named waits (make-before-break).
    const removed = [...state.clientVersions.keys()].filter((name) => !wantedNames.has(name) && !kept.has(name));
    // Tell the client once that a name it asked for does not exist (so it stops waiting).
    const absent = [...state.names].filter((name) => !all.has(name) && !wantedNames.has(name) && !state.clientVersions.has(name) && !state.reportedAbsent.has(name));
    // Names unsubscribed under the wildcard that do not exist (stillWildcard): their removal is owed.
    const owedRemovals = state.owedRemovals === undefined ? NO_LIST : [...state.owedRemovals].filter((name) => !wantedNames.has(name));
    // The first wildcard request is answered even when empty, or Envoy does not finish
    // initializing (go-control-plane respondDelta: `state.IsWildcard() && state.IsFirst()`).
    const firstWildcard = state.mustAnswer && state.wildcard;
    if (changed.length === 0 && removed.length === 0 && absent.length === 0 && owedRemovals.length === 0 && !firstWildcard) {
      state.mustAnswer = false;
      return;
    }
    if (heldBack(this.types, state, changed, snapshot)) {
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
    if (state.typeUrl === SECRET_TYPE) this.droppedSecrets(removed);
    removed.push(...absent, ...owedRemovals);
    state.owedRemovals = undefined;
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

  private refusalsOf(): SecretRefusals {
    return (this.refusals ??= new SecretRefusals(() => this.proxy, { allow: () => (this.row === undefined ? 0 : this.options.status.allowLog(this.row)), warn: (obj, msg) => this.options.log.warn(obj, msg) }));
  }

  /** Secrets a push took from the client: asking for them again is not a refusal (refusals.ts). */
  private droppedSecrets(names: readonly string[]): void {
    if (names.length > 0) this.refusalsOf().droppedFromClient(names);
  }
}

const CANONICAL_TYPES: ReadonlyMap<string, string> = new Map([...KNOWN_TYPES].map((t) => [t, t]));
const NOTHING_SENT: ReadonlyMap<string, EncodedResource> = new EmptyMap<string, EncodedResource>();
const NO_LIST: readonly string[] = Object.freeze([]);
/**
 * The route tables the snapshot's listeners name, or the endpoints its clusters name: what the
 * snapshot itself still uses (its own version of those, or an empty answer, is what goes out).
 */
function namedInSnapshot(snapshot: Snapshot, typeUrl: string): ReadonlySet<string> {
  const holders = snapshot.resources.get(typeUrl === ROUTE_TYPE ? LISTENER_TYPE : CLUSTER_TYPE);
  const names = new Set<string>();
  for (const r of holders?.values() ?? []) for (const n of typeUrl === ROUTE_TYPE ? r.refs.routes : r.refs.endpoints) names.add(n);
  return names;
}

function byName(a: EncodedResource, b: EncodedResource): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

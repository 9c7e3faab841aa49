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
 * - The SotW and Delta variants' own rules are in sotw.ts and delta.ts.
 * - State is bounded by what is subscribed: nothing is remembered per name once unsubscribed, and
 *   a stream subscribes to at most `maxNamesPerType` names per type (limits.ts).
 */
import { randomBytes } from 'node:crypto';
import type { EncodedResource } from '../snapshot/encode.js';
import { nodeFlavor, nodeProblem, nodeRef, printableExcerpt, type ProxyRef } from '../snapshot/node.js';
import { replacedKey, type Snapshot } from '../snapshot/snapshot.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, KNOWN_TYPES, PUSH_ORDER } from '../snapshot/types.js';
import { WatchError, type NodeInfo } from '../snapshot/watcher.js';
import { DELTA } from './delta.js';
import { DEFAULT_XDS_LIMITS, MAX_LOGGED_PROXY_TEXT, namesOverLimit, type XdsLimits } from './limits.js';
import { updatedBetween } from './ordering.js';
import type { ProtocolVariant, SessionCore, SessionOptions, XdsRequest } from './protocol.js';
import { SecretRefusals } from './refusals.js';
import { SOTW } from './sotw.js';
import { nackHint, type ProxyStatus, type StatusTypeRow } from './status.js';
import { forget, NameSets, newSubscriptionCounters, TypeStateRecord, TypeStates, type SubscriptionCounters, type TypeState } from './subscription.js';

export type { SessionLogger, SessionOptions, XdsRequest, XdsResponse } from './protocol.js';

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

/**
 * One stream's session. What the SotW and Delta variants use of it (`SessionCore`) is public; the
 * server uses only `open`, `onRequest`, `end` and `nodeId`.
 */
export class XdsSession implements SessionCore {
  private node?: NodeInfo;
  snapshot: Snapshot | undefined = undefined;
  /** Stops the config watch (ConfigWatcher.listen, or the subscription to `watch`). */
  private stopWatch?: () => void;
  readonly types = new TypeStates();
  private readonly streamId = `${PROCESS_PREFIX}${(++streamCounter).toString(36)}`;
  private nonceCounter = 0;
  /** Secret names this stream asked for and did not get, and those it was given (refusals.ts); made when first needed. */
  private secretRefusals?: SecretRefusals;
  /** Whether unknown EDS names beyond MAX_ABSENT_ANSWERS were left unanswered and said so. */
  absentCapLogged = false;
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
  /** Name sets of a session made without the server's (tests). */
  private ownNames?: NameSets;

  constructor(readonly options: SessionOptions) {}

  /** Read from the options, not kept per stream (every connected proxy has a session). */
  private get limits(): Pick<XdsLimits, 'maxStreamsPerProxy' | 'maxNamesPerType'> {
    return this.options.limits ?? DEFAULT_XDS_LIMITS;
  }

  /** The server's counters; without them (a session made alone) the counts go nowhere. */
  get counters(): SubscriptionCounters {
    return this.options.counters ?? newSubscriptionCounters();
  }

  /** The server's shared name sets; a session made alone has its own. */
  get names(): NameSets {
    return this.options.names ?? (this.ownNames ??= new NameSets());
  }

  get statusKey(): ProxyStatus | ProxyRef {
    return this.row ?? this.proxy;
  }

  /** The protocol variant of the stream's mode: objects shared by every session, holding nothing. */
  private get variant(): ProtocolVariant {
    return this.options.mode === 'sotw' ? SOTW : DELTA;
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
    const over = namesOverLimit(typeUrl, this.options.mode === 'delta', state?.names, request, this.limits.maxNamesPerType);
    if (over !== undefined) {
      this.fail(over.code, over.message);
      return;
    }
    const changed = this.variant.onRequest(this, typeUrl, state, request);
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
  proxyLog(fields: object, message: string): void {
    const suppressed = this.row === undefined ? 0 : this.options.status.allowLog(this.row);
    if (suppressed === undefined) return;
    this.options.log.warn({ node: this.proxy.name, mesh: this.proxy.mesh, ...fields, ...(suppressed > 0 ? { suppressed } : {}) }, message);
  }

  newState(typeUrl: string): TypeState {
    const delta = this.options.mode === 'delta';
    const state = new TypeStateRecord(typeUrl, delta);
    this.types.set(typeUrl, state);
    return state;
  }





  settlePending(state: TypeState, request: XdsRequest): void {
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
      this.options.status.acked(this.statusKey, state.typeUrl, version, this.statusRow(state), request.responseNonce);
    }
  }

  /**
   * A NACK: recorded in the proxy's status and logged through its budget, its `error_detail`
   * escaped and cut (the proxy writes it, in any size and with any characters).
   */
  recordNack(typeUrl: string, version: string, error: string, nonce?: string): void {
    const head = error.length > MAX_LOGGED_PROXY_TEXT ? error.slice(0, 4 * MAX_LOGGED_PROXY_TEXT) : error;
    const hint = nackHint(head);
    this.proxyLog(
      { typeUrl, version: printableExcerpt(version, 128), error: printableExcerpt(error, MAX_LOGGED_PROXY_TEXT), ...(error.length > MAX_LOGGED_PROXY_TEXT ? { errorLength: error.length } : {}), ...(hint !== undefined ? { hint } : {}) },
      'proxy rejected configuration (NACK)',
    );
    this.options.status.nacked(this.statusKey, typeUrl, version, error, nonce);
  }



  /** A snapshot from the watch (SessionSink). */
  onSnapshot(snapshot: Snapshot): void {
    const previous = this.snapshot;
    this.snapshot = snapshot;
    // With CDS on this stream, EDS is owed when the CDS carrying the change goes out (pushSotw/pushDelta of CDS);
    // without it (a per-type EDS stream), the change is seen between snapshots.
    if (previous && !this.types.has(CLUSTER_TYPE)) this.oweEndpoints(updatedBetween(previous, snapshot));
    // An endpoint patch replaces one type's set over the previous snapshot's (snapshot/maps.ts MapWith): only that type can differ.
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
  statusRow(state: TypeState): StatusTypeRow | undefined {
    if (this.row === undefined) return undefined;
    return (state.statusRow ??= this.options.status.typeRowOf(this.row, state.typeUrl));
  }

  setDeferred(state: TypeState, value: boolean): void {
    if (state.deferred === value) return;
    state.deferred = value;
    this.deferredTypes += value ? 1 : -1;
  }

  private push(typeUrl: string): void {
    const state = this.types.get(typeUrl);
    if (!state || this.closed || !this.snapshot || state.pendingNonce !== undefined) return;
    this.setDeferred(state, false);
    this.variant.push(this, state, this.snapshot);
  }

  /**
   * EDS names of updated clusters are answered again (envoy#13009, #31535). SotW: marked owed;
   * Delta: the client's version is forgotten, so the next EDS push carries them.
   */
  oweEndpoints(clusters: readonly EncodedResource[]): void {
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




  nextNonce(): string {
    return `${this.streamId}-${++this.nonceCounter}`;
  }

  refusals(): SecretRefusals {
    return (this.secretRefusals ??= new SecretRefusals(() => this.proxy, { allow: () => (this.row === undefined ? 0 : this.options.status.allowLog(this.row)), warn: (obj, msg) => this.options.log.warn(obj, msg) }));
  }

  /** Secrets a push took from the client: asking for them again is not a refusal (refusals.ts). */
  droppedSecrets(names: readonly string[]): void {
    if (names.length > 0) this.refusals().droppedFromClient(names);
  }
}

const CANONICAL_TYPES: ReadonlyMap<string, string> = new Map([...KNOWN_TYPES].map((t) => [t, t]));

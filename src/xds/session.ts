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
 *   or Envoy waits for it while warming.
 * - LDS/CDS SotW responses carry the full set (absence means delete).
 */
import { randomBytes } from 'node:crypto';
import type { Observable, Subscription } from 'rxjs';
import { encodeResource, type EncodedResource } from './encode.js';
import type { Snapshot } from './snapshot.js';
import { nodeFlavor, nodeProblem, nodeRef, printableExcerpt, type ProxyRef } from './node.js';
import type { StatusRegistry } from './status.js';
import { ENDPOINT_TYPE, KNOWN_TYPES, PUSH_ORDER, SECRET_TYPE, isFullStateType } from './types.js';
import { contentHash } from './encode.js';

export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** Serves snapshots to proxies. An error ends the stream with the given gRPC status. */
export interface ConfigWatcher {
  watch(node: NodeInfo): Observable<Snapshot>;
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

interface TypeState {
  readonly typeUrl: string;
  wildcard: boolean;
  names: Set<string>;
  /** Nonce of the response waiting for an ACK/NACK, if any. */
  pendingNonce?: string;
  /** Nonce of the latest response sent, ACKed or not: the only one a request may carry. */
  lastNonce?: string;
  pendingVersion?: string;
  /** Force an answer even if the content did not change (first request, new subscription). */
  mustAnswer: boolean;
  /** SotW: the content key of the last response sent (ACKed or NACKed). */
  lastSentKey?: string;
  /** Delta: the resource versions the client holds, as far as this stream knows. */
  clientVersions: Map<string, string>;
  /** Delta: subscribed names already reported absent. */
  reportedAbsent: Set<string>;
}

let streamCounter = 0;

export class XdsSession {
  private node?: NodeInfo;
  private snapshot?: Snapshot;
  private subscription?: Subscription;
  private readonly types = new Map<string, TypeState>();
  private readonly streamId = `${randomBytes(4).toString('hex')}${(++streamCounter).toString(36)}`;
  private nonceCounter = 0;
  /** Secret names this stream asked for and did not get; logged once each (up to MAX_TRACKED_REFUSALS names). */
  private readonly refusedSecrets = new Set<string>();
  /** Refusals found by the push in progress, logged as one line (security issue #9: not one line per name). */
  private refusalBatch?: { count: number; samples: string[]; saturated: boolean };
  /** Set once more than MAX_TRACKED_REFUSALS names were refused: later refusals are not logged (they would repeat on every push). */
  private refusalsSaturated = false;
  /** The proxy this stream serves, (mesh, name): the status registry's key. */
  private proxy: ProxyRef = { mesh: '', name: '' };
  /** Whether this stream was authenticated and counted in the status registry. */
  private registered = false;
  private closed = false;

  constructor(private readonly options: SessionOptions) {}

  get nodeId(): string | undefined {
    return this.node?.id;
  }

  onRequest(request: XdsRequest): void {
    if (this.closed) return;
    if (!this.acceptNode(request.node)) return;
    const typeUrl = this.resolveTypeUrl(request.typeUrl);
    if (typeUrl === undefined) return;
    if (!KNOWN_TYPES.has(typeUrl)) {
      this.options.log.warn({ node: this.node?.id, typeUrl }, 'ignoring request for an unknown resource type');
      return;
    }
    const state = this.types.get(typeUrl);
    const changed = this.options.mode === 'sotw' ? this.onSotwRequest(typeUrl, state, request) : this.onDeltaRequest(typeUrl, state, request);
    if (changed) this.push(typeUrl);
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.subscription?.unsubscribe();
    if (this.registered) this.options.status.streamClosed(this.proxy);
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
    const subscription = this.options.watcher.watch(node).subscribe({
      next: (snapshot) => this.onSnapshot(snapshot),
      error: (err: unknown) => {
        const code = err instanceof WatchError ? err.grpcCode : 13;
        this.fail(code, err instanceof Error ? err.message : String(err));
      },
    });
    if (this.closed) {
      subscription.unsubscribe();
      return false;
    }
    this.subscription = subscription;
    this.registered = true;
    this.options.status.streamOpened(this.proxy, nodeFlavor(node));
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

  private fail(code: number, message: string): void {
    this.options.log.warn({ node: this.node?.id, code }, `closing xDS stream: ${message}`);
    this.options.close(code, message);
    this.end();
  }

  private newState(typeUrl: string): TypeState {
    const state: TypeState = {
      typeUrl,
      wildcard: false,
      names: new Set(),
      mustAnswer: true,
      clientVersions: new Map(),
      reportedAbsent: new Set(),
    };
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
      state.mustAnswer = true;
      this.setSotwNames(state, request.resourceNames);
      return true;
    }
    // Stale: superseded by a newer response. A request carrying the latest nonce after its ACK
    // is how Envoy changes a subscription (e.g. new EDS names after a CDS update), so it is
    // not stale even though nothing is pending any more.
    if (request.responseNonce !== state.lastNonce) return false;
    if (request.responseNonce === state.pendingNonce) this.settlePending(state, request);
    if (this.setSotwNames(state, request.resourceNames)) state.mustAnswer = true;
    return true;
  }

  private onDeltaRequest(typeUrl: string, existing: TypeState | undefined, request: XdsRequest): boolean {
    let state = existing;
    if (!state) {
      state = this.newState(typeUrl);
      state.wildcard = request.subscribe.includes('*') || (request.subscribe.length === 0 && isFullStateType(typeUrl));
      for (const [name, version] of Object.entries(request.initialVersions)) state.clientVersions.set(name, version);
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
      if (name === '*') state.wildcard = true;
      else if (!state.names.has(name)) {
        state.names.add(name);
        state.reportedAbsent.delete(name);
      }
    }
    for (const name of request.unsubscribe) {
      if (name === '*') state.wildcard = false;
      state.names.delete(name);
      state.clientVersions.delete(name);
      state.reportedAbsent.delete(name);
    }
    return true;
  }

  private settlePending(state: TypeState, request: XdsRequest): void {
    const version = state.pendingVersion ?? request.versionInfo;
    state.pendingNonce = undefined;
    state.pendingVersion = undefined;
    if (request.errorDetail !== undefined) {
      this.recordNack(state.typeUrl, version, request.errorDetail);
    } else {
      this.options.status.acked(this.proxy, state.typeUrl, version);
    }
  }

  private recordNack(typeUrl: string, version: string, error: string): void {
    this.options.log.warn({ node: this.node?.id, typeUrl, version, error }, 'proxy rejected configuration (NACK)');
    this.options.status.nacked(this.proxy, typeUrl, version, error);
  }

  /** Returns whether the subscription changed. */
  private setSotwNames(state: TypeState, names: readonly string[]): boolean {
    const wildcard = names.includes('*') || (names.length === 0 && isFullStateType(state.typeUrl));
    const next = new Set(names.filter((n) => n !== '*'));
    const same = wildcard === state.wildcard && next.size === state.names.size && [...next].every((n) => state.names.has(n));
    state.wildcard = wildcard;
    state.names = next;
    return !same;
  }

  private onSnapshot(snapshot: Snapshot): void {
    this.snapshot = snapshot;
    for (const typeUrl of PUSH_ORDER) this.push(typeUrl);
  }

  private push(typeUrl: string): void {
    const state = this.types.get(typeUrl);
    if (!state || this.closed || !this.snapshot || state.pendingNonce !== undefined) return;
    if (this.options.mode === 'sotw') this.pushSotw(state, this.snapshot);
    else this.pushDelta(state, this.snapshot);
  }

  private selected(state: TypeState, snapshot: Snapshot): EncodedResource[] {
    const all = snapshot.resources.get(state.typeUrl) ?? new Map<string, EncodedResource>();
    if (state.wildcard) {
      const extra = [...state.names].filter((n) => !all.has(n)).map((n) => this.absentResource(state.typeUrl, n));
      return [...all.values(), ...extra.filter((r): r is EncodedResource => r !== undefined)];
    }
    const out: EncodedResource[] = [];
    for (const name of state.names) {
      const found = all.get(name) ?? this.absentResource(state.typeUrl, name);
      if (found) out.push(found);
    }
    return out;
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
      if (this.refusedSecrets.size < MAX_TRACKED_REFUSALS) this.refusedSecrets.add(name);
      else this.refusalBatch.saturated = true;
      this.refusalBatch.count++;
      if (this.refusalBatch.samples.length < REFUSAL_SAMPLES) this.refusalBatch.samples.push(printableExcerpt(name));
    }
    return typeUrl === ENDPOINT_TYPE ? encodeResource(ENDPOINT_TYPE, { cluster_name: name }) : undefined;
  }

  private pushSotw(state: TypeState, snapshot: Snapshot): void {
    const resources = this.selected(state, snapshot).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const key = resources.map((r) => `${r.name}@${r.version}`).join('\n');
    if (key === state.lastSentKey && !state.mustAnswer) return;
    const version = contentHash(key);
    const nonce = this.nextNonce();
    state.lastSentKey = key;
    state.mustAnswer = false;
    state.pendingNonce = nonce;
    state.lastNonce = nonce;
    state.pendingVersion = version;
    this.options.status.sent(this.proxy, state.typeUrl, version, nonce, resources.map((r) => r.name));
    this.options.send({ kind: 'sotw', typeUrl: state.typeUrl, versionInfo: version, nonce, resources });
  }

  private pushDelta(state: TypeState, snapshot: Snapshot): void {
    const all = snapshot.resources.get(state.typeUrl) ?? new Map<string, EncodedResource>();
    const wanted = this.selected(state, snapshot);
    const wantedNames = new Set(wanted.map((r) => r.name));
    const changed = wanted.filter((r) => state.clientVersions.get(r.name) !== r.version);
    const removed: string[] = [];
    for (const name of state.clientVersions.keys()) {
      if (!wantedNames.has(name) && (state.wildcard || state.names.has(name))) removed.push(name);
    }
    for (const name of state.names) {
      // Tell the client once that a name it asked for does not exist (so it stops waiting).
      if (!all.has(name) && !wantedNames.has(name) && !state.clientVersions.has(name) && !state.reportedAbsent.has(name)) {
        removed.push(name);
        state.reportedAbsent.add(name);
      }
    }
    // The first wildcard request is answered even when empty, or Envoy does not finish
    // initializing (go-control-plane respondDelta: `state.IsWildcard() && state.IsFirst()`).
    const firstWildcard = state.mustAnswer && state.wildcard;
    state.mustAnswer = false;
    if (changed.length === 0 && removed.length === 0 && !firstWildcard) return;
    for (const r of changed) state.clientVersions.set(r.name, r.version);
    for (const name of removed) {
      state.clientVersions.delete(name);
      // Once reported, a subscribed name that is gone is not reported again on the next push.
      state.reportedAbsent.add(name);
    }
    const version = snapshot.typeVersions.get(state.typeUrl) ?? '';
    const nonce = this.nextNonce();
    state.pendingNonce = nonce;
    state.lastNonce = nonce;
    state.pendingVersion = version;
    this.options.status.sent(this.proxy, state.typeUrl, version, nonce, changed.map((r) => r.name));
    this.options.send({ kind: 'delta', typeUrl: state.typeUrl, systemVersionInfo: version, nonce, resources: changed, removed });
  }

  private nextNonce(): string {
    return `${this.streamId}-${++this.nonceCounter}`;
  }
}

/**
 * What one stream knows of one type (session.ts): the names subscribed, what the client holds,
 * and what it is owed, with the operations that change them.
 *
 * A subscription change costs what it changes. Dropping names edits the stream's own maps in place
 * (Delta owns every map it holds) or copies a shared one once per request (a SotW holding may be
 * the snapshot's own map), never once per name: a stream that dropped 20,000 names one copy at a
 * time held the event loop for over a minute.
 */
import type { EncodedResource } from '../snapshot/encode.js';
import type { StatusTypeRow } from './status.js';
import { typeSet } from '../snapshot/snapshot.js';
import { PUSH_ORDER } from '../snapshot/types.js';

/** What subscription changes cost, counted for the whole server (XdsServer.counters). */
export interface SubscriptionCounters {
  /** Names whose per-name state was dropped (unsubscribed, or left a wildcard). */
  namesReleased: number;
  /** Holding maps copied to drop names from them (a SotW holding shared with the snapshot). */
  holdingCopies: number;
  /** Names looked at by passes over everything a stream holds of a type (dropUnsubscribed). */
  namesScanned: number;
}

export function newSubscriptionCounters(): SubscriptionCounters {
  return { namesReleased: 0, holdingCopies: 0, namesScanned: 0 };
}

/**
 * What the client holds of one type, by name: the resource this stream sent, or undefined when
 * only its version is known (Delta `initial_resource_versions`).
 */
export type Holding = ReadonlyMap<string, EncodedResource | undefined>;

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
export class EmptyMap<K, V> extends Map<K, V> {
  override set(): this {
    throw new Error('internal: write to a shared empty map');
  }
}
export const NO_NAMES: Set<string> = new EmptySet<string>();
export const NO_VERSIONS: Map<string, string> = new EmptyMap<string, string>();
export const NOTHING_HELD: Holding = new EmptyMap<string, EncodedResource | undefined>();
/** A snapshot's set of a type it does not have. */
export const NOTHING_SENT: ReadonlyMap<string, EncodedResource> = new EmptyMap<string, EncodedResource>();

/** A Delta stream's own holding (never a snapshot's map): Delta updates it in place. */
export function owned(holding: Holding): Map<string, EncodedResource | undefined> {
  return holding as Map<string, EncodedResource | undefined>;
}

export interface TypeState {
  readonly typeUrl: string;
  /** Delta: every map it holds is its own (edited in place). SotW: a holding may be a snapshot's map. */
  readonly delta: boolean;
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
  /**
   * Delta: names unsubscribed while the wildcard still covers them, that the snapshot does not
   * have: the next response says they are removed (created when needed; see `unsubscribe`).
   */
  owedRemovals?: Set<string>;
  /** This type's row in the proxy's status (StatusRegistry.typeRowOf), once a push or ACK needed it. */
  statusRow?: StatusTypeRow;
}

const WILDCARD = 1;
const EXPLICIT = 2;
const MUST_ANSWER = 4;
const NACKED = 8;
const DEFERRED = 16;
const DELTA = 32;

/**
 * A TypeState as a stream keeps it: every field set at creation (a field added later goes to a
 * separate property array) and the six flags in one small integer, read and written through
 * accessors. Every connected proxy has four or five (idle memory per proxy).
 */
export class TypeStateRecord implements TypeState {
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
  owedRemovals: Set<string> | undefined = undefined;
  statusRow: StatusTypeRow | undefined = undefined;

  constructor(
    readonly typeUrl: string,
    delta: boolean,
  ) {
    if (delta) this.flags |= DELTA;
    this.names = delta ? new Set() : NO_NAMES;
    this.clientVersions = delta ? new Map() : NO_VERSIONS;
    this.reportedAbsent = delta ? new Set() : NO_NAMES;
    this.latest = delta ? new Map() : NOTHING_HELD;
    this.acked = delta ? new Map() : NOTHING_HELD;
  }

  get delta(): boolean {
    return (this.flags & DELTA) !== 0;
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
 * bytes per connected proxy (idle memory per proxy). Only known types get a state (onRequest).
 */
export class TypeStates {
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

const MAX_NAME_SETS = 20_000;

export class SharedNames extends Set<string> {
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

/**
 * The names of a snapshot's type maps, as sets shared by every stream of a server (never written:
 * SotW replaces its names); one set per distinct list of names, so a patched map with the same
 * names (an endpoint change) has the very set its subscribers hold, and `selectsAll` is one
 * comparison. The server makes one and hands it to its sessions.
 */
export class NameSets {
  private readonly byMap = new WeakMap<ReadonlyMap<string, unknown>, SharedNames>();
  private readonly byContent = new Map<string, SharedNames>();

  of(map: ReadonlyMap<string, EncodedResource>): SharedNames {
    let found = this.byMap.get(map);
    if (!found) {
      const names = typeSet(map).names;
      const key = names.join('\n');
      found = this.byContent.get(key);
      if (!found || found.size !== names.length) {
        found = new SharedNames(names);
        if (this.byContent.size >= MAX_NAME_SETS) this.byContent.clear();
        this.byContent.set(key, found);
      }
      this.byMap.set(map, found);
    }
    return found;
  }
}

/** Whether `names` (a request's, '*' aside) are exactly `held`. */
export function sameNames(names: readonly string[], held: ReadonlySet<string>): boolean {
  let count = 0;
  for (const name of names) {
    if (name === '*') continue;
    if (!held.has(name)) return false;
    count++;
  }
  // More entries than held names: duplicates in the request.
  return count === held.size || new Set(names.filter((n) => n !== '*')).size === held.size;
}


/**
 * Forgets everything about `names`, which the client no longer subscribes to (it drops those
 * resources). Delta holdings are the stream's own and are edited in place; a SotW holding that
 * has one of the names is copied once for the whole batch (it may be a snapshot's map, shared by
 * every proxy holding the same set).
 */
export function releaseNames(state: TypeState, names: readonly string[], counters: SubscriptionCounters): void {
  if (names.length === 0) return;
  counters.namesReleased += names.length;
  for (const name of names) {
    // The shared empty collections (NO_VERSIONS, NO_NAMES) take a delete: it finds nothing.
    state.clientVersions.delete(name);
    state.reportedAbsent.delete(name);
    state.owed?.delete(name);
    state.reanswer?.delete(name);
    state.owedRemovals?.delete(name);
  }
  const copies = new Map<Holding, Holding>();
  const edit = (holding: Holding): Holding => {
    if (holding.size === 0) return holding;
    if (state.delta) {
      for (const name of names) owned(holding).delete(name);
      return holding;
    }
    const done = copies.get(holding);
    if (done !== undefined) return done;
    let copy: Map<string, EncodedResource | undefined> | undefined;
    for (const name of names) {
      if (!holding.has(name)) continue;
      if (copy === undefined) {
        copy = new Map(holding);
        counters.holdingCopies++;
      }
      copy.delete(name);
    }
    const result = copy ?? holding;
    copies.set(holding, result);
    return result;
  };
  state.latest = edit(state.latest);
  state.acked = edit(state.acked);
  if (state.pendingHolding) state.pendingHolding = edit(state.pendingHolding);
}

/**
 * Bounded state: per-name bookkeeping only for what is subscribed. A pass over everything the
 * stream holds of the type, for when the subscription was replaced (SotW) or the wildcard ended.
 */
export function dropUnsubscribed(state: TypeState, counters: SubscriptionCounters): void {
  if (state.wildcard) return;
  const gone = new Set<string>();
  const unsubscribed = (name: string): void => {
    counters.namesScanned++;
    if (!state.names.has(name)) gone.add(name);
  };
  for (const map of [state.clientVersions, state.latest, state.acked, state.pendingHolding]) if (map) for (const name of map.keys()) unsubscribed(name);
  for (const set of [state.reportedAbsent, state.owed, state.reanswer, state.owedRemovals]) if (set) for (const name of set) unsubscribed(name);
  releaseNames(state, [...gone], counters);
}

/** Delta: the client's copy of `name` no longer counts, so it is sent (or reported absent) again. */
export function forget(state: TypeState, name: string): void {
  if (state.clientVersions.has(name)) state.clientVersions.set(name, '');
  state.reportedAbsent.delete(name);
}

/** Delta: every copy the client holds is sent again (a repeated wildcard subscription). */
export function forgetAll(state: TypeState): void {
  for (const name of state.clientVersions.keys()) state.clientVersions.set(name, '');
  state.reportedAbsent.clear();
  state.mustAnswer = true;
}

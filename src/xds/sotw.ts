/**
 * The state-of-the-world half of the protocol (session.ts): a request replaces the type's
 * subscription, and a response carries every selected resource of the type.
 *
 * - SotW: an empty `resource_names` is the legacy wildcard only on the stream's first request of
 *   the type; after names were requested it unsubscribes from everything (xDS protocol, "How the
 *   client specifies what resources to return"). Only that first request has an empty nonce: a
 *   later one is a subscription change, never a restart, so it neither turns the wildcard back on
 *   nor is answered while a response awaits its ACK.
 * - LDS/CDS responses carry the full set (absence means delete).
 * - A response that is the snapshot's whole set of the type is that set's shared sorted list and
 *   version (snapshot/sets.ts), serialized once for every proxy holding it (wire.ts).
 */
import type { EncodedResource } from '../snapshot/encode.js';
import { sortedVersion, typeSet, type Snapshot } from '../snapshot/snapshot.js';
import { CLUSTER_TYPE, SECRET_TYPE, isFullStateType } from '../snapshot/types.js';
import { heldBack, isUpdate, stillNamed } from './ordering.js';
import type { ProtocolVariant, SessionCore, XdsRequest } from './protocol.js';
import { selected } from './selection.js';
import { dropUnsubscribed, NOTHING_SENT, NO_NAMES, sameNames, SharedNames, type Holding, type TypeState } from './subscription.js';

export const SOTW: ProtocolVariant = { onRequest: onSotwRequest, push: pushSotw };

/** Returns whether a push should be attempted. */
function onSotwRequest(session: SessionCore, typeUrl: string, existing: TypeState | undefined, request: XdsRequest): boolean {
  let state = existing;
  if (!state) {
    // The stream's first request of the type: answered (mustAnswer is set on a new state), and
    // the only one where an empty list is the legacy wildcard.
    if (request.errorDetail !== undefined) session.recordNack(typeUrl, request.versionInfo, request.errorDetail);
    state = session.newState(typeUrl);
    setSotwNames(session, state, request.resourceNames);
    return true;
  }
  if (request.responseNonce === '') {
    // Only the first request of a type has no nonce. A later one changes the subscription like
    // any request; it is answered if nothing awaits an ACK, and never resets what does: a client
    // repeating it without reading was otherwise sent a full response each time.
    if (request.errorDetail !== undefined) session.recordNack(typeUrl, request.versionInfo, request.errorDetail);
    setSotwNames(session, state, request.resourceNames);
    if (state.pendingNonce === undefined) state.mustAnswer = true;
    return true;
  }
  // Stale: superseded by a newer response. A request carrying the latest nonce after its ACK
  // is how Envoy changes a subscription (e.g. new EDS names after a CDS update), so it is
  // not stale even though nothing is pending any more.
  if (request.responseNonce !== state.lastNonce) return false;
  const settles = request.responseNonce === state.pendingNonce;
  if (settles) session.settlePending(state, request);
  // A NACK of the latest response after it was settled (a client that ACKed, then NACKed the
  // same nonce): its content is never sent again either, so it is not re-answered (reRequested).
  else if (request.errorDetail !== undefined) state.nacked = true;
  if (setSotwNames(session, state, request.resourceNames)) state.mustAnswer = true;
  else if (!settles && reRequested(state)) state.mustAnswer = true;
  return true;
}

/**
 * SotW EDS on a stream without CDS: the Cluster update reaches Envoy on another stream, after
 * which Envoy asks again for the same names with the latest nonce and keeps the new cluster
 * warming until it is answered (envoy#13009, #31535). Such a request (neither an ACK nor a
 * subscription change) is answered once for names whose cluster changed, unless that response
 * was NACKed (never resend NACKed content, go-control-plane #962).
 */
function reRequested(state: TypeState): boolean {
  const reanswer = state.reanswer;
  if (reanswer === undefined || reanswer.size === 0) return false;
  const hit = !state.nacked && [...reanswer].some((n) => state.wildcard || state.names.has(n));
  state.reanswer = undefined;
  return hit;
}

/** Returns whether the subscription changed. */
function setSotwNames(session: SessionCore, state: TypeState, names: readonly string[]): boolean {
  // An empty list is the legacy wildcard (LDS/CDS) only while no names were requested; after
  // explicit names it unsubscribes from everything (xDS protocol, "How the client specifies
  // what resources to return").
  const wildcard = names.includes('*') || (names.length === 0 && !state.explicit && isFullStateType(state.typeUrl));
  if (names.length > 0) state.explicit = true;
  // An ACK repeats the subscription: compared without building a set (every proxy ACKs every push).
  if (wildcard === state.wildcard && sameNames(names, state.names)) return false;
  const next = names.length === 0 ? NO_NAMES : namesSet(session, state.typeUrl, names);
  state.wildcard = wildcard;
  state.names = next.size === 0 ? NO_NAMES : next;
  dropUnsubscribed(state, session.counters);
  return true;
}

/**
 * A SotW subscription as a set, the snapshot's own names when they are the same (an EDS or RDS
 * subscription usually is): that set is shared by every stream subscribed to the same names.
 */
function namesSet(session: SessionCore, typeUrl: string, names: readonly string[]): Set<string> {
  const all = session.snapshot?.resources.get(typeUrl);
  if (all !== undefined && all.size > 0) {
    const shared = session.names.of(all);
    if (sameNames(names, shared)) return shared;
  }
  return new Set(names.filter((n) => n !== '*'));
}

/**
 * Whether the selection is exactly the snapshot's set of the type (wildcard, or the names it
 * holds; the common case): then the response is that set's shared sorted list and version,
 * computed once for every proxy holding it (snapshot/sets.ts `EncodedSet`), not sorted and hashed per proxy.
 */
function selectsAll(session: SessionCore, state: TypeState, all: ReadonlyMap<string, EncodedResource>): boolean {
  if (state.names instanceof SharedNames && state.names === session.names.of(all)) return true;
  if (state.wildcard) {
    for (const name of state.names) if (!all.has(name)) return false;
    return true;
  }
  if (state.names.size !== all.size) return false;
  for (const name of state.names) if (!all.has(name)) return false;
  return true;
}

function pushSotw(session: SessionCore, state: TypeState, snapshot: Snapshot): void {
  const all = snapshot.resources.get(state.typeUrl) ?? NOTHING_SENT;
  const whole = selectsAll(session, state, all);
  const chosen = whole ? undefined : selected(session, state, snapshot);
  const kept = stillNamed(session.types, state, snapshot, whole ? all : new Set(chosen!.map((r) => r.name)));
  if (kept.size > 0) session.setDeferred(state, true);
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
  if (heldBack(session.types, state, resources, snapshot)) {
    session.setDeferred(state, true);
    return;
  }
  const previous = state.latest;
  state.latest = holding;
  state.pendingHolding = holding;
  state.nacked = false;
  if (state.typeUrl === SECRET_TYPE) session.droppedSecrets([...previous.keys()].filter((name) => !holding.has(name)));
  if (owed && !session.types.has(CLUSTER_TYPE)) for (const name of owedNames) if (holding.has(name)) (state.reanswer ??= new Set()).add(name);
  state.owed = undefined;
  if (state.typeUrl === CLUSTER_TYPE) session.oweEndpoints(resources.filter((r) => isUpdate(previous.get(r.name)?.version, r)));
  const nonce = session.nextNonce();
  state.lastSentVersion = version;
  state.mustAnswer = false;
  state.pendingNonce = nonce;
  state.lastNonce = nonce;
  state.pendingVersion = version;
  session.options.status.sent(session.statusKey, state.typeUrl, version, nonce, names, session.statusRow(state));
  session.options.send({ kind: 'sotw', typeUrl: state.typeUrl, versionInfo: version, nonce, resources });
}

function byName(a: EncodedResource, b: EncodedResource): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

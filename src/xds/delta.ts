/**
 * The incremental (Delta) half of the protocol (session.ts): a request subscribes and unsubscribes
 * names, and a response carries what changed and the names removed.
 *
 * - Subscribing again to a name (or `*`) the client holds resends it ("the server must still
 *   provide it"); unsubscribing a name the wildcard still covers is answered with the resource, or
 *   its removal when it does not exist (the client must learn which).
 * - An unknown name is reported in `removed_resources`, the protocol's way of saying it does not exist.
 */
import type { Snapshot } from '../snapshot/snapshot.js';
import { typeVersion } from '../snapshot/snapshot.js';
import { CLUSTER_TYPE, SECRET_TYPE, isFullStateType } from '../snapshot/types.js';
import { heldBack, isUpdate, stillNamed } from './ordering.js';
import type { ProtocolVariant, SessionCore, XdsRequest } from './protocol.js';
import { selected } from './selection.js';
import { dropUnsubscribed, NOTHING_SENT, forget, forgetAll, owned, releaseNames, type TypeState } from './subscription.js';

export const DELTA: ProtocolVariant = { onRequest: onDeltaRequest, push: pushDelta };

const NO_LIST: readonly string[] = Object.freeze([]);

function onDeltaRequest(session: SessionCore, typeUrl: string, existing: TypeState | undefined, request: XdsRequest): boolean {
  let state = existing;
  const first = !state;
  if (!state) {
    state = session.newState(typeUrl);
    state.wildcard = request.subscribe.includes('*') || (request.subscribe.length === 0 && isFullStateType(typeUrl));
    for (const [name, version] of Object.entries(request.initialVersions)) {
      state.clientVersions.set(name, version);
      // Held from an earlier stream: its content is unknown here, but the client has it.
      owned(state.latest).set(name, undefined);
      owned(state.acked).set(name, undefined);
    }
    if (request.errorDetail !== undefined) session.recordNack(typeUrl, '', request.errorDetail);
  } else if (request.responseNonce !== '') {
    if (request.responseNonce !== state.pendingNonce) {
      // Stale ACK/NACK; subscription changes still apply (they are not tied to a response).
      if (request.subscribe.length === 0 && request.unsubscribe.length === 0) return false;
    } else {
      session.settlePending(state, request);
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
  releaseNames(state, released, session.counters);
  if (state.wildcard) for (const name of released) stillWildcard(session, state, name);
  // Only a new stream (initial versions of names not subscribed) or the end of the wildcard can
  // leave state for names that are not subscribed: only then is everything held looked at.
  if (first || wildcardEnded) dropUnsubscribed(state, session.counters);
  return true;
}

/**
 * Delta: `name` was unsubscribed while the wildcard still covers it. The client must be told
 * whether it still exists (go-control-plane's delta `unsubscribe` does the same): it is sent
 * again when the snapshot has it (its version was released), else reported removed.
 */
function stillWildcard(session: SessionCore, state: TypeState, name: string): void {
  if (session.snapshot?.resources.get(state.typeUrl)?.has(name) === true) return;
  (state.owedRemovals ??= new Set()).add(name);
}

function pushDelta(session: SessionCore, state: TypeState, snapshot: Snapshot): void {
  const all = snapshot.resources.get(state.typeUrl) ?? NOTHING_SENT;
  const wanted = selected(session, state, snapshot);
  const wantedNames = new Set(wanted.map((r) => r.name));
  const changed = wanted.filter((r) => state.clientVersions.get(r.name) !== r.version);
  const kept = stillNamed(session.types, state, snapshot, wantedNames);
  if (kept.size > 0) session.setDeferred(state, true);
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
  if (heldBack(session.types, state, changed, snapshot)) {
    session.setDeferred(state, true);
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
  if (state.typeUrl === SECRET_TYPE) session.droppedSecrets(removed);
  removed.push(...absent, ...owedRemovals);
  state.owedRemovals = undefined;
  state.pendingHolding = new Map(state.latest);
  state.nacked = false;
  session.oweEndpoints(updated);
  const version = typeVersion(snapshot, state.typeUrl);
  const nonce = session.nextNonce();
  state.pendingNonce = nonce;
  state.lastNonce = nonce;
  state.pendingVersion = version;
  session.options.status.sent(session.statusKey, state.typeUrl, version, nonce, changed.map((r) => r.name), session.statusRow(state));
  session.options.send({ kind: 'delta', typeUrl: state.typeUrl, systemVersionInfo: version, nonce, resources: changed, removed });
}

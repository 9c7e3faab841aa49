/**
 * What a subscription selects of a snapshot (session.ts, for both protocol variants), and what a
 * requested name the snapshot does not have is answered with.
 */
import { encodeResource, type EncodedResource } from '../snapshot/encode.js';
import type { Snapshot } from '../snapshot/snapshot.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../snapshot/types.js';
import { MAX_ABSENT_ANSWERS } from './limits.js';
import type { SessionCore } from './protocol.js';
import { NOTHING_SENT, type TypeState } from './subscription.js';

/**
 * Names of `typeUrl` (RDS or EDS) the client still uses though the snapshot dropped them: a
 * route table nothing in the snapshot names (only a listener draining after an update can still
 * use it, and Envoy stops asking for it once that is gone), or the endpoints of a cluster this
 * stream keeps by make-before-break (ordering.ts) that the snapshot dropped.
 */
function stillInUse(session: SessionCore, typeUrl: string, snapshot: Snapshot): { has(name: string): boolean } {
  const named = namedInSnapshot(snapshot, typeUrl);
  if (typeUrl === ROUTE_TYPE) return { has: (name) => !named.has(name) };
  const kept = new Set<string>();
  const clusters = session.types.get(CLUSTER_TYPE);
  const current = snapshot.resources.get(CLUSTER_TYPE);
  for (const holding of clusters ? [clusters.latest, clusters.acked] : []) {
    for (const [name, cluster] of holding) {
      if (cluster === undefined || current?.has(name)) continue;
      for (const eds of cluster.refs.endpoints) if (!named.has(eds)) kept.add(eds);
    }
  }
  return kept;
}

export function selected(session: SessionCore, state: TypeState, snapshot: Snapshot): EncodedResource[] {
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
      if (held !== undefined && (keep ??= stillInUse(session, state.typeUrl, snapshot)).has(name)) {
        // Endpoints of a kept cluster go with it: look again once CDS settles.
        if (state.typeUrl === ENDPOINT_TYPE) session.setDeferred(state, true);
        return held;
      }
    }
    if (state.typeUrl === SECRET_TYPE) session.refusals().absent(name, state.latest.has(name) || state.acked.has(name));
    if (state.typeUrl !== ENDPOINT_TYPE || session.options.mode === 'delta') return undefined;
    // Every requested EDS name is answered, an unknown cluster with no endpoints, so Envoy does
    // not wait for it; up to a bound, so a request cannot make a response of any size.
    if (++answered > MAX_ABSENT_ANSWERS) {
      if (answered === MAX_ABSENT_ANSWERS + 1 && !session.absentCapLogged) {
        session.absentCapLogged = true;
        session.proxyLog({ typeUrl: state.typeUrl, answered: MAX_ABSENT_ANSWERS }, `over ${MAX_ABSENT_ANSWERS} requested names are unknown; only as many get an empty answer`);
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
 * The route tables the snapshot's listeners name, or the endpoints its clusters name: what the
 * snapshot itself still uses (its own version of those, or an empty answer, is what goes out).
 */
function namedInSnapshot(snapshot: Snapshot, typeUrl: string): ReadonlySet<string> {
  const holders = snapshot.resources.get(typeUrl === ROUTE_TYPE ? LISTENER_TYPE : CLUSTER_TYPE);
  const names = new Set<string>();
  for (const r of holders?.values() ?? []) for (const n of typeUrl === ROUTE_TYPE ? r.refs.routes : r.refs.endpoints) names.add(n);
  return names;
}

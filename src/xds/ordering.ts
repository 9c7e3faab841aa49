/**
 * Make-before-break on one stream (xDS protocol, "Eventual consistency considerations"): what a
 * push of one type must wait for, and what it must keep, given what the client holds of the
 * other types on the same stream. Per-type streams cannot be ordered against each other.
 */
import type { EncodedResource } from '../snapshot/encode.js';
import type { Snapshot } from '../snapshot/snapshot.js';
import { NOTHING_HELD, type Holding, type TypeState, type TypeStates } from './subscription.js';
import { CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../snapshot/types.js';

const HOLDERS_OF_CLUSTERS: readonly string[] = [LISTENER_TYPE, ROUTE_TYPE];
const HOLDERS_OF_SECRETS: readonly string[] = [LISTENER_TYPE, CLUSTER_TYPE];

/**
 * Make-before-break for additions (xDS protocol "Eventual consistency
 * considerations"): a Listener/RouteConfiguration naming a cluster or secret that this stream
 * will send but has not yet, or whose push awaits its ACK, is held. Envoy holds a CDS ACK while
 * the new clusters warm; a listener going out first points at a cluster that is not there. A
 * name this stream will not send (not in the snapshot, not subscribed — Envoy asks for SDS
 * names only once a listener names them) holds nothing.
 */
export function heldBack(types: TypeStates, state: TypeState, resources: readonly EncodedResource[], snapshot: Snapshot): boolean {
  if (state.typeUrl !== LISTENER_TYPE && state.typeUrl !== ROUTE_TYPE) return false;
  return resources.some((r) => awaits(types, CLUSTER_TYPE, r.refs.clusters, snapshot) || awaits(types, SECRET_TYPE, r.refs.secrets, snapshot));
}

function awaits(types: TypeStates, typeUrl: string, names: readonly string[], snapshot: Snapshot): boolean {
  if (names.length === 0) return false;
  const dep = types.get(typeUrl);
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
 * Make-before-break for removals: a cluster (or secret) that the snapshot
 * dropped is kept while a Listener or RouteConfiguration (for a secret: a Listener or Cluster)
 * that the client holds on this stream, ACKed or just sent, names it and the snapshot's version
 * of that holder no longer does: the change that stops naming it goes out first, and the
 * removal once that is ACKed. When the snapshot's holder still names it (a fail-closed route to
 * a cluster that has gone) nothing would release it, so it is not kept.
 */
export function stillNamed(types: TypeStates, state: TypeState, snapshot: Snapshot, wanted: { has(name: string): boolean }): Holding {
  const holderTypes = state.typeUrl === CLUSTER_TYPE ? HOLDERS_OF_CLUSTERS : state.typeUrl === SECRET_TYPE ? HOLDERS_OF_SECRETS : undefined;
  if (holderTypes === undefined) return NOTHING_HELD;
  const kept = new Map<string, EncodedResource | undefined>();
  const refsOf = (r: EncodedResource): readonly string[] => (state.typeUrl === CLUSTER_TYPE ? r.refs.clusters : r.refs.secrets);
  const dropped = new Set<string>();
  for (const holding of [state.latest, state.acked]) for (const name of holding.keys()) if (!wanted.has(name)) dropped.add(name);
  if (dropped.size === 0) return NOTHING_HELD;
  for (const holderType of holderTypes) {
    const holder = types.get(holderType);
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

/** Whether `resource` replaces a different version the client held ('' or undefined: unknown, or new). */
export function isUpdate(heldVersion: string | undefined, resource: EncodedResource): boolean {
  return heldVersion !== undefined && heldVersion !== '' && heldVersion !== resource.version;
}

/** Clusters present in both snapshots whose content changed. */
export function updatedBetween(previous: Snapshot, next: Snapshot): EncodedResource[] {
  const before = previous.resources.get(CLUSTER_TYPE);
  const out: EncodedResource[] = [];
  for (const [name, cluster] of next.resources.get(CLUSTER_TYPE) ?? []) {
    if (isUpdate(before?.get(name)?.version, cluster)) out.push(cluster);
  }
  return out;
}

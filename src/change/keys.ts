/**
 * The one change vocabulary: a change is a set of dependency keys, `kind/mesh/name`, and every
 * stage reads the same set (after Istio's `ConfigKey` and `ConfigsUpdated`). A cache entry
 * records the keys it read while it was computed; a change evicts exactly the entries naming one
 * of its keys (dependency-cache.ts).
 *
 * The kinds are what users write, and what a resource change touches besides itself:
 * `ServiceMembers` (a Dataplane serves the services its inbounds name, before and after the
 * change) and `Liveness` (a Dataplane's proxy went offline or came back). A name `*` stands for
 * every name of its kind in its mesh: an entry that reads all Routes of a mesh depends on
 * `Route/<mesh>/*`.
 *
 * Identity events are keys too (identity/identity-keys.ts): `Certificate/<mesh>/<proxy>` (a
 * proxy's workload certificate issued, rotated, dropped, or settled as none),
 * `TrustBundle/<mesh>/<backend>` (that CA's roots joined or left the mesh's trust bundle; a reader
 * of the whole bundle depends on `TrustBundle/<mesh>/*`), `CaPhase/<mesh>/<backend>` (that CA
 * became ready, trusted ahead of issuing, issuing, retired or dropped) and
 * `ServerCertificate/<mesh>/<host>` (a Gateway Route host's server certificate issued or due).
 *
 * Validation reads three facts of a resource besides the resource itself
 * (sources/change-checks.ts): `ServiceName/<mesh>/<s>` (the service name `s` gained or lost a
 * provider), `ServiceTls/<mesh>/<s>` (Service `s`'s `tls`) and `IdentityName/<mesh>/<n>` (a put
 * claims the workload identity `n`).
 */
import type { ResourceKind } from '../api/types.js';

export type DependencyKind =
  | ResourceKind
  | 'ServiceMembers'
  | 'Liveness'
  | 'Certificate'
  | 'TrustBundle'
  | 'CaPhase'
  | 'ServerCertificate'
  | 'ServiceName'
  | 'ServiceTls'
  | 'IdentityName';

/** `kind/mesh/name`. Resource and mesh names are DNS-1123 names; a proxy name may hold a `/`, which at worst merges two keys (more eviction, never less). */
export type DependencyKey = string;

export const ALL_NAMES = '*';

export function dependencyKey(kind: DependencyKind, mesh: string, name: string): DependencyKey {
  return `${kind}/${mesh}/${name}`;
}

/** The key standing for every name of `key`'s kind and mesh (`kind/mesh/*`). */
export function wildcardOf(key: DependencyKey): DependencyKey {
  const first = key.indexOf('/');
  const second = key.indexOf('/', first + 1);
  return second < 0 ? key : `${key.slice(0, second + 1)}${ALL_NAMES}`;
}

/** The kind of a key. */
export function kindOfKey(key: DependencyKey): DependencyKind {
  return key.slice(0, key.indexOf('/')) as DependencyKind;
}

/** The mesh of a key (between `kind/` and `/name`). */
export function meshOfKey(key: DependencyKey): string {
  const first = key.indexOf('/');
  const second = key.indexOf('/', first + 1);
  return second < 0 ? key.slice(first + 1) : key.slice(first + 1, second);
}

/** The name of a key (after `kind/mesh/`). */
export function nameOfKey(key: DependencyKey): string {
  const first = key.indexOf('/');
  const second = key.indexOf('/', first + 1);
  return second < 0 ? '' : key.slice(second + 1);
}

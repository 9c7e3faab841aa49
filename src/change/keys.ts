/**
 * The one change vocabulary: a change is a set of dependency keys, `kind/mesh/name`, and every
 * stage reads the same set (after Istio's `ConfigKey` and `ConfigsUpdated`). A cache entry, or a
 * connected proxy's config, records the keys it read while it was computed; a change evicts
 * exactly the entries naming one of its keys (dependency-cache.ts).
 *
 * Three families of kinds, one shape:
 * - what users write, and what a resource change touches besides itself (`ServiceMembers`: a
 *   Dataplane serves the services its inbounds name, before and after the change; `Liveness`: a
 *   Dataplane's proxy went offline or came back);
 * - what translation derives (the model a proxy's config is generated from): a key of this family
 *   is in a change only when the model object it names came out different, so a change whose
 *   model is equal (a CA switch: only the backend's name moved) reaches no proxy;
 * - identity events: a proxy's certificate (content, and whether it has one), a mesh's trust
 *   bundle, an issued gateway server certificate.
 * A name `*` stands for every name of its kind in its mesh: an entry that reads all services of a
 * mesh depends on `ServiceShape/<mesh>/*`.
 */
import type { ResourceKind } from '../api/types.js';

/** What users write, and what a change of it touches. */
export type InputKind = ResourceKind | 'ServiceMembers' | 'Liveness';

/** What translation derives, per mesh. */
export type ModelKind =
  /** The mesh exists, and its mTLS settings (on or off, the mode). */
  | 'MeshMtls'
  /** A service as a cluster is built from it: its protocol, mesh or not, upstream TLS, a DNS endpoint; its existence. */
  | 'ServiceShape'
  /** A service's endpoints. */
  | 'ServiceEndpoints'
  /** A Dataplane as generation reads it. */
  | 'DataplaneModel'
  /** A Gateway with the Routes it serves. */
  | 'GatewayModel'
  /** The mesh's TrafficPermissions (name `*`). */
  | 'Permissions'
  /** The inbound tag sets of a service's Dataplanes (what RBAC resolves tag selectors against). */
  | 'InboundTags';

/** What the CA side changes. */
export type IdentityKind =
  /** A proxy's workload certificate (its content). */
  | 'WorkloadCertificate'
  /** Whether a proxy has its mesh identity (certificate and trust bundle) and may be given its config. */
  | 'WorkloadIdentity'
  /** A mesh's trust bundle (its content). */
  | 'TrustBundle'
  /** The certificate issued for a gateway Route host (name: the host), or whether it is still being issued. */
  | 'ServerCertificate';

export type DependencyKind = InputKind | ModelKind | IdentityKind;

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

/** The mesh of a key. */
export function meshOfKey(key: DependencyKey): string {
  const first = key.indexOf('/');
  const second = key.indexOf('/', first + 1);
  return key.slice(first + 1, second < 0 ? undefined : second);
}

/** The kind of a key. */
export function kindOfKey(key: DependencyKey): DependencyKind {
  return key.slice(0, key.indexOf('/')) as DependencyKind;
}

/** The name of a key. */
export function nameOfKey(key: DependencyKey): string {
  const first = key.indexOf('/');
  const second = key.indexOf('/', first + 1);
  return second < 0 ? '' : key.slice(second + 1);
}

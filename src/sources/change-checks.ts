/**
 * What a change to a valid set can break, in the change vocabulary (change/keys.ts): a change is
 * the dependency keys of what it altered, each check of the whole-set validator declares the keys
 * it reads, and a change runs again exactly the checks that read one of its keys. The previous set
 * was valid, so a check whose keys did not change still finds nothing.
 *
 * Besides the keys of the resources put or deleted, a change names the facts that checks read
 * from resources other than their own subject (`changeCheckKeys`):
 * - `ServiceName/<mesh>/<s>`: a Service or a Dataplane inbound started or stopped providing the
 *   service name `s` (what a Route may name); an endpoint change names none;
 * - `ServiceTls/<mesh>/<s>`: Service `s` came, went or changed its `tls` (what gateway warnings
 *   read of a Service);
 * - `IdentityName/<mesh>/<n>`: a put Gateway, or a put Dataplane whose services or inbound-less
 *   name changed, claims the workload identity `n` (only a put can make two identities collide;
 *   a Dataplane that only moves claims nothing new).
 *
 * The table is data: a row names its subjects (each resource of a type in a mesh, or the mesh)
 * and, per key kind, the names a subject reads (or every name, `kind/mesh/*`). A check of a
 * resource always reads that resource's own key. validate.ts `validateChange` runs the checks on
 * the subjects `selectResources` / `selectsMesh` pick; a row that forgets a key it reads is caught
 * by the property test against the whole-set check (test/sources/validate-change.property.test.ts).
 */
import { meshOf, type ResourceChange } from '../api/resource-set.js';
import { SERVICE_TAG } from '../api/tags.js';
import type { Resource, RouteResource, SecretResource, ServiceResource } from '../api/types.js';
import { deepEqual } from '../change/equal.js';
import { ALL_NAMES, dependencyKey, kindOfKey, meshOfKey, type DependencyKey, type DependencyKind } from '../change/keys.js';
import { takesOwnName } from './identity-collisions.js';

/** Per key kind, the names a subject reads: some (undefined ones are skipped), or all of them (`ALL_NAMES`). */
export type Reads<S> = Partial<Record<DependencyKind, (subject: S) => readonly (string | undefined)[] | typeof ALL_NAMES>>;

/** A check of each resource that `is` picks, in its mesh. */
export interface ResourceRow<T extends Resource> {
  readonly is: (r: Resource) => r is T;
  /** What the check of `r` reads besides `r` itself. */
  readonly reads: Reads<T>;
}

/** A check of a whole mesh (its name is the subject). */
export interface MeshRow {
  readonly reads: Reads<string>;
}

export interface ChangeCheckTable {
  /** A Secret's material and name (api `checkSecretMaterial`, reserved builtin CA names). */
  readonly secretMaterial: ResourceRow<SecretResource>;
  /** A resource's mesh exists (api/mesh-existence.ts). */
  readonly meshExists: ResourceRow<Resource>;
  /** A Route's Gateway, host claim, Secrets and services (api/references.ts). */
  readonly routeReferences: ResourceRow<RouteResource>;
  /** A Service's Secrets (api/references.ts). */
  readonly serviceReferences: ResourceRow<ServiceResource>;
  /** No two proxies of the mesh take one workload identity (identity-collisions.ts). */
  readonly identityCollisions: MeshRow;
  /** Every CA backend of the mesh's Mesh (its `provided` Secrets). */
  readonly meshCa: MeshRow;
  /** What the mesh's gateways will do that the user may not expect (`ResourceSetOptions.warnings`). */
  readonly gatewayWarnings: MeshRow;
  /** mTLS on and no TrafficPermission (api/mesh-warnings.ts). */
  readonly defaultDeny: MeshRow;
}

const all = (): typeof ALL_NAMES => ALL_NAMES;
const ownMesh = (mesh: string): readonly string[] => [mesh];

/** The checks of `validateResources` and the keys each reads. */
export const CHANGE_CHECKS: ChangeCheckTable = {
  secretMaterial: { is: (r): r is SecretResource => r.type === 'Secret', reads: {} },
  meshExists: { is: (r): r is Resource => r.type !== 'Mesh', reads: { Mesh: (r) => [r.type === 'Mesh' ? r.name : r.mesh] } },
  routeReferences: {
    is: (r): r is RouteResource => r.type === 'Route',
    reads: {
      // Host claims: every Route of a gateway claims its host in set order.
      Route: all,
      // With no gateway named, the only Gateway of the mesh; a name may appear or go.
      Gateway: all,
      Secret: (r) => [r.tls?.clientValidationCa?.name, r.tls?.serverCertificate?.name],
      ServiceName: (r) => r.routes.map((rule) => rule.route.service),
    },
  },
  serviceReferences: {
    is: (r): r is ServiceResource => r.type === 'Service',
    reads: { Secret: (s) => [s.tls?.caSecret, s.tls?.clientCertificateSecret] },
  },
  identityCollisions: { reads: { IdentityName: all } },
  meshCa: { reads: { Mesh: ownMesh, Secret: all } },
  gatewayWarnings: { reads: { Route: all, Gateway: all, Secret: all, Mesh: ownMesh, ServiceTls: all } },
  defaultDeny: { reads: { Mesh: ownMesh, TrafficPermission: all } },
};

/** A change's keys, and per mesh the kinds they name (the change holds a key of `kind/mesh/*`). */
export interface ChangeKeys {
  readonly keys: ReadonlySet<DependencyKey>;
  readonly kinds: ReadonlyMap<string, ReadonlySet<DependencyKind>>;
  /** The meshes of the keys, puts first, in change order. */
  readonly meshes: readonly string[];
}

/** The service names a resource provides to its mesh (what a Route may name). */
function servicesProvided(r: Resource | undefined): Set<string> {
  const out = new Set<string>();
  if (r?.type === 'Service') out.add(r.name);
  if (r?.type === 'Dataplane') for (const inbound of r.networking.inbound) if (inbound.tags[SERVICE_TAG] !== undefined) out.add(inbound.tags[SERVICE_TAG]);
  return out;
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/**
 * The keys of `change` that checks read: each resource put (also put unchanged: a Secret's
 * material is checked when it is applied) or deleted, and the facts it changed (module comment).
 */
export function changeCheckKeys(change: ResourceChange): ChangeKeys {
  const keys = new Set<DependencyKey>();
  const meshes = new Set<string>();
  const note = (after: Resource | undefined, before: Resource | undefined): void => {
    const r = (after ?? before)!;
    const mesh = meshOf(r);
    meshes.add(mesh);
    keys.add(dependencyKey(r.type, mesh, r.name));
    const provided = servicesProvided(after);
    const providedBefore = servicesProvided(before);
    for (const s of provided) if (!providedBefore.has(s)) keys.add(dependencyKey('ServiceName', mesh, s));
    for (const s of providedBefore) if (!provided.has(s)) keys.add(dependencyKey('ServiceName', mesh, s));
    if (r.type === 'Service' && (after?.type !== 'Service' || before?.type !== 'Service' || !deepEqual(after.tls, before.tls))) keys.add(dependencyKey('ServiceTls', mesh, r.name));
    if (after?.type === 'Gateway') keys.add(dependencyKey('IdentityName', mesh, after.name));
    if (after?.type === 'Dataplane' && (!sameSet(provided, providedBefore) || takesOwnName(after) !== takesOwnName(before))) {
      for (const s of provided) keys.add(dependencyKey('IdentityName', mesh, s));
      if (takesOwnName(after)) keys.add(dependencyKey('IdentityName', mesh, after.name));
    }
  };
  change.puts.forEach((r, i) => note(r, change.replaced[i]));
  for (const r of change.deletes) note(undefined, r);
  const kinds = new Map<string, Set<DependencyKind>>();
  for (const key of keys) {
    const mesh = meshOfKey(key);
    let named = kinds.get(mesh);
    if (!named) kinds.set(mesh, (named = new Set()));
    named.add(kindOfKey(key));
  }
  return { keys, kinds, meshes: [...meshes] };
}

/** Whether a subject of `mesh` reads one of the change's keys. */
function readsChanged<S>(reads: Reads<S>, subject: S, mesh: string, changed: ChangeKeys): boolean {
  const kinds = changed.kinds.get(mesh);
  if (!kinds) return false;
  for (const kind in reads) {
    if (!kinds.has(kind as DependencyKind)) continue;
    const read = reads[kind as DependencyKind]!(subject);
    if (read === ALL_NAMES) return true;
    for (const name of read) if (name !== undefined && changed.keys.has(dependencyKey(kind as DependencyKind, mesh, name))) return true;
  }
  return false;
}

/** Whether the change names some key of a kind `reads` has in `mesh` (else only a changed subject itself needs its check again). */
function mayRead<S>(reads: Reads<S>, mesh: string, changed: ChangeKeys): boolean {
  const kinds = changed.kinds.get(mesh);
  if (!kinds) return false;
  for (const kind in reads) if (kinds.has(kind as DependencyKind)) return true;
  return false;
}

/**
 * The subjects of `row` in `mesh` whose check reads a key of the change: the put ones (their own
 * key), and, when the change names a kind the row reads, those of `resources` reading one of its
 * keys (a pass over the mesh only then: an endpoint change looks at no other resource).
 */
export function selectResources<T extends Resource>(row: ResourceRow<T>, mesh: string, resources: readonly Resource[], puts: readonly Resource[], changed: ChangeKeys): T[] {
  if (!mayRead(row.reads, mesh, changed)) return puts.filter((r): r is T => row.is(r) && meshOf(r) === mesh);
  return resources.filter((r): r is T => row.is(r) && (changed.keys.has(dependencyKey(r.type, mesh, r.name)) || readsChanged(row.reads, r, mesh, changed)));
}

/** Whether the check of `mesh` reads a key of the change. */
export function selectsMesh(row: MeshRow, mesh: string, changed: ChangeKeys): boolean {
  return readsChanged(row.reads, mesh, mesh, changed);
}

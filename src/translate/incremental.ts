/**
 * Incremental translation (DESIGN.md "Incremental"): each change translates only the
 * meshes whose resources changed (Kuma rebuilds a `MeshContext` only when the hash of the mesh's
 * inputs changes), and interns the result against the previous model: a service, Dataplane,
 * Gateway or permission list that came out equal is the previous object, and a mesh that did not
 * change at all is the previous MeshModel. Shared resources built per model object (clusters,
 * ClusterLoadAssignments, routes) are therefore built and encoded once, not once per change.
 *
 * Each revision says, per mesh, what changed, so the runtime regenerates only what depends on it:
 * - `unchanged`: no proxy of the mesh is touched;
 * - `endpoints`: only the endpoints of some services changed (plus, possibly, some Dataplanes
 *   whose own config changes without affecting anyone else's): proxies other than those Dataplanes
 *   keep their config, with the named ClusterLoadAssignments replaced (Istio's EDS-only push);
 * - `full`: every proxy of the mesh is generated again.
 * `translateMeshes` (the full translation) stays the oracle: the property test in
 * test/incremental checks that both give the same per-proxy output.
 */
import { isIP } from 'node:net';
import { listChange, ResourceSet, type ResourceChange } from '../api/resource-set.js';
import type { Resource } from '../api/types.js';
import type { DataplaneModel, EndpointModel, GatewayModel, MeshModel, Model, ServiceModel } from '../model/model.js';
import { SERVICE_TAG } from '../api/tags.js';
import { DependencyCache } from '../change/dependency-cache.js';
import { livenessKey, resourceChangeKeys } from '../change/resource-keys.js';
import { deepEqual } from '../change/equal.js';
import { NONE_OFFLINE, translateMesh, type OfflineDataplanes } from './mesh-services.js';

export type MeshChange =
  | { readonly kind: 'unchanged' }
  | {
      readonly kind: 'endpoints';
      /** Services whose endpoints (and nothing else) changed. */
      readonly services: ReadonlySet<string>;
      /** Proxies (by name) whose own Dataplane changed: they are generated again. */
      readonly proxies: ReadonlySet<string>;
    }
  | { readonly kind: 'full' };

export const UNCHANGED: MeshChange = Object.freeze({ kind: 'unchanged' });
const FULL: MeshChange = Object.freeze({ kind: 'full' });

export interface ModelRevision {
  /** Increases by one per translated resource set. */
  readonly revision: number;
  readonly model: Model;
  /** Per mesh, what changed since revision - 1; a mesh not listed did not change. */
  readonly changes: ReadonlyMap<string, MeshChange>;
}

/** Each value of `next` that equals the value of `previous` under the same key becomes that previous object. */
function internMap<T>(previous: ReadonlyMap<string, T> | undefined, next: ReadonlyMap<string, T>): { map: ReadonlyMap<string, T>; same: boolean } {
  if (!previous) return { map: next, same: false };
  let same = previous.size === next.size;
  const out = new Map<string, T>();
  for (const [key, value] of next) {
    const old = previous.get(key);
    if (old !== undefined && deepEqual(old, value)) out.set(key, old);
    else {
      out.set(key, value);
      same = false;
    }
  }
  return { map: same ? previous : out, same };
}

/** Whether a service is reached through a DNS cluster: its endpoint is part of the cluster then. */
const byName = (service: ServiceModel): boolean => service.endpoints.some((e) => isIP(e.address) === 0);

/** Everything generation reads from a service except its endpoints (the whole of it for a service reached by name). */
function sameShape(a: ServiceModel, b: ServiceModel): boolean {
  if ((byName(a) || byName(b)) && !deepEqual(a.endpoints, b.endpoints)) return false;
  return a.mesh === b.mesh && a.name === b.name && a.protocol === b.protocol && a.meshManaged === b.meshManaged && deepEqual(a.upstreamTls, b.upstreamTls);
}

/** What another proxy's RBAC reads from a Dataplane (permissions.ts inboundTagsByService). */
function inboundTags(dataplane: DataplaneModel | undefined): unknown {
  return dataplane?.inbound.map((i) => [i.service, i.tags]) ?? [];
}

/** The mesh's model interned against the previous one, and what changed. */
export function internMesh(previous: MeshModel | undefined, next: MeshModel, secretsChanged: boolean): { mesh: MeshModel; change: MeshChange } {
  if (!previous) return { mesh: next, change: FULL };
  const services = internMap<ServiceModel>(previous.services, next.services);
  const dataplanes = internMap<DataplaneModel>(previous.dataplanes, next.dataplanes);
  const gateways = internMap<GatewayModel>(previous.gateways, next.gateways);
  const mtls = deepEqual(previous.mtls, next.mtls) ? previous.mtls : next.mtls;
  const trafficPermissions = deepEqual(previous.trafficPermissions, next.trafficPermissions) ? previous.trafficPermissions : next.trafficPermissions;
  const mesh: MeshModel =
    services.same && dataplanes.same && gateways.same && mtls === previous.mtls && trafficPermissions === previous.trafficPermissions
      ? previous
      : { name: next.name, services: services.map, dataplanes: dataplanes.map, gateways: gateways.map, ...(mtls ? { mtls } : {}), trafficPermissions };
  if (mesh === previous && !secretsChanged) return { mesh, change: UNCHANGED };
  // User Secrets reach gateways only; a change of them regenerates the mesh (rare, and cheap).
  if (secretsChanged || !gateways.same || mtls !== previous.mtls || trafficPermissions !== previous.trafficPermissions) return { mesh, change: FULL };
  // A service that appears, disappears or changes shape changes clusters, routes and listeners.
  if (previous.services.size !== mesh.services.size) return { mesh, change: FULL };
  const changedServices = new Set<string>();
  for (const [name, service] of mesh.services) {
    const old = previous.services.get(name);
    if (!old || !sameShape(old, service)) return { mesh, change: FULL };
    if (old !== service) changedServices.add(name);
  }
  const changedProxies = new Set<string>();
  for (const name of new Set([...previous.dataplanes.keys(), ...mesh.dataplanes.keys()])) {
    const old = previous.dataplanes.get(name);
    const now = mesh.dataplanes.get(name);
    if (old === now) continue;
    changedProxies.add(name);
    // With mTLS on, a caller's inbound tags decide other proxies' RBAC principals (permissions.ts).
    if (mesh.mtls && mesh.trafficPermissions.length > 0 && !deepEqual(inboundTags(old), inboundTags(now))) return { mesh, change: FULL };
  }
  return { mesh, change: { kind: 'endpoints', services: changedServices, proxies: changedProxies } };
}

/** Same list: the same objects, or equal ones (a file source parses every object again on reload). */
function sameResources(a: readonly Resource[] | undefined, b: readonly Resource[]): boolean {
  return a !== undefined && a.length === b.length && a.every((r, i) => r === b[i] || deepEqual(r, b[i]));
}

/**
 * Whether the resources both lists hold are in the same relative order. Endpoints are collected
 * in resource order, and a whole list (a reload) may reorder resources without changing any, which
 * no dependency key names.
 */
function sameRelativeOrder(before: readonly Resource[], after: readonly Resource[]): boolean {
  const id = (r: Resource): string => `${r.type}/${r.name}`;
  const present = new Set(after.map(id));
  const kept = new Set(before.map(id));
  const a = before.map(id).filter((k) => present.has(k));
  const b = after.map(id).filter((k) => kept.has(k));
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

function sameSecrets(a: readonly Resource[] | undefined, b: readonly Resource[]): boolean {
  const secrets = (list: readonly Resource[] | undefined): Resource[] => (list ?? []).filter((r) => r.type === 'Secret');
  return sameResources(secrets(a), secrets(b));
}

/** A service's endpoints as translateMesh collects them: Dataplane inbounds and Service endpoints, in resource order. */
function endpointsOf(service: string, resources: readonly Resource[], offline: OfflineDataplanes): EndpointModel[] {
  const out: EndpointModel[] = [];
  for (const r of resources) {
    if (r.type === 'Dataplane') {
      for (const inbound of r.networking.inbound) {
        if ((inbound.tags[SERVICE_TAG] ?? '') === service) {
          out.push({ address: r.networking.address, port: inbound.port, dataplane: r.name, ...(offline(r.mesh, r.name) ? { healthy: false as const } : {}) });
        }
      }
    } else if (r.type === 'Service' && r.name === service) {
      for (const e of r.endpoints) out.push({ address: e.address, port: e.port });
    }
  }
  return out;
}

/**
 * The endpoint fast path: when the only resources that changed are Service resources whose
 * endpoints (and nothing else) changed, the mesh's model is the previous one with those services'
 * endpoints collected again; nothing else is translated. Undefined for any other change.
 */
function endpointOnlyChange(previous: MeshModel, before: readonly Resource[], after: readonly Resource[], offline: OfflineDataplanes): { mesh: MeshModel; change: MeshChange } | undefined {
  if (before.length !== after.length) return undefined;
  const changed = new Set<string>();
  for (let i = 0; i < after.length; i++) {
    const a = before[i]!;
    const b = after[i]!;
    if (a === b) continue;
    if (a.type !== 'Service' || b.type !== 'Service' || a.name !== b.name || a.mesh !== b.mesh || !deepEqual(a.tls, b.tls)) {
      if (deepEqual(a, b)) continue;
      return undefined;
    }
    // An endpoint given by name lives in the cluster itself (a DNS cluster), not in EDS.
    if (a.endpoints.some((e) => isIP(e.address) === 0) || b.endpoints.some((e) => isIP(e.address) === 0)) return undefined;
    if (!deepEqual(a.endpoints, b.endpoints)) changed.add(b.name);
  }
  if (changed.size === 0) return { mesh: previous, change: UNCHANGED };
  const services = new Map(previous.services);
  for (const name of changed) {
    const old = previous.services.get(name);
    if (!old) return undefined;
    services.set(name, { ...old, endpoints: endpointsOf(name, after, offline) });
  }
  return { mesh: { ...previous, services }, change: { kind: 'endpoints', services: changed, proxies: new Set() } };
}

export class IncrementalTranslator {
  /**
   * `offline`: whether a Dataplane's proxy is offline now; its endpoints are then marked
   * unhealthy. `cache`: where the per-object translations (mesh.ts) are kept between changes, made
   * by the composition root; a change evicts the entries naming its keys before anything is
   * translated.
   */
  constructor(
    private readonly offline: OfflineDataplanes = NONE_OFFLINE,
    private readonly cache: DependencyCache = new DependencyCache(),
  ) {}

  private inputs = new Map<string, readonly Resource[]>();
  private set?: ResourceSet;
  private current: ModelRevision = { revision: 0, model: { meshes: new Map() }, changes: new Map() };
  /** Meshes translated, per mesh name (recompute counter). */
  readonly translations = new Map<string, number>();

  get latest(): ModelRevision {
    return this.current;
  }

  /** The next revision from a whole list (tests): the change is found by comparing it with the last set. */
  next(resources: readonly Resource[]): ModelRevision {
    return this.apply(listChange(this.set, ResourceSet.fromList(resources)));
  }

  /** The next revision: only the meshes the change names are looked at (all of them on a reset). */
  apply(change: ResourceChange): ModelRevision {
    const keys = resourceChangeKeys(change);
    if (keys === undefined) this.cache.clear();
    else this.cache.invalidate(keys);
    const previous = this.current.model;
    const changes = new Map<string, MeshChange>();
    const touched = change.reset ? new Set([...change.set.groups.keys(), ...previous.meshes.keys()]) : change.meshes;
    const translated = new Map<string, MeshModel>();
    for (const name of touched) {
      const group = change.set.group(name);
      const before = previous.meshes.get(name);
      if (!group) {
        if (before) changes.set(name, FULL);
        this.inputs.delete(name);
        continue;
      }
      const input = this.inputs.get(name);
      this.inputs.set(name, group.resources);
      if (before && sameResources(input, group.resources)) continue;
      if (input !== undefined && group.ranks.length === 0 && !sameRelativeOrder(input, group.resources)) this.cache.clear();
      this.translations.set(name, (this.translations.get(name) ?? 0) + 1);
      const { mesh, change: meshChange } =
        (before && input ? endpointOnlyChange(before, input, group.resources, this.offline) : undefined) ??
        internMesh(before, translateMesh(name, group.resources, this.offline, this.cache, before), !sameSecrets(input, group.resources));
      translated.set(name, mesh);
      if (meshChange.kind !== 'unchanged') changes.set(name, meshChange);
    }
    // In the set's mesh order; an untouched mesh keeps its model object.
    const meshes = new Map<string, MeshModel>();
    for (const name of change.set.groups.keys()) {
      const mesh = translated.get(name) ?? previous.meshes.get(name);
      if (mesh) meshes.set(name, mesh);
    }
    this.set = change.set;
    this.current = { revision: this.current.revision + 1, model: { meshes }, changes };
    return this.current;
  }

  /**
   * The next revision after Dataplane `name` of `mesh` went online or offline (the `offline`
   * predicate already says which): the endpoints of the services it serves are collected again,
   * an endpoint-only change. Undefined when the model has no such Dataplane.
   */
  livenessChanged(mesh: string, name: string): ModelRevision | undefined {
    this.cache.invalidate([livenessKey(mesh, name)]);
    const previous = this.current.model.meshes.get(mesh);
    const dataplane = previous?.dataplanes.get(name);
    const resources = this.inputs.get(mesh);
    if (!previous || !dataplane || !resources || dataplane.inbound.length === 0) return undefined;
    const changed = new Set(dataplane.inbound.map((i) => i.service));
    const services = new Map(previous.services);
    for (const service of changed) {
      const old = services.get(service);
      if (old) services.set(service, { ...old, endpoints: endpointsOf(service, resources, this.offline) });
    }
    const meshes = new Map(this.current.model.meshes);
    meshes.set(mesh, { ...previous, services });
    const changes = new Map<string, MeshChange>([[mesh, { kind: 'endpoints', services: changed, proxies: new Set() }]]);
    this.current = { revision: this.current.revision + 1, model: { meshes }, changes };
    return this.current;
  }
}

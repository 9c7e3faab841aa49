/**
 * Incremental translation (DESIGN.md "Incremental"): each change translates only the
 * meshes whose resources changed (Kuma rebuilds a `MeshContext` only when the hash of the mesh's
 * inputs changes), on the control plane's dependency cache: the change's keys evict the entries
 * naming them, and the rest are reused. An object translated anew that came out equal is the
 * previous object (mesh-services.ts), and a mesh that did not change at all is the previous MeshModel, so
 * shared resources built per model object (clusters, ClusterLoadAssignments, routes) are built
 * and encoded once, not once per change.
 *
 * Each revision says, per mesh, what changed in the model as dependency keys (`ModelChange`), and
 * generation reads them to decide what each proxy needs (runtime/proxy-configs.ts). An
 * endpoint-only change says `ServiceMembers` keys alone (Istio's EDS-only push).
 * `translateMeshes` (the full translation, on a fresh cache) stays the oracle: the property test in
 * test/incremental checks that both give the same per-proxy output.
 */
import { isIP } from 'node:net';
import type { ResourceChange } from '../api/resource-set.js';
import type { Resource } from '../api/types.js';
import type { DataplaneModel, EndpointModel, MeshModel, Model, ServiceModel } from '../model/model.js';
import { SERVICE_TAG } from '../api/tags.js';
import { DependencyCache } from '../change/dependency-cache.js';
import { livenessKey, resourceChangeKeys } from '../change/resource-keys.js';
import { ALL_NAMES, dependencyKey, type DependencyKey } from '../change/keys.js';
import { deepEqual } from '../change/equal.js';
import { NONE_OFFLINE, translateMesh, type OfflineDataplanes } from './mesh-services.js';

/**
 * What changed in one mesh's model since the revision before, as dependency keys of the model's
 * objects (change/keys.ts): `Service/m/s` a service appeared, went or changed shape (anything but
 * its endpoints), `ServiceMembers/m/s` only its endpoints changed, `Dataplane/m/d` a Dataplane's
 * own model, `Gateway/m/g` a gateway's, `Secret/m/*` the mesh's user Secrets, `Mesh/m/m` its mTLS
 * settings (or the mesh appeared or went), `TrafficPermission/m/*` who may call whom (also when a
 * caller's inbound tags changed, with mTLS and permissions on). Empty: nothing changed.
 * Generation decides from them which proxies to generate, patch or leave (runtime/proxy-configs.ts).
 */
export type ModelChange = ReadonlySet<DependencyKey>;

export interface ModelRevision {
  /** This revision's version: increases with each translated resource set. */
  readonly revision: number;
  /**
   * The revision `changes` count from: the one before, as the translator makes them. A consumer
   * that has taken every change up to `since` knows what this one changed; one that has not
   * (it missed a revision) does not, and starts over from the model.
   */
  readonly since: number;
  readonly model: Model;
  /** Per mesh, the keys of what changed since revision `since`; a mesh not listed did not change. */
  readonly changes: ReadonlyMap<string, ModelChange>;
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

function changedNames<T>(previous: ReadonlyMap<string, T>, next: ReadonlyMap<string, T>, each: (name: string, old: T | undefined, now: T | undefined) => void): void {
  for (const [name, old] of previous) if (next.get(name) !== old) each(name, old, next.get(name));
  for (const [name, now] of next) if (!previous.has(name)) each(name, undefined, now);
}

/**
 * The keys of what changed from `previous` to `next`, two models of mesh `name` (undefined: the
 * mesh did not exist). Translation keeps equal objects identical (mesh-services.ts), so identity decides.
 */
export function modelChangeKeys(name: string, previous: MeshModel | undefined, next: MeshModel | undefined, secretsChanged: boolean): Set<DependencyKey> {
  const keys = new Set<DependencyKey>();
  if (!previous || !next) return keys.add(dependencyKey('Mesh', name, name));
  if (secretsChanged) keys.add(dependencyKey('Secret', name, ALL_NAMES));
  if (previous === next) return keys;
  if (previous.mtls !== next.mtls && !deepEqual(previous.mtls, next.mtls)) keys.add(dependencyKey('Mesh', name, name));
  if (previous.trafficPermissions !== next.trafficPermissions && !deepEqual(previous.trafficPermissions, next.trafficPermissions)) keys.add(dependencyKey('TrafficPermission', name, ALL_NAMES));
  changedNames(previous.gateways, next.gateways, (gateway) => keys.add(dependencyKey('Gateway', name, gateway)));
  changedNames(previous.services, next.services, (service, old, now) => {
    keys.add(dependencyKey(old && now && sameShape(old, now) ? 'ServiceMembers' : 'Service', name, service));
  });
  changedNames(previous.dataplanes, next.dataplanes, (dataplane, old, now) => {
    keys.add(dependencyKey('Dataplane', name, dataplane));
    // With mTLS on, a caller's inbound tags decide other proxies' RBAC principals (permissions.ts).
    if (next.mtls && next.trafficPermissions.length > 0 && !deepEqual(inboundTags(old), inboundTags(now))) keys.add(dependencyKey('TrafficPermission', name, ALL_NAMES));
  });
  return keys;
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
function endpointOnlyChange(previous: MeshModel, before: readonly Resource[], after: readonly Resource[], offline: OfflineDataplanes): { mesh: MeshModel; keys: Set<DependencyKey> } | undefined {
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
  if (changed.size === 0) return { mesh: previous, keys: new Set() };
  const services = new Map(previous.services);
  for (const name of changed) {
    const old = previous.services.get(name);
    if (!old) return undefined;
    services.set(name, { ...old, endpoints: endpointsOf(name, after, offline) });
  }
  return { mesh: { ...previous, services }, keys: new Set([...changed].map((service) => dependencyKey('ServiceMembers', previous.name, service))) };
}

export class IncrementalTranslator {
  /**
   * `offline`: whether a Dataplane's proxy is offline now; its endpoints are then marked
   * unhealthy. `cache`: where the per-object translations (mesh-services.ts) are kept between changes, made
   * by the composition root; a change evicts the entries naming its keys before anything is
   * translated.
   */
  constructor(
    private readonly offline: OfflineDataplanes = NONE_OFFLINE,
    private readonly cache: DependencyCache = new DependencyCache(),
  ) {}

  private inputs = new Map<string, readonly Resource[]>();
  private current: ModelRevision = { revision: 0, since: 0, model: { meshes: new Map() }, changes: new Map() };
  /** Meshes translated, per mesh name (recompute counter). */
  readonly translations = new Map<string, number>();

  get latest(): ModelRevision {
    return this.current;
  }

  /** The next revision: only the meshes the change names are looked at (all of them on a reset). */
  apply(change: ResourceChange): ModelRevision {
    const keys = resourceChangeKeys(change);
    if (keys === undefined) this.cache.clear();
    else this.cache.invalidate(keys);
    const previous = this.current.model;
    const changes = new Map<string, ModelChange>();
    const touched = change.reset ? new Set([...change.set.groups.keys(), ...previous.meshes.keys()]) : change.meshes;
    const translated = new Map<string, MeshModel>();
    for (const name of touched) {
      const group = change.set.group(name);
      const before = previous.meshes.get(name);
      if (!group) {
        if (before) changes.set(name, modelChangeKeys(name, before, undefined, false));
        this.inputs.delete(name);
        continue;
      }
      const input = this.inputs.get(name);
      this.inputs.set(name, group.resources);
      if (before && sameResources(input, group.resources)) continue;
      if (input !== undefined && group.ranks.length === 0 && !sameRelativeOrder(input, group.resources)) this.cache.clear();
      this.translations.set(name, (this.translations.get(name) ?? 0) + 1);
      const fast = before && input ? endpointOnlyChange(before, input, group.resources, this.offline) : undefined;
      const mesh = fast?.mesh ?? translateMesh(name, group.resources, this.offline, this.cache, before);
      const keys = fast?.keys ?? modelChangeKeys(name, before, mesh, !sameSecrets(input, group.resources));
      translated.set(name, mesh);
      if (keys.size > 0) changes.set(name, keys);
    }
    // In the set's mesh order; an untouched mesh keeps its model object.
    const meshes = new Map<string, MeshModel>();
    for (const name of change.set.groups.keys()) {
      const mesh = translated.get(name) ?? previous.meshes.get(name);
      if (mesh) meshes.set(name, mesh);
    }
    this.current = { revision: this.current.revision + 1, since: this.current.revision, model: { meshes }, changes };
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
    const changes = new Map<string, ModelChange>([[mesh, new Set([...changed].map((service) => dependencyKey('ServiceMembers', mesh, service)))]]);
    this.current = { revision: this.current.revision + 1, since: this.current.revision, model: { meshes }, changes };
    return this.current;
  }
}

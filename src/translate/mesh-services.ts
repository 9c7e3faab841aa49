/**
 * api → model, one mesh at a time and within it one object at a time: each Dataplane, service,
 * Gateway, the mTLS settings and the TrafficPermissions is an entry of the dependency cache, made
 * from exactly the resources it reads (and depending on their keys). A change evicts the entries
 * naming its keys; the mesh is then assembled again from the entries, the evicted ones translated
 * anew. This is the only place a MeshModel is put together: the full translation
 * (`translateMeshes`, the oracle, on a fresh cache) and the incremental one (incremental.ts, on the
 * control plane's cache) are the same code.
 *
 * An object translated anew that equals the previous model's is that previous object, so
 * "did it change" is an identity check (incremental.ts reads the change off it as keys).
 *
 * The mesh's resources are looked up in an index by kind, read once per change of the mesh. A
 * service's contributors are the Dataplanes whose inbounds name it and its Service resource, in
 * resource order (the order endpoints are collected in, and the first inbound's protocol wins).
 *
 * Edge gateways: each Gateway with the Routes it serves (SPEC §1 Gateway, Route). References were
 * checked by src/api/references.ts before translation; a Route that still does not resolve is left
 * out, so nothing half-configured reaches a proxy.
 */
import { meshOf, ResourceSet } from '../api/resource-set.js';
import { SERVICE_TAG } from '../api/tags.js';
import { resolveRouteGateway } from '../api/references.js';
import type { DataplaneResource, GatewayResource, MeshResource, Resource, RouteResource, ServiceResource, SubjectMatcher, TrafficPermissionResource } from '../api/types.js';
import { DependencyCache } from '../change/dependency-cache.js';
import { ALL_NAMES, dependencyKey } from '../change/keys.js';
import { interned } from '../change/equal.js';
import type { DataplaneModel, GatewayHostModel, GatewayModel, MeshModel, Model, ServiceModel, SubjectMatchModel } from '../model/model.js';
import { translateMeshMtls } from './mesh-mtls.js';
import { translateTrafficPermissions } from './permissions.js';
import { dataplaneModel, NONE_OFFLINE, serviceModel, type OfflineDataplanes } from './services.js';

export { NONE_OFFLINE, type OfflineDataplanes } from './services.js';

export interface MeshIndex {
  readonly name: string;
  readonly mesh: MeshResource | undefined;
  readonly resources: readonly Resource[];
  /** In resource order. */
  readonly dataplanes: ReadonlyMap<string, DataplaneResource>;
  /** Per service name (every name a Service resource or an inbound gives), its contributors in resource order; a Dataplane once. */
  readonly contributors: ReadonlyMap<string, readonly (DataplaneResource | ServiceResource)[]>;
  readonly gateways: readonly GatewayResource[];
  readonly routes: readonly RouteResource[];
  readonly permissions: readonly TrafficPermissionResource[];
}

/** The index of mesh `name` from its resources (others are ignored). */
export function indexMesh(name: string, resources: readonly Resource[]): MeshIndex {
  let mesh: MeshResource | undefined;
  const dataplanes = new Map<string, DataplaneResource>();
  const contributors = new Map<string, (DataplaneResource | ServiceResource)[]>();
  const gateways: GatewayResource[] = [];
  const routes: RouteResource[] = [];
  const permissions: TrafficPermissionResource[] = [];
  const add = (service: string, r: DataplaneResource | ServiceResource): void => {
    const list = contributors.get(service);
    if (!list) contributors.set(service, [r]);
    else if (list[list.length - 1] !== r) list.push(r);
  };
  const own: Resource[] = [];
  for (const r of resources) {
    if (meshOf(r) !== name) continue;
    own.push(r);
    switch (r.type) {
      case 'Mesh':
        mesh = r;
        break;
      case 'Dataplane':
        dataplanes.set(r.name, r);
        for (const inbound of r.networking.inbound) add(inbound.tags[SERVICE_TAG] ?? '', r);
        break;
      case 'Service':
        add(r.name, r);
        break;
      case 'Gateway':
        gateways.push(r);
        break;
      case 'Route':
        routes.push(r);
        break;
      case 'TrafficPermission':
        permissions.push(r);
        break;
      default:
        break;
    }
  }
  return { name, mesh, resources: own, dataplanes, contributors, gateways, routes, permissions };
}

export interface MeshTranslation {
  readonly cache: DependencyCache;
  readonly offline: OfflineDataplanes;
  /** The mesh's previous model, if any: equal objects keep their identity. */
  readonly previous?: MeshModel | undefined;
}

/** The kinds the index holds: any change of one of them makes a new index. */
const INDEXED = ['Mesh', 'Dataplane', 'Service', 'Gateway', 'Route', 'TrafficPermission'] as const;

function meshIndex(name: string, resources: readonly Resource[], cache: DependencyCache): MeshIndex {
  // Peeked: a translation reads the index for the objects it names, and depends on their keys alone.
  return cache.peek(`model:index/${name}`, () => {
    for (const kind of INDEXED) cache.depend(dependencyKey(kind, name, ALL_NAMES));
    return indexMesh(name, resources);
  });
}

function subjectMatch(m: SubjectMatcher): SubjectMatchModel {
  if ('exact' in m) return { kind: 'exact', value: m.exact };
  if ('hasPrefix' in m) return { kind: 'hasPrefix', value: m.hasPrefix };
  if ('hasSuffix' in m) return { kind: 'hasSuffix', value: m.hasSuffix };
  return { kind: 'regex', value: m.regex };
}

function hostModel(route: RouteResource): GatewayHostModel {
  const serverSecret = route.tls?.serverCertificate?.name;
  const clientCa = route.tls?.clientValidationCa?.name;
  // Envoy takes the first matching route: the most specific prefix must come first, whatever
  // the order in the descriptor (Gateway API and Kuma order by prefix length too).
  const rules = route.routes
    .map((r, index) => ({ name: r.name, prefix: r.prefix, service: r.route.service, index }))
    .sort((a, b) => b.prefix.length - a.prefix.length || a.index - b.index)
    .map(({ name, prefix, service }) => ({ ...(name !== undefined ? { name } : {}), prefix, service }));
  return {
    route: route.name,
    host: route.host,
    serverCertificate: serverSecret !== undefined ? { kind: 'user', secret: serverSecret } : { kind: 'issued', host: route.host },
    ...(clientCa !== undefined ? { clientValidationCa: clientCa } : {}),
    subjectMatches: (route.validation?.clientCertificate?.subjectMatches ?? []).map(subjectMatch),
    rules,
    ...(route.corsPolicy ? { cors: { allowedOrigins: route.corsPolicy.allowedOrigins, allowedMethods: route.corsPolicy.allowedMethods } } : {}),
  };
}

/**
 * The model of `gateway`: the hosts of the Routes that resolve to it (`gateways`: every Gateway of
 * its mesh), the first Route by name claiming a host getting it, sorted by host.
 */
export function gatewayModel(gateway: GatewayResource, gateways: readonly GatewayResource[], routes: readonly RouteResource[]): GatewayModel {
  const hosts = new Map<string, GatewayHostModel>();
  for (const route of [...routes].sort((a, b) => a.name.localeCompare(b.name))) {
    const resolved = resolveRouteGateway(route, gateways);
    if ('error' in resolved || resolved.gateway.name !== gateway.name) continue;
    const key = route.host.toLowerCase();
    if (!hosts.has(key)) hosts.set(key, hostModel(route));
  }
  return { mesh: gateway.mesh, name: gateway.name, ports: gateway.listeners.map((l) => l.port), hosts: [...hosts.values()].sort((a, b) => a.host.localeCompare(b.host)) };
}

/** Whether two maps hold the same objects in the same order. */
function sameEntries<V>(a: ReadonlyMap<string, V> | undefined, b: ReadonlyMap<string, V>): boolean {
  if (a === undefined || a.size !== b.size) return false;
  const other = b.entries();
  for (const [key, value] of a) {
    const next = other.next().value as [string, V];
    if (next[0] !== key || next[1] !== value) return false;
  }
  return true;
}

/** The model of mesh `name` from `resources` (the mesh's, in resource order; other meshes' are ignored). */
export function meshModel(name: string, resources: readonly Resource[], t: MeshTranslation): MeshModel {
  const { cache, offline, previous } = t;
  const index = meshIndex(name, resources, cache);

  const services = new Map<string, ServiceModel>();
  for (const service of [...index.contributors.keys()].sort((a, b) => a.localeCompare(b))) {
    const model = cache.get(`model:service/${name}/${service}`, () => {
      cache.depend(dependencyKey('Service', name, service));
      cache.depend(dependencyKey('ServiceMembers', name, service));
      const contributors = index.contributors.get(service) ?? [];
      for (const r of contributors) if (r.type === 'Dataplane') cache.depend(dependencyKey('Liveness', name, r.name));
      return interned(serviceModel(name, service, contributors, offline), previous?.services.get(service));
    });
    services.set(service, model);
  }

  const dataplanes = new Map<string, DataplaneModel>();
  for (const dp of index.dataplanes.values()) {
    const model = cache.get(`model:dataplane/${name}/${dp.name}`, () => {
      cache.depend(dependencyKey('Dataplane', name, dp.name));
      return interned(dataplaneModel(dp), previous?.dataplanes.get(dp.name));
    });
    dataplanes.set(dp.name, model);
  }

  const gateways = new Map<string, GatewayModel>();
  for (const gateway of [...index.gateways].sort((a, b) => a.name.localeCompare(b.name))) {
    const model = cache.get(`model:gateway/${name}/${gateway.name}`, () => {
      // A Route names its Gateway, or takes the only one of its mesh: every Gateway and Route of the mesh counts.
      cache.depend(dependencyKey('Gateway', name, ALL_NAMES));
      cache.depend(dependencyKey('Route', name, ALL_NAMES));
      return interned(gatewayModel(gateway, index.gateways, index.routes), previous?.gateways.get(gateway.name));
    });
    gateways.set(gateway.name, model);
  }

  const mtls = cache.get(`model:mtls/${name}`, () => {
    cache.depend(dependencyKey('Mesh', name, name));
    return interned(translateMeshMtls(index.mesh), previous?.mtls);
  });
  const trafficPermissions = cache.get(`model:permissions/${name}`, () => {
    cache.depend(dependencyKey('TrafficPermission', name, ALL_NAMES));
    return interned(translateTrafficPermissions(index.permissions), previous?.trafficPermissions);
  });

  if (
    previous !== undefined &&
    mtls === previous.mtls &&
    trafficPermissions === previous.trafficPermissions &&
    sameEntries(previous.services, services) &&
    sameEntries(previous.dataplanes, dataplanes) &&
    sameEntries(previous.gateways, gateways)
  ) {
    return previous;
  }
  return {
    name,
    services: sameEntries(previous?.services, services) ? previous!.services : services,
    dataplanes: sameEntries(previous?.dataplanes, dataplanes) ? previous!.dataplanes : dataplanes,
    gateways: sameEntries(previous?.gateways, gateways) ? previous!.gateways : gateways,
    ...(mtls ? { mtls } : {}),
    trafficPermissions,
  };
}

/** One mesh's model from the resources of that mesh (or any superset: other meshes' are ignored). */
export function translateMesh(meshName: string, resources: readonly Resource[], offline: OfflineDataplanes = NONE_OFFLINE, cache = new DependencyCache(), previous?: MeshModel): MeshModel {
  return meshModel(meshName, resources, { cache, offline, previous });
}

/** The full translation: every mesh from scratch, on a cache of its own unless one is given. */
export function translateMeshes(resources: readonly Resource[], cache = new DependencyCache()): Model {
  const meshes = new Map<string, MeshModel>();
  for (const [name, group] of ResourceSet.fromList(resources).groups) meshes.set(name, meshModel(name, group.resources, { cache, offline: NONE_OFFLINE }));
  return { meshes };
}

/**
 * One mesh's resources by kind, read once per change of the mesh: what the per-object
 * translations (mesh.ts) look their resources up in. A service's contributors are the Dataplanes
 * whose inbounds name it and its Service resource, in resource order (the order endpoints are
 * collected in, and the first inbound's protocol wins).
 */
import { meshOf } from '../api/resource-set.js';
import { SERVICE_TAG } from '../api/tags.js';
import type { DataplaneResource, GatewayResource, MeshResource, Resource, RouteResource, ServiceResource, TrafficPermissionResource } from '../api/types.js';

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

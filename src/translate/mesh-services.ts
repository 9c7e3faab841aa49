/**
 * api → model per mesh: Dataplanes and Services, Gateways, the mTLS state and the
 * TrafficPermissions. A service is the union of the Dataplane inbounds tagged
 * `kuma.io/service: <name>` and a Service resource of that name.
 */
import { ResourceSet } from '../api/resource-set.js';
import type { DataplaneResource, Resource, ServiceResource } from '../api/types.js';
import type { DataplaneModel, EndpointModel, MeshModel, Model, Protocol, ServiceModel } from '../model/model.js';
import { translateGateways } from './gateways.js';
import { translateMeshMtls } from './mesh-mtls.js';
import { translateTrafficPermissions } from './permissions.js';

export const SERVICE_TAG = 'kuma.io/service';
export const PROTOCOL_TAG = 'kuma.io/protocol';

function protocolOf(tags: Readonly<Record<string, string>>): Protocol {
  const value = tags[PROTOCOL_TAG];
  return value === 'http' || value === 'http2' || value === 'grpc' ? value : 'tcp';
}

function toDataplaneModel(dp: DataplaneResource): DataplaneModel {
  return {
    mesh: dp.mesh,
    name: dp.name,
    address: dp.networking.address,
    inbound: dp.networking.inbound.map((i) => ({
      port: i.port,
      servicePort: i.servicePort ?? i.port,
      service: i.tags[SERVICE_TAG] ?? '',
      protocol: protocolOf(i.tags),
      tags: i.tags,
    })),
    outbound: dp.networking.outbound.map((o) => ({ port: o.port, service: o.tags[SERVICE_TAG] ?? '', tags: o.tags })),
  };
}

interface ServiceAccumulator {
  endpoints: EndpointModel[];
  protocol?: Protocol;
  meshManaged: boolean;
  resource?: ServiceResource;
}

/** The resources of each mesh, in their original order; `default` always exists. Sorted by mesh name. */
export function resourcesByMesh(resources: readonly Resource[]): Map<string, readonly Resource[]> {
  return new Map([...ResourceSet.fromList(resources).groups].map(([mesh, group]) => [mesh, group.resources]));
}

/** One mesh's model from the resources of that mesh (or any superset: other meshes' are ignored). */
/** Whether a Dataplane's proxy is offline (runtime/liveness.ts); never, by default. */
export type OfflineDataplanes = (mesh: string, dataplane: string) => boolean;

export const NONE_OFFLINE: OfflineDataplanes = () => false;

export function translateMesh(meshName: string, resources: readonly Resource[], offline: OfflineDataplanes = NONE_OFFLINE): MeshModel {
  const dataplanes = new Map<string, DataplaneModel>();
  const services = new Map<string, ServiceAccumulator>();
  const accumulator = (name: string): ServiceAccumulator => {
    let acc = services.get(name);
    if (!acc) {
      acc = { endpoints: [], meshManaged: false };
      services.set(name, acc);
    }
    return acc;
  };
  for (const r of resources) {
    if (r.type === 'Dataplane' && r.mesh === meshName) {
      const model = toDataplaneModel(r);
      dataplanes.set(r.name, model);
      for (const inbound of model.inbound) {
        const acc = accumulator(inbound.service);
        acc.endpoints.push({ address: model.address, port: inbound.port, dataplane: model.name, ...(offline(meshName, model.name) ? { healthy: false as const } : {}) });
        acc.meshManaged = true;
        acc.protocol ??= inbound.protocol;
      }
    }
    if (r.type === 'Service' && r.mesh === meshName) {
      const acc = accumulator(r.name);
      acc.resource = r;
      for (const e of r.endpoints) acc.endpoints.push({ address: e.address, port: e.port });
    }
  }
  const serviceModels = new Map<string, ServiceModel>();
  for (const [name, acc] of [...services].sort(([a], [b]) => a.localeCompare(b))) {
    serviceModels.set(name, {
      mesh: meshName,
      name,
      protocol: acc.protocol ?? 'tcp',
      endpoints: acc.endpoints,
      meshManaged: acc.meshManaged,
      ...(acc.resource?.tls ? { upstreamTls: { ...acc.resource.tls } } : {}),
    });
  }
  const mtls = translateMeshMtls(resources, meshName);
  return {
    name: meshName,
    services: serviceModels,
    dataplanes,
    gateways: translateGateways(resources, meshName),
    ...(mtls ? { mtls } : {}),
    trafficPermissions: translateTrafficPermissions(resources, meshName),
  };
}

/**
 * The full translation: every mesh from scratch. The incremental translator (incremental.ts)
 * gives the same model; this stays as its oracle (issue #11).
 */
export function translateMeshes(resources: readonly Resource[]): Model {
  const meshes = new Map<string, MeshModel>();
  for (const [meshName, meshResources] of resourcesByMesh(resources)) meshes.set(meshName, translateMesh(meshName, meshResources));
  return { meshes };
}

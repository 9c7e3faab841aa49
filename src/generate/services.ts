/** Cluster + endpoints for a destination service: built once per ServiceModel and shared by every proxy. */
import type { ServiceModel } from '../model/model.js';
import { edsCluster } from '../envoy/cluster.js';
import { clusterLoadAssignment } from '../envoy/endpoint.js';
import { serviceClusterName } from '../envoy/names.js';
import type { ResourceObject } from '../xds/encode.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from '../xds/types.js';
import type { ConfigBuilder } from './config-builder.js';

interface ServiceResources {
  readonly cluster: ResourceObject;
  readonly endpoints: ResourceObject;
}

const shared = new WeakMap<ServiceModel, ServiceResources>();

export function isHttp2(protocol: ServiceModel['protocol']): boolean {
  return protocol === 'grpc' || protocol === 'http2';
}

function plainServiceResources(service: ServiceModel): ServiceResources {
  let found = shared.get(service);
  if (!found) {
    const name = serviceClusterName(service.name);
    found = {
      cluster: edsCluster({ name, http2: isHttp2(service.protocol) }),
      endpoints: clusterLoadAssignment(name, service.endpoints),
    };
    shared.set(service, found);
  }
  return found;
}

/** Adds the EDS cluster and its endpoints for `service` (or an empty one when the service is unknown). */
export function addServiceCluster(builder: ConfigBuilder, service: ServiceModel | undefined, serviceName: string): string {
  const name = serviceClusterName(serviceName);
  if (builder.has(CLUSTER_TYPE, name)) return name;
  const resources = service
    ? plainServiceResources(service)
    : { cluster: edsCluster({ name }), endpoints: clusterLoadAssignment(name, []) };
  builder.cluster(name, resources.cluster).endpoints(name, resources.endpoints).ref(ENDPOINT_TYPE, name, `cluster ${name}`);
  return name;
}

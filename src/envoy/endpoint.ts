import { isIP } from 'node:net';
import type { EndpointModel } from '../model/model.js';
import type { ResourceObject } from '../snapshot/encode.js';
import { socketAddress } from './cluster.js';

export function clusterLoadAssignment(clusterName: string, all: readonly EndpointModel[]): ResourceObject {
  // EDS carries IP addresses only: Envoy refuses the whole response for one hostname. A Service
  // endpoint given by name is reached through a DNS cluster instead (validation allows one only
  // as a Service's sole endpoint; one that shares its service with Dataplanes is left out).
  const endpoints = all.some((e) => isIP(e.address) === 0) ? all.filter((e) => isIP(e.address) !== 0) : all;
  if (endpoints.length === 0) return { cluster_name: clusterName };
  // Each endpoint's sort key built once, not once per comparison (the same order: a stable sort on the same keys).
  const sorted = endpoints
    .map((e) => ({ key: `${e.address}:${e.port}`, e }))
    .sort((a, b) => a.key.localeCompare(b.key))
    .map((k) => k.e);
  return {
    cluster_name: clusterName,
    endpoints: [
      {
        // One locality for now. gRPC requires the locality to be set and ignores a locality
        // whose weight is 0 (gRFC A27), so both are explicit.
        locality: {},
        load_balancing_weight: { value: 1 },
        lb_endpoints: sorted.map((e) => ({
          endpoint: { address: socketAddress(e.address, e.port) },
          // An offline Dataplane's endpoint is UNHEALTHY, as Kuma reports it: Envoy routes around it
          // (unless most are out, its panic threshold) and gRPC drops it.
          health_status: e.healthy === false ? 'UNHEALTHY' : 'HEALTHY',
          load_balancing_weight: { value: 1 },
        })),
      },
    ],
  };
}

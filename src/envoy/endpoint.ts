import type { EndpointModel } from '../model/model.js';
import type { ResourceObject } from '../xds/encode.js';
import { socketAddress } from './cluster.js';

export function clusterLoadAssignment(clusterName: string, endpoints: readonly EndpointModel[]): ResourceObject {
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
          health_status: 'HEALTHY',
          load_balancing_weight: { value: 1 },
        })),
      },
    ],
  };
}

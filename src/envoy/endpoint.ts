import type { EndpointModel } from '../model/model.js';
import type { ResourceObject } from '../xds/encode.js';
import { socketAddress } from './cluster.js';

export function clusterLoadAssignment(clusterName: string, endpoints: readonly EndpointModel[]): ResourceObject {
  if (endpoints.length === 0) return { cluster_name: clusterName };
  const sorted = [...endpoints].sort((a, b) => `${a.address}:${a.port}`.localeCompare(`${b.address}:${b.port}`));
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

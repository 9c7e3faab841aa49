/** Small user resources the incremental tests build their meshes from. */
import type { Resource } from '../../src/api/types.js';

/** A Dataplane at `address` serving `service` over HTTP on 8080 (to `servicePort` when given) and calling `outbound`, on ports from 10000. */
export function sidecarDataplane(name: string, address: string, service: string, outbound: readonly string[], servicePort?: number): Resource {
  return {
    type: 'Dataplane',
    name,
    mesh: 'default',
    networking: {
      address,
      inbound: [{ port: 8080, ...(servicePort !== undefined ? { servicePort } : {}), tags: { 'kuma.io/service': service, 'kuma.io/protocol': 'http' } }],
      outbound: outbound.map((s, i) => ({ port: 10000 + i, tags: { 'kuma.io/service': s } })),
    },
  } as Resource;
}

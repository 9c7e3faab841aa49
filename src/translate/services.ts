/**
 * api → model for one service: the union of the Dataplane inbounds tagged
 * `kuma.io/service: <name>` and a Service resource of that name.
 */
import { PROTOCOL_TAG, SERVICE_TAG } from '../api/tags.js';
import type { DataplaneResource, ServiceResource, Tags } from '../api/types.js';
import type { DataplaneModel, EndpointModel, Protocol, ServiceModel } from '../model/model.js';

/** Whether a Dataplane's proxy is offline (runtime/liveness.ts); never, by default. */
export type OfflineDataplanes = (mesh: string, dataplane: string) => boolean;

export const NONE_OFFLINE: OfflineDataplanes = () => false;

function protocolOf(tags: Tags): Protocol {
  const value = tags[PROTOCOL_TAG];
  return value === 'http' || value === 'http2' || value === 'grpc' ? value : 'tcp';
}

export function dataplaneModel(dp: DataplaneResource): DataplaneModel {
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

/**
 * The service `name` of `mesh` from its contributors, in resource order: each inbound of a
 * Dataplane naming it is an endpoint (unhealthy while its proxy is `offline`) and makes the
 * service a mesh service, the first one giving its protocol; a Service resource adds its
 * endpoints and its upstream TLS.
 */
export function serviceModel(mesh: string, name: string, contributors: readonly (DataplaneResource | ServiceResource)[], offline: OfflineDataplanes): ServiceModel {
  const endpoints: EndpointModel[] = [];
  let protocol: Protocol | undefined;
  let meshManaged = false;
  let resource: ServiceResource | undefined;
  for (const r of contributors) {
    if (r.type === 'Dataplane') {
      const down = offline(mesh, r.name);
      for (const inbound of r.networking.inbound) {
        if ((inbound.tags[SERVICE_TAG] ?? '') !== name) continue;
        endpoints.push({ address: r.networking.address, port: inbound.port, dataplane: r.name, ...(down ? { healthy: false as const } : {}) });
        meshManaged = true;
        protocol ??= protocolOf(inbound.tags);
      }
    } else {
      resource = r;
      for (const e of r.endpoints) endpoints.push({ address: e.address, port: e.port });
    }
  }
  return {
    mesh,
    name,
    protocol: protocol ?? 'tcp',
    endpoints,
    meshManaged,
    ...(resource?.tls ? { upstreamTls: { ...resource.tls } } : {}),
  };
}

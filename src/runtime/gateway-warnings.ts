/**
 * The gateway warnings `serve` reports beside validation errors (generate/gateway-warnings.ts),
 * read off what they depend on alone: each mesh's Gateways, Routes, Service resources (their
 * upstream `tls`) and `tls` Secrets (their certificates' names). The validator asks before the
 * control plane has translated the change, so the mesh is not translated for it: the control
 * plane's translation is the only one per change.
 */
import { ResourceSet } from '../api/resource-set.js';
import type { GatewayResource, Resource, RouteResource } from '../api/types.js';
import { gatewayWarnings, type ServerCertificateLookup } from '../generate/gateway-warnings.js';
import type { MeshModel, ServiceModel } from '../model/model.js';
import { gatewayModel } from '../translate/mesh-services.js';
import { NONE_OFFLINE, serviceModel } from '../translate/services.js';

/** Every gateway warning of a valid resource set (references resolved), in mesh then gateway order: what `resourceSetWarnings` gives, without translating the meshes. */
export function gatewayWarningsOf(resources: readonly Resource[]): string[] {
  const warnings: string[] = [];
  for (const [mesh, group] of ResourceSet.fromList(resources).groups) {
    const gateways: GatewayResource[] = [];
    const routes: RouteResource[] = [];
    const services = new Map<string, ServiceModel>();
    const certificates = new Map<string, string>();
    for (const r of group.resources) {
      if (r.type === 'Gateway') gateways.push(r);
      else if (r.type === 'Route') routes.push(r);
      else if (r.type === 'Service') services.set(r.name, serviceModel(mesh, r.name, [r], NONE_OFFLINE));
      else if (r.type === 'Secret' && r.secretType === 'tls' && !certificates.has(r.name)) certificates.set(r.name, r.cert);
    }
    if (gateways.length === 0) continue;
    // What a gateway's warnings read of its mesh: its name and the upstream TLS of its services.
    const view: MeshModel = { name: mesh, services, dataplanes: new Map(), gateways: new Map(), trafficPermissions: [] };
    const lookup: ServerCertificateLookup = (m, name) => (m === mesh ? certificates.get(name) : undefined);
    for (const gateway of [...gateways].sort((a, b) => a.name.localeCompare(b.name))) warnings.push(...gatewayWarnings(view, gatewayModel(gateway, gateways, routes), lookup));
  }
  return warnings;
}

/**
 * Cross-resource checks: what a resource names must exist, with the right type, in its mesh.
 * Single documents are validated by parse.ts; these checks need the whole (merged) set and run
 * when it changes: on apply, on delete and on a config file reload. A reference error makes
 * the whole change invalid (SPEC §3), so nothing half-resolved reaches translation.
 */
import type { FieldError } from './errors.js';
import { labelPart, quoteValue } from './quote.js';
import { nearest } from './suggest.js';
import { resourceLabel, type GatewayResource, type Resource, type RouteResource, type SecretResource, type SecretType, type ServiceResource } from './types.js';

import { SERVICE_TAG } from './tags.js';

interface MeshIndex {
  readonly secrets: Map<string, SecretResource>;
  readonly services: Set<string>;
  readonly gateways: GatewayResource[];
}

function indexMeshes(resources: readonly Resource[], withServices = true): Map<string, MeshIndex> {
  const meshes = new Map<string, MeshIndex>();
  const meshIndex = (mesh: string): MeshIndex => {
    let found = meshes.get(mesh);
    if (!found) {
      found = { secrets: new Map(), services: new Set(), gateways: [] };
      meshes.set(mesh, found);
    }
    return found;
  };
  for (const r of resources) {
    if (r.type === 'Mesh') continue;
    const m = meshIndex(r.mesh);
    if (r.type === 'Secret') m.secrets.set(r.name, r);
    if (r.type === 'Service') m.services.add(r.name);
    if (r.type === 'Gateway') m.gateways.push(r);
    if (r.type === 'Dataplane' && withServices) {
      for (const inbound of r.networking.inbound) {
        const service = inbound.tags[SERVICE_TAG];
        if (service !== undefined) m.services.add(service);
      }
    }
  }
  return meshes;
}

const EMPTY: MeshIndex = { secrets: new Map(), services: new Set(), gateways: [] };

function didYouMean(name: string, candidates: Iterable<string>): string {
  const suggestion = nearest(name, [...candidates]);
  return suggestion !== undefined ? `; did you mean "${suggestion}"?` : '';
}

function secretError(r: Resource & { mesh: string }, path: string, name: string, wanted: SecretType, mesh: MeshIndex): FieldError | undefined {
  const secret = mesh.secrets.get(name);
  if (!secret) {
    return { resource: resourceLabel(r), path, message: `secret "${name}" not found in mesh "${r.mesh}"${didYouMean(name, mesh.secrets.keys())}` };
  }
  if (secret.secretType !== wanted) {
    const purpose = wanted === 'tls-ca' ? 'a CA bundle to validate peers' : 'a certificate and its key';
    return { resource: resourceLabel(r), path, message: `secret "${name}" is a ${secret.secretType} secret; a ${wanted} secret (${purpose}) is required` };
  }
  return undefined;
}

/** The Gateway a Route attaches to, or the error explaining why there is none. */
export function resolveRouteGateway(route: RouteResource, gateways: readonly GatewayResource[]): { gateway: GatewayResource } | { error: string } {
  const inMesh = gateways.filter((g) => g.mesh === route.mesh);
  if (route.gateway !== undefined) {
    const gateway = inMesh.find((g) => g.name === route.gateway);
    if (gateway) return { gateway };
    return { error: `gateway "${route.gateway}" not found in mesh "${route.mesh}"${didYouMean(route.gateway, inMesh.map((g) => g.name))}` };
  }
  const [only] = inMesh;
  if (only && inMesh.length === 1) return { gateway: only };
  if (inMesh.length === 0) return { error: `no Gateway in mesh "${route.mesh}" to serve this route; create one` };
  const names = inMesh.map((g) => `"${g.name}"`).join(', ');
  return { error: `required: mesh "${route.mesh}" has ${inMesh.length} Gateways (${names}); say which one serves this route` };
}

function checkRoute(route: RouteResource, mesh: MeshIndex, hosts: Map<string, RouteResource>): FieldError[] {
  const errors: FieldError[] = [];
  const push = (e: FieldError | undefined): void => {
    if (e) errors.push(e);
  };
  const label = resourceLabel(route);
  const resolved = resolveRouteGateway(route, mesh.gateways);
  if ('error' in resolved) push({ resource: label, path: 'gateway', message: resolved.error });
  else {
    // Envoy selects a filter chain by SNI: two routes with one host on one gateway would make one of them unreachable.
    const hostKey = `${route.mesh}/${resolved.gateway.name}/${route.host.toLowerCase()}`;
    const claimant = hosts.get(hostKey);
    if (claimant) {
      push({ resource: label, path: 'host', message: `host "${route.host}" is already served by ${resourceLabel(claimant)} on gateway "${resolved.gateway.name}"` });
    } else hosts.set(hostKey, route);
  }
  const ca = route.tls?.clientValidationCa;
  if (ca) push(secretError(route, 'tls.clientValidationCa.name', ca.name, 'tls-ca', mesh));
  const server = route.tls?.serverCertificate;
  if (server) push(secretError(route, 'tls.serverCertificate.name', server.name, 'tls', mesh));
  route.routes.forEach((rule, i) => {
    const service = rule.route.service;
    if (mesh.services.has(service)) return;
    push({
      resource: label,
      path: `routes[${i}].route.service`,
      message: `service ${quoteValue(service)} not found in mesh "${route.mesh}": no Service resource and no Dataplane inbound tagged ${SERVICE_TAG}: ${labelPart(service, 80)}${didYouMean(service, mesh.services)}`,
    });
  });
  return errors;
}

function checkService(service: ServiceResource, mesh: MeshIndex): FieldError[] {
  const errors: FieldError[] = [];
  if (service.tls?.caSecret !== undefined) {
    const e = secretError(service, 'tls.caSecret', service.tls.caSecret, 'tls-ca', mesh);
    if (e) errors.push(e);
  }
  if (service.tls?.clientCertificateSecret !== undefined) {
    const e = secretError(service, 'tls.clientCertificateSecret', service.tls.clientCertificateSecret, 'tls', mesh);
    if (e) errors.push(e);
  }
  return errors;
}

/**
 * Every dangling or ambiguous reference in `resources` (of the resources in `only`, when given:
 * sources/validate.ts validateChange). When two Routes claim one host on one gateway, the later
 * one in `resources` gets the error, so callers put new resources last.
 */
export function checkReferences(resources: readonly Resource[], only?: readonly Resource[]): FieldError[] {
  const selected = only ? new Set(only) : undefined;
  // The service names are what Routes need; a check of Services alone does not index them.
  const meshes = indexMeshes(resources, selected === undefined || only?.some((r) => r.type === 'Route'));
  const hosts = new Map<string, RouteResource>();
  const errors: FieldError[] = [];
  for (const r of resources) {
    if (r.type === 'Route') {
      // Every Route claims its host in order, so the later claimant gets the error also when only some are reported.
      const found = checkRoute(r, meshes.get(r.mesh) ?? EMPTY, hosts);
      if (!selected || selected.has(r)) errors.push(...found);
    }
    if (r.type === 'Service' && (!selected || selected.has(r))) errors.push(...checkService(r, meshes.get(r.mesh) ?? EMPTY));
  }
  return errors;
}


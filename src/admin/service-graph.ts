/**
 * `GET /api/inspect/services?mesh=M`: who may call whom, for the web GUI's graph, and
 * `GET /api/inspect/dataplanes/NAME/permissions`: which TrafficPermissions let whom call one proxy.
 *
 * Nothing here decides what is allowed: access is read off the RBAC policies the generator sends
 * each inbound (generate/permissions.ts `inboundPolicies`, `plaintextPolicies`), so the graph says
 * what the proxies enforce. An edge is a call someone declared (a Dataplane outbound, a gateway
 * Route rule) or a pair a TrafficPermission names; a wildcard source is not expanded into an edge
 * per service (100 services would draw 10,000), it is listed on its destination instead.
 */
import type { Resource } from '../api/types.js';
import type { RbacPolicy, RbacPrincipal } from '../envoy/mesh-rbac.js';
import { GenerationMemo } from '../generate/memo.js';
import { inboundPolicies, plaintextPolicies } from '../generate/permissions.js';
import { spiffeId } from '../identity/names.js';
import type { InboundModel, MeshModel } from '../model/model.js';
import { SERVICE_TAG } from '../api/tags.js';
import { translateMesh } from '../translate/mesh-services.js';

/**
 * allowed: every instance of the destination admits the caller; partial: some do (their inbound
 * tags differ); denied: none does; unenforced: nothing checks callers (mTLS is off in the mesh, or
 * the destination is outside the mesh, a Service resource).
 */
export type Access = 'allowed' | 'partial' | 'denied' | 'unenforced';

export interface GraphNode {
  readonly name: string;
  /** mesh: served by Dataplanes; external: a Service resource only; gateway: an edge Gateway (a caller). */
  readonly kind: 'mesh' | 'external' | 'gateway';
  readonly instances: number;
  /** TrafficPermissions that admit any caller of the mesh to this service. */
  readonly anyCaller: readonly string[];
}

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  /** Declared by a Dataplane outbound or a gateway Route rule (not only named by a permission). */
  readonly declared: boolean;
  readonly access: Access;
  /** The TrafficPermissions that admit this caller. */
  readonly permissions: readonly string[];
  /** mTLS: mesh mTLS on both ends; TLS: upstream TLS to a Service resource; plaintext otherwise. */
  readonly transport: 'mTLS' | 'TLS' | 'plaintext';
}

export interface ServiceGraph {
  readonly mesh: string;
  readonly mtls: 'STRICT' | 'PERMISSIVE' | 'off';
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

function admits(principal: RbacPrincipal, caller: string): boolean {
  if ('any' in principal) return true;
  if ('exact' in principal) return principal.exact === caller;
  return caller.startsWith(principal.prefix);
}

/** The permissions among `policies` that admit `caller` (a SPIFFE ID). */
function admitting(policies: readonly RbacPolicy[], caller: string): string[] {
  return policies.filter((p) => p.principals.some((pr) => admits(pr, caller))).map((p) => p.name);
}

/** One inbound per distinct tag set of the service: instances with the same tags get the same policies. */
function inboundsOf(model: MeshModel, service: string): InboundModel[] {
  const seen = new Map<string, InboundModel>();
  for (const dp of model.dataplanes.values()) {
    for (const inbound of dp.inbound) {
      if (inbound.service !== service) continue;
      const key = JSON.stringify(Object.entries(inbound.tags).sort(([a], [b]) => a.localeCompare(b)));
      if (!seen.has(key)) seen.set(key, inbound);
    }
  }
  return [...seen.values()];
}

function accessOf(model: MeshModel, caller: string, destination: string, memo: GenerationMemo): { access: Access; permissions: string[] } {
  const service = model.services.get(destination);
  if (!model.mtls || !service?.meshManaged) return { access: 'unenforced', permissions: [] };
  const inbounds = inboundsOf(model, destination);
  const id = spiffeId(model.name, caller);
  const perInbound = inbounds.map((inbound) => admitting(inboundPolicies(model, inbound, memo), id));
  const admittedBy = [...new Set(perInbound.flat())].sort();
  const admittedCount = perInbound.filter((names) => names.length > 0).length;
  const access: Access = admittedCount === 0 ? 'denied' : admittedCount === inbounds.length ? 'allowed' : 'partial';
  return { access, permissions: admittedBy };
}

export function serviceGraph(resources: readonly Resource[], mesh: string): ServiceGraph {
  const model = translateMesh(mesh, resources);
  // One for the graph: the policies of every inbound with the same tags are computed once.
  const memo = new GenerationMemo();
  const nodes = new Map<string, { kind: GraphNode['kind']; instances: number }>();
  for (const [name, service] of model.services) nodes.set(name, { kind: service.meshManaged ? 'mesh' : 'external', instances: service.endpoints.filter((e) => e.dataplane !== undefined).length });
  for (const gateway of model.gateways.values()) if (!nodes.has(gateway.name)) nodes.set(gateway.name, { kind: 'gateway', instances: 1 });
  const declared = new Set<string>();
  const pairs = new Map<string, { from: string; to: string }>();
  const add = (from: string, to: string, isDeclared: boolean): void => {
    if (from === '' || to === '') return;
    const key = `${from}\n${to}`;
    pairs.set(key, { from, to });
    if (isDeclared) declared.add(key);
    if (!nodes.has(to)) nodes.set(to, { kind: 'external', instances: 0 });
    if (!nodes.has(from)) nodes.set(from, { kind: 'mesh', instances: 0 });
  };
  for (const dp of model.dataplanes.values()) for (const inbound of dp.inbound) for (const out of dp.outbound) add(inbound.service, out.service, true);
  for (const gateway of model.gateways.values()) for (const host of gateway.hosts) for (const rule of host.rules) add(gateway.name, rule.service, true);
  for (const permission of model.trafficPermissions) {
    for (const source of permission.sources) {
      const from = source[SERVICE_TAG];
      if (from === undefined || from === '*') continue;
      for (const destination of permission.destinations) {
        const to = destination[SERVICE_TAG];
        if (to !== undefined && to !== '*' && nodes.has(to)) add(from, to, false);
      }
    }
  }
  const edges = [...pairs.entries()]
    .map(([key, { from, to }]): GraphEdge => {
      const { access, permissions } = accessOf(model, from, to, memo);
      const service = model.services.get(to);
      const transport = service?.meshManaged ? (model.mtls ? 'mTLS' : 'plaintext') : service?.upstreamTls ? 'TLS' : 'plaintext';
      return { from, to, declared: declared.has(key), access, permissions, transport };
    })
    .sort((a, b) => (a.from === b.from ? a.to.localeCompare(b.to) : a.from.localeCompare(b.from)));
  const anyCallerOf = (name: string): string[] => {
    if (!model.mtls) return [];
    const everyone = spiffeId(model.name, '');
    const inbounds = inboundsOf(model, name);
    // Admitted for any caller: a principal that admits the mesh-wide prefix itself.
    return [...new Set(inbounds.flatMap((i) => inboundPolicies(model, i, memo).filter((p) => p.principals.some((pr) => 'any' in pr || ('prefix' in pr && everyone.startsWith(pr.prefix)))).map((p) => p.name)))].sort();
  };
  return {
    mesh,
    mtls: model.mtls?.mode ?? 'off',
    nodes: [...nodes.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, n]) => ({ name, kind: n.kind, instances: n.instances, anyCaller: anyCallerOf(name) })),
    edges,
  };
}

/** A principal as people read it: the caller's service, or who a wildcard admits. */
function describePrincipal(mesh: string, principal: RbacPrincipal): string {
  if ('any' in principal) return 'any caller, plaintext included';
  if ('prefix' in principal) return `any service of mesh ${mesh}`;
  const prefix = spiffeId(mesh, '');
  return principal.exact.startsWith(prefix) ? decodeURIComponent(principal.exact.slice(prefix.length)) : principal.exact;
}

export interface InboundPermissions {
  readonly port: number;
  readonly service: string;
  readonly tags: Readonly<Record<string, string>>;
  /** False when the mesh has mTLS off: the inbound then admits every caller. */
  readonly enforced: boolean;
  /** For mTLS callers: each permission that applies, and whom it admits (SPIFFE IDs read as services). */
  readonly permissions: readonly { readonly name: string; readonly callers: readonly string[]; readonly principals: readonly string[] }[];
  /** PERMISSIVE: the permissions that admit plaintext callers too. */
  readonly plaintext: readonly string[];
}

export interface DataplanePermissions {
  readonly mesh: string;
  readonly name: string;
  readonly mtls: 'STRICT' | 'PERMISSIVE' | 'off';
  readonly inbounds: readonly InboundPermissions[];
}

/** Undefined when the mesh has no Dataplane of that name. */
export function dataplanePermissions(resources: readonly Resource[], mesh: string, name: string): DataplanePermissions | undefined {
  const model = translateMesh(mesh, resources);
  const dataplane = model.dataplanes.get(name);
  if (!dataplane) return undefined;
  const principalText = (p: RbacPrincipal): string => ('exact' in p ? p.exact : 'prefix' in p ? `${p.prefix}*` : '*');
  return {
    mesh,
    name,
    mtls: model.mtls?.mode ?? 'off',
    inbounds: dataplane.inbound.map((inbound) => ({
      port: inbound.port,
      service: inbound.service,
      tags: inbound.tags,
      enforced: model.mtls !== undefined,
      permissions: model.mtls
        ? inboundPolicies(model, inbound).map((p) => ({ name: p.name, callers: p.principals.map((pr) => describePrincipal(mesh, pr)), principals: p.principals.map(principalText) }))
        : [],
      plaintext: model.mtls?.mode === 'PERMISSIVE' ? plaintextPolicies(model, inbound).map((p) => p.name) : [],
    })),
  };
}

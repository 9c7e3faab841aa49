/**
 * api → model for edge gateways: each Gateway with the Routes it serves (SPEC §1 Gateway,
 * Route). References were checked by src/api/references.ts before translation; a Route that
 * still does not resolve is left out, so nothing half-configured reaches a proxy.
 */
import { resolveRouteGateway } from '../api/references.js';
import type { GatewayResource, RouteResource, SubjectMatcher } from '../api/types.js';
import type { GatewayHostModel, GatewayModel, SubjectMatchModel } from '../model/model.js';

function subjectMatch(m: SubjectMatcher): SubjectMatchModel {
  if ('exact' in m) return { kind: 'exact', value: m.exact };
  if ('hasPrefix' in m) return { kind: 'hasPrefix', value: m.hasPrefix };
  if ('hasSuffix' in m) return { kind: 'hasSuffix', value: m.hasSuffix };
  return { kind: 'regex', value: m.regex };
}

function hostModel(route: RouteResource): GatewayHostModel {
  const serverSecret = route.tls?.serverCertificate?.name;
  const clientCa = route.tls?.clientValidationCa?.name;
  // Envoy takes the first matching route: the most specific prefix must come first, whatever
  // the order in the descriptor (Gateway API and Kuma order by prefix length too).
  const rules = route.routes
    .map((r, index) => ({ name: r.name, prefix: r.prefix, service: r.route.service, index }))
    .sort((a, b) => b.prefix.length - a.prefix.length || a.index - b.index)
    .map(({ name, prefix, service }) => ({ ...(name !== undefined ? { name } : {}), prefix, service }));
  return {
    route: route.name,
    host: route.host,
    serverCertificate: serverSecret !== undefined ? { kind: 'user', secret: serverSecret } : { kind: 'issued', host: route.host },
    ...(clientCa !== undefined ? { clientValidationCa: clientCa } : {}),
    subjectMatches: (route.validation?.clientCertificate?.subjectMatches ?? []).map(subjectMatch),
    rules,
    ...(route.corsPolicy ? { cors: { allowedOrigins: route.corsPolicy.allowedOrigins, allowedMethods: route.corsPolicy.allowedMethods } } : {}),
  };
}

/**
 * The model of `gateway`: the hosts of the Routes that resolve to it (`gateways`: every Gateway of
 * its mesh), the first Route by name claiming a host getting it, sorted by host.
 */
export function gatewayModel(gateway: GatewayResource, gateways: readonly GatewayResource[], routes: readonly RouteResource[]): GatewayModel {
  const hosts = new Map<string, GatewayHostModel>();
  for (const route of [...routes].sort((a, b) => a.name.localeCompare(b.name))) {
    const resolved = resolveRouteGateway(route, gateways);
    if ('error' in resolved || resolved.gateway.name !== gateway.name) continue;
    const key = route.host.toLowerCase();
    if (!hosts.has(key)) hosts.set(key, hostModel(route));
  }
  return { mesh: gateway.mesh, name: gateway.name, ports: gateway.listeners.map((l) => l.port), hosts: [...hosts.values()].sort((a, b) => a.host.localeCompare(b.host)) };
}

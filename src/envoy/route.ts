import type { ResourceObject } from '../xds/encode.js';

export interface RouteEntry {
  readonly prefix: string;
  readonly cluster: string;
}

export function virtualHost(name: string, domains: readonly string[], routes: readonly RouteEntry[]): Record<string, unknown> {
  return {
    name,
    domains: [...domains],
    routes: routes.map((r) => ({ match: { prefix: r.prefix }, route: { cluster: r.cluster } })),
  };
}

export function routeConfiguration(name: string, virtualHosts: readonly Record<string, unknown>[]): ResourceObject {
  return { name, virtual_hosts: [...virtualHosts] };
}

/** gRPC A36: routes on an xDS-enabled server must carry a non-forwarding action. */
export function serverSideRouteConfiguration(name: string): Record<string, unknown> {
  return {
    name,
    virtual_hosts: [{ name, domains: ['*'], routes: [{ match: { prefix: '' }, non_forwarding_action: {} }] }],
  };
}

import type { ResourceObject } from '../snapshot/encode.js';

export interface RouteEntry {
  /** Envoy's route name (in its stats and logs); none by default. */
  readonly name?: string;
  readonly prefix: string;
  readonly cluster: string;
}

/**
 * Envoy ends a request after 15 s by default (`route.timeout`), which cuts gRPC streams, long
 * polls and slow downloads. As Istio does, Envoy routes carry no overall request timeout; idle
 * streams and connections are ended by the connection manager's idle timeouts instead
 * (envoy/filters.ts). gRPC's xDS clients read `max_stream_duration`, not this field.
 */
const NO_REQUEST_TIMEOUT = { seconds: 0, nanos: 0 } as const;

export function virtualHost(
  name: string,
  domains: readonly string[],
  routes: readonly RouteEntry[],
  flavor: 'envoy' | 'grpc' = 'envoy',
  perFilterConfig?: Readonly<Record<string, Record<string, unknown>>>,
): Record<string, unknown> {
  return {
    name,
    domains: [...domains],
    routes: routes.map((r) => ({
      ...(r.name !== undefined ? { name: r.name } : {}),
      match: { prefix: r.prefix },
      route: { cluster: r.cluster, ...(flavor === 'envoy' ? { timeout: NO_REQUEST_TIMEOUT } : {}) },
    })),
    ...(perFilterConfig !== undefined ? { typed_per_filter_config: { ...perFilterConfig } } : {}),
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

import type { ResourceObject } from '../snapshot/encode.js';
import { socketAddress } from './cluster.js';
import { typed } from './any.js';

export interface FilterChain {
  readonly name?: string;
  readonly filter_chain_match?: Record<string, unknown>;
  readonly filters: readonly Record<string, unknown>[];
  readonly transport_socket?: Record<string, unknown>;
}

export function socketListener(
  name: string,
  address: string,
  port: number,
  filterChains: readonly FilterChain[],
  direction: 'INBOUND' | 'OUTBOUND',
  listenerFilters: readonly Record<string, unknown>[] = [],
  /** Further Listener fields. */
  extra: Readonly<Record<string, unknown>> = {},
): ResourceObject {
  return {
    name,
    address: socketAddress(address, port),
    filter_chains: filterChains.map((c) => ({ ...c })),
    ...(listenerFilters.length > 0 ? { listener_filters: [...listenerFilters] } : {}),
    ...extra,
    traffic_direction: direction,
  };
}

/** A listener with no socket, for proxyless gRPC clients (gRPC A27). */
export function apiListener(name: string, httpConnectionManager: Record<string, unknown>): ResourceObject {
  return { name, api_listener: { api_listener: httpConnectionManager } };
}

export const TLS_INSPECTOR = {
  name: 'envoy.filters.listener.tls_inspector',
  typed_config: typed('envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector', {}),
};

/** Network and HTTP filters. */
import { ADS_CONFIG_SOURCE, duration, typed } from './any.js';
import { statPrefix } from './names.js';

export const ROUTER_FILTER = {
  name: 'envoy.filters.http.router',
  typed_config: typed('envoy.extensions.filters.http.router.v3.Router', {}),
};

export function tcpProxyFilter(name: string, cluster: string): Record<string, unknown> {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: typed('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', { stat_prefix: statPrefix(name), cluster }),
  };
}

export interface HcmOptions {
  readonly name: string;
  /** RDS route configuration name, or an inline route configuration. */
  readonly rds?: string;
  readonly routeConfig?: Record<string, unknown>;
  readonly httpFilters?: readonly Record<string, unknown>[];
  /**
   * Facing clients directly (a Gateway): trust the peer address rather than X-Forwarded-For,
   * normalize paths before prefix routing so `/public/../admin` cannot reach another route,
   * and match virtual hosts on the Host header without its port.
   */
  readonly edge?: boolean;
  /**
   * Behind a mesh mTLS inbound: tell the application who called, in the
   * x-forwarded-client-cert header (`By`, `Hash` and the caller's URI SAN), replacing any such
   * header the caller sent (Kuma does the same). Otherwise Envoy's default, SANITIZE, strips it.
   */
  readonly forwardClientCertificate?: boolean;
  /** `envoy` (a sidecar's or gateway's Envoy) gets idle timeouts; gRPC's xDS clients ignore them. */
  readonly flavor?: 'envoy' | 'grpc';
}

/**
 * Idle limits of an Envoy's connection managers (Kuma's default MeshTimeout): a stream with no
 * activity for 30 min and a connection with no stream for 1 h are closed. Requests themselves
 * have no overall timeout (envoy/route.ts).
 */
const MESH_HCM_TIMEOUTS = {
  stream_idle_timeout: duration(1800),
  common_http_protocol_options: { idle_timeout: duration(3600) },
} as const;

/**
 * Facing clients directly, Envoy's edge-proxy guidance ("Configuring Envoy as an edge proxy"):
 * the peer address rather than X-Forwarded-For; no address is "internal" (by default Envoy
 * trusts private and loopback clients' `x-envoy-*` headers, and they reach a gateway from inside
 * a network as much as from outside); headers with underscores refused, since upstreams may read
 * `x_user` as `x-user`; slow clients bounded (10 s to send headers, 5 min idle stream, 1 h idle
 * connection); HTTP/2 limited to 100 concurrent streams with 64 KiB stream and 1 MiB connection
 * windows. Paths are normalized and slashes merged before prefix routing so `/public/../admin`
 * cannot reach another route, and virtual hosts match the Host header without its port.
 */
const EDGE_HCM_OPTIONS = {
  use_remote_address: { value: true },
  // An empty list means Envoy's default (private and loopback ranges, observed on Envoy 1.40), so
  // the one internal range is the limited broadcast address, which no TCP client can have.
  internal_address_config: { unix_sockets: false, cidr_ranges: [{ address_prefix: '255.255.255.255', prefix_len: { value: 32 } }] },
  normalize_path: { value: true },
  merge_slashes: true,
  strip_any_host_port: true,
  request_headers_timeout: duration(10),
  stream_idle_timeout: duration(300),
  common_http_protocol_options: { idle_timeout: duration(3600), headers_with_underscores_action: 'REJECT_REQUEST' },
  http2_protocol_options: { max_concurrent_streams: { value: 100 }, initial_stream_window_size: { value: 65_536 }, initial_connection_window_size: { value: 1_048_576 } },
} as const;

/**
 * The HTTP filter list of a connection manager: `filters` then the router. The list of the router
 * alone (an inbound without RBAC, an outbound) is one shared array; generated objects are never
 * mutated.
 */
const ROUTER_ONLY: readonly Record<string, unknown>[] = [ROUTER_FILTER];

function httpFiltersWithRouter(filters: readonly Record<string, unknown>[] | undefined): readonly Record<string, unknown>[] {
  return !filters || filters.length === 0 ? ROUTER_ONLY : [...filters, ROUTER_FILTER];
}

export function httpConnectionManagerConfig(options: HcmOptions): Record<string, unknown> {
  return typed('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
    stat_prefix: statPrefix(options.name),
    codec_type: 'AUTO',
    ...(options.rds !== undefined
      ? { rds: { config_source: ADS_CONFIG_SOURCE, route_config_name: options.rds } }
      : { route_config: options.routeConfig }),
    http_filters: httpFiltersWithRouter(options.httpFilters),
    ...(options.edge ? EDGE_HCM_OPTIONS : options.flavor === 'grpc' ? {} : MESH_HCM_TIMEOUTS),
    ...(options.forwardClientCertificate ? { forward_client_cert_details: 'SANITIZE_SET', set_current_client_cert_details: { uri: true } } : {}),
  });
}

export function httpConnectionManagerFilter(options: HcmOptions): Record<string, unknown> {
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: httpConnectionManagerConfig(options) };
}

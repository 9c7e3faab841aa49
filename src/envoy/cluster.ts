import type { ResourceObject } from '../snapshot/encode.js';
import { ADS_CONFIG_SOURCE, duration, typed } from './any.js';

export interface ClusterOptions {
  readonly name: string;
  /** HTTP/2 towards the upstream (gRPC, h2). */
  readonly http2?: boolean;
  readonly transportSocket?: Record<string, unknown>;
}

const CONNECT_TIMEOUT = duration(5);

function http2Options(http2: boolean | undefined): Record<string, unknown> {
  if (!http2) return {};
  return {
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': typed('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', {
        explicit_http_config: { http2_protocol_options: {} },
      }),
    },
  };
}

/**
 * Resilience defaults for clusters to services, as Kuma's default MeshCircuitBreaker policy sets
 * them: connection and request limits (Envoy's own default of 1024 each, written out so that
 * `config_dump` shows them), and outlier detection that ejects an endpoint after 5 consecutive
 * 5xx or gateway failures for 30 s, at most 20% of the endpoints at once (Envoy still ejects one
 * when there are fewer than five; its panic threshold keeps traffic flowing when most are out).
 */
const RESILIENCE = {
  // Edge guidance, and harmless inside the mesh: 32 KiB buffered per upstream connection.
  per_connection_buffer_limit_bytes: { value: 32_768 },
  circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_connections: { value: 1024 }, max_pending_requests: { value: 1024 }, max_requests: { value: 1024 }, max_retries: { value: 3 } }] },
  outlier_detection: {
    consecutive_5xx: { value: 5 },
    consecutive_gateway_failure: { value: 5 },
    enforcing_consecutive_gateway_failure: { value: 100 },
    interval: duration(10),
    base_ejection_time: duration(30),
    max_ejection_percent: { value: 20 },
    // Envoy's own defaults for success-rate ejection, written out: gRPC's xDS clients read each
    // unset field as "no value" rather than the default (grpc-js 1.14 then runs its success-rate
    // check with no minimum host count and throws from a timer, an uncaught exception that ends
    // the application's process).
    success_rate_minimum_hosts: { value: 5 },
    success_rate_request_volume: { value: 100 },
    success_rate_stdev_factor: { value: 1900 },
  },
} as const;

/** A cluster whose endpoints come over EDS on the ADS stream. */
export function edsCluster(options: ClusterOptions): ResourceObject {
  return {
    name: options.name,
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS_CONFIG_SOURCE },
    connect_timeout: CONNECT_TIMEOUT,
    lb_policy: 'ROUND_ROBIN',
    ...RESILIENCE,
    ...http2Options(options.http2),
    ...(options.transportSocket ? { transport_socket: options.transportSocket } : {}),
  };
}

/**
 * A cluster to one endpoint known by name, resolved by the proxy: LOGICAL_DNS (Envoy connects to
 * the first address the name resolves to, re-resolving as the name's records change), the type
 * Envoy recommends for a large external service and the one gRPC's xDS client supports.
 */
export function dnsCluster(options: ClusterOptions & { readonly host: string; readonly port: number }): ResourceObject {
  return {
    name: options.name,
    type: 'LOGICAL_DNS',
    dns_lookup_family: 'V4_PREFERRED',
    connect_timeout: CONNECT_TIMEOUT,
    lb_policy: 'ROUND_ROBIN',
    ...RESILIENCE,
    load_assignment: { cluster_name: options.name, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(options.host, options.port) } }] }] },
    ...http2Options(options.http2),
    ...(options.transportSocket ? { transport_socket: options.transportSocket } : {}),
  };
}

/** A static cluster with one endpoint: the application behind the sidecar. */
export function staticCluster(name: string, address: string, port: number, http2?: boolean): ResourceObject {
  return {
    name,
    type: 'STATIC',
    connect_timeout: CONNECT_TIMEOUT,
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(address, port) } }] }],
    },
    ...http2Options(http2),
  };
}

export function socketAddress(address: string, port: number): Record<string, unknown> {
  return { socket_address: { protocol: 'TCP', address, port_value: port } };
}

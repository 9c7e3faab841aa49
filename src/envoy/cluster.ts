import type { ResourceObject } from '../xds/encode.js';
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

/** A cluster whose endpoints come over EDS on the ADS stream. */
export function edsCluster(options: ClusterOptions): ResourceObject {
  return {
    name: options.name,
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS_CONFIG_SOURCE },
    connect_timeout: CONNECT_TIMEOUT,
    lb_policy: 'ROUND_ROBIN',
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

/** The Envoy bootstrap: node identity and ADS over gRPC to meshcp. */
import { duration } from '../envoy/any.js';

export const XDS_CLUSTER_NAME = 'meshcp_xds';

export interface EnvoyBootstrapOptions {
  readonly name: string;
  readonly mesh: string;
  /** host:port of meshcp's xDS server. */
  readonly xdsAddress: string;
  readonly token?: string;
  readonly adminPort?: number;
}

function splitHostPort(address: string): { host: string; port: number } {
  const index = address.lastIndexOf(':');
  if (index <= 0) throw new Error(`xDS address "${address}" must be HOST:PORT`);
  const port = Number(address.slice(index + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`xDS address "${address}" has an invalid port`);
  return { host: address.slice(0, index).replace(/^\[|\]$/g, ''), port };
}

export function envoyBootstrap(options: EnvoyBootstrapOptions): Record<string, unknown> {
  const { host, port } = splitHostPort(options.xdsAddress);
  const metadata: Record<string, string> = { mesh: options.mesh, flavor: 'envoy' };
  if (options.token !== undefined) metadata['token'] = options.token;
  const isIp = /^[0-9.]+$/.test(host) || host.includes(':');
  return {
    node: { id: options.name, cluster: options.mesh, metadata },
    layered_runtime: {
      layers: [
        {
          name: 'meshcp-static',
          // Gateway subject matchers compile to RE2 programs larger than Envoy's default
          // limit of 100 (re2.max_program_size.error_level), which would make Envoy NACK the
          // listener; Kuma and Contour raise it the same way.
          static_layer: { 're2.max_program_size.error_level': 1_000_000, 're2.max_program_size.warn_level': 10_000 },
        },
        // Keeps the admin console's runtime_modify working.
        { name: 'admin', admin_layer: {} },
      ],
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: options.adminPort ?? 9901 } } },
    dynamic_resources: {
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER_NAME } }],
      },
      cds_config: { ads: {}, resource_api_version: 'V3' },
      lds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [
        {
          name: XDS_CLUSTER_NAME,
          type: isIp ? 'STATIC' : 'STRICT_DNS',
          connect_timeout: duration(5),
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: {
                http2_protocol_options: {
                  // Detect a half-open connection to the control plane.
                  connection_keepalive: { interval: duration(30), timeout: duration(10) },
                },
              },
            },
          },
          load_assignment: {
            cluster_name: XDS_CLUSTER_NAME,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: port } } } }] }],
          },
        },
      ],
    },
  };
}

/**
 * Resource objects that name other resources, for make-before-break tests: a listener whose TCP
 * proxy sends to a cluster (optionally behind TLS with an SDS server certificate), a listener
 * loading its routes over RDS, and a route table sending everything to one cluster.
 */
import type { ResourceObject } from '../../src/snapshot/encode.js';

const ADS = { ads: {}, resource_api_version: 'V3' };

export function tcpListener(name: string, port: number, cluster: string, secret?: string): ResourceObject {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.tcp_proxy',
            typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: name, cluster },
          },
        ],
        ...(secret === undefined
          ? {}
          : {
              transport_socket: {
                name: 'envoy.transport_sockets.tls',
                typed_config: {
                  '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
                  common_tls_context: { tls_certificate_sds_secret_configs: [{ name: secret, sds_config: ADS }] },
                },
              },
            }),
      },
    ],
  };
}

export function rdsListener(name: string, port: number, routeName: string): ResourceObject {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: name,
              rds: { config_source: ADS, route_config_name: routeName },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
            },
          },
        ],
      },
    ],
  };
}

export function clusterRoute(name: string, cluster: string): ResourceObject {
  return { name, virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] };
}

/** The gRPC xDS bootstrap (gRFC A27/A29/A36) for a proxyless workload. */
import path from 'node:path';
import { GRPC_CERT_PROVIDER_INSTANCE, GRPC_SERVER_LISTENER_TEMPLATE } from '../envoy/names.js';

export { GRPC_CERT_PROVIDER_INSTANCE } from '../envoy/names.js';

export interface GrpcBootstrapOptions {
  readonly name: string;
  readonly mesh: string;
  readonly xdsAddress: string;
  readonly token?: string;
  /** Where `meshcp agent` keeps cert.pem, key.pem and ca.pem. */
  readonly certDir?: string;
  /** file_watcher refresh interval. */
  readonly refreshSeconds?: number;
  /**
   * The CA file that verifies meshcp's xDS certificate: the app speaks TLS to meshcp directly with
   * gRFC A65 `tls` channel credentials (grpc-go, grpc-java, C-core), instead of plaintext to a
   * local `meshcp agent --xds-proxy-address` relay.
   */
  readonly xdsCaCertFile?: string;
}

/** gRFC A65: the `tls` channel credentials type, configured as a file_watcher provider is (gRFC A29). */
function xdsChannelCreds(options: GrpcBootstrapOptions): Array<Record<string, unknown>> {
  if (options.xdsCaCertFile === undefined) return [{ type: 'insecure' }];
  // TLS only, with no `insecure` after it: a client that does not know `tls` must fail to start,
  // not fall back to sending its token in clear.
  return [{ type: 'tls', config: { ca_certificate_file: path.resolve(options.xdsCaCertFile), refresh_interval: `${options.refreshSeconds ?? 1}s` } }];
}

export function grpcBootstrap(options: GrpcBootstrapOptions): Record<string, unknown> {
  const metadata: Record<string, string> = { mesh: options.mesh, flavor: 'grpc' };
  if (options.token !== undefined) metadata['token'] = options.token;
  const bootstrap: Record<string, unknown> = {
    xds_servers: [{ server_uri: options.xdsAddress, channel_creds: xdsChannelCreds(options), server_features: ['xds_v3'] }],
    node: { id: options.name, cluster: options.mesh, locality: {}, metadata },
    server_listener_resource_name_template: GRPC_SERVER_LISTENER_TEMPLATE,
  };
  if (options.certDir !== undefined) {
    const dir = path.resolve(options.certDir);
    bootstrap['certificate_providers'] = {
      [GRPC_CERT_PROVIDER_INSTANCE]: {
        plugin_name: 'file_watcher',
        config: {
          certificate_file: path.join(dir, 'cert.pem'),
          private_key_file: path.join(dir, 'key.pem'),
          ca_certificate_file: path.join(dir, 'ca.pem'),
          refresh_interval: `${options.refreshSeconds ?? 1}s`,
        },
      },
    };
  }
  return bootstrap;
}

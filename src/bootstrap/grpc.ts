/** The gRPC xDS bootstrap (gRFC A27/A29/A36) for a proxyless workload. */
import path from 'node:path';
import { GRPC_SERVER_LISTENER_TEMPLATE } from '../envoy/names.js';

export const GRPC_CERT_PROVIDER_INSTANCE = 'meshcp';

export interface GrpcBootstrapOptions {
  readonly name: string;
  readonly mesh: string;
  readonly xdsAddress: string;
  readonly token?: string;
  /** Where `meshcp agent` keeps cert.pem, key.pem and ca.pem. */
  readonly certDir?: string;
  /** file_watcher refresh interval. */
  readonly refreshSeconds?: number;
}

export function grpcBootstrap(options: GrpcBootstrapOptions): Record<string, unknown> {
  const metadata: Record<string, string> = { mesh: options.mesh, flavor: 'grpc' };
  if (options.token !== undefined) metadata['token'] = options.token;
  const bootstrap: Record<string, unknown> = {
    xds_servers: [{ server_uri: options.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
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

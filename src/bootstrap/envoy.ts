/**
 * The Envoy bootstrap: node identity and ADS over gRPC to meshcp, over TLS verified with the
 * control-plane CA (SPEC §2 "xDS is TLS by default") unless the caller asks for plaintext.
 */
import { duration } from '../envoy/any.js';

export const XDS_CLUSTER_NAME = 'meshcp_xds';

export interface EnvoyBootstrapOptions {
  readonly name: string;
  readonly mesh: string;
  /**
   * host:port of meshcp's xDS server, or of several replicas (SPEC §5): each becomes an endpoint of
   * the `meshcp_xds` cluster, and Envoy re-dials another one when its ADS stream breaks.
   */
  readonly xdsAddress: string | readonly string[];
  readonly token?: string;
  /**
   * Where Envoy's admin interface listens. Its endpoints include `/quitquitquit` and
   * `/runtime_modify` and it has no authentication, so a TCP port on loopback is open to every
   * local user and to a browser's cross-site requests: the default is a Unix socket only its
   * owner can open. `none` leaves the admin interface out.
   */
  readonly admin?: EnvoyAdminAddress;
  /** Delta (incremental) ADS instead of State of the World. */
  readonly delta?: boolean;
  /** The heap size at which the overload manager starts shedding load (edge best practice). */
  readonly maxHeapBytes?: number;
  /** The most downstream connections this Envoy accepts, all listeners together. */
  readonly maxDownstreamConnections?: number;
  /**
   * PEM CA that signs meshcp's xDS certificate (GET /api/xds-ca). The xDS cluster then speaks TLS,
   * verifying the chain and that the certificate names the xDS host. Plaintext when absent.
   */
  readonly xdsCaPem?: string;
}

export type EnvoyAdminAddress = { readonly kind: 'unix'; readonly path: string } | { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'none' };

/** The default admin socket, relative to Envoy's working directory. */
export const defaultAdminSocket = (name: string): string => `envoy-admin-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.sock`;

/** `unix:///abs/path`, `unix://rel/path`, `HOST:PORT` or `none`, as `--admin-address` takes it. */
export function parseAdminAddress(value: string): EnvoyAdminAddress {
  if (value === 'none') return { kind: 'none' };
  if (value.startsWith('unix://')) {
    const socketPath = value.slice('unix://'.length);
    if (socketPath === '') throw new Error(`--admin-address "${value}": the Unix socket path is empty (unix:///run/envoy/admin.sock)`);
    // sun_path holds 108 bytes on Linux, the terminating NUL included.
    if (Buffer.byteLength(socketPath) > 107) throw new Error(`--admin-address "${value}": a Unix socket path is at most 107 bytes; choose a shorter one`);
    return { kind: 'unix', path: socketPath };
  }
  const { host, port } = splitHostPort(value, '--admin-address');
  return { kind: 'tcp', host, port };
}

function adminSection(admin: EnvoyAdminAddress): Record<string, unknown> | undefined {
  switch (admin.kind) {
    case 'none':
      return undefined;
    case 'unix':
      // 0600: only the user running Envoy can reach /quitquitquit and the config dump.
      return { address: { pipe: { path: admin.path, mode: 0o600 } } };
    case 'tcp':
      return { address: { socket_address: { address: admin.host, port_value: admin.port } } };
  }
}

/**
 * Envoy's edge-proxy guidance ("Configuring Envoy as an edge proxy"): stop accepting requests
 * before the heap is exhausted, and cap downstream connections over all listeners (Envoy warns at
 * start when no such cap is configured).
 */
function overloadManager(maxHeapBytes: number, maxConnections: number): Record<string, unknown> {
  const heap = 'envoy.resource_monitors.fixed_heap';
  return {
    refresh_interval: duration(0.25),
    resource_monitors: [
      { name: heap, typed_config: { '@type': 'type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig', max_heap_size_bytes: maxHeapBytes } },
      {
        name: 'envoy.resource_monitors.global_downstream_max_connections',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig', max_active_downstream_connections: maxConnections },
      },
    ],
    actions: [
      { name: 'envoy.overload_actions.shrink_heap', triggers: [{ name: heap, threshold: { value: 0.95 } }] },
      { name: 'envoy.overload_actions.stop_accepting_requests', triggers: [{ name: heap, threshold: { value: 0.98 } }] },
    ],
  };
}

/** Defaults for the overload manager: 1 GiB of heap, 50,000 downstream connections (Envoy's edge example). */
export const DEFAULT_MAX_HEAP_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_MAX_DOWNSTREAM_CONNECTIONS = 50_000;

const UPSTREAM_TLS_CONTEXT = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

/**
 * Envoy checks only the chain against `trusted_ca`; the SAN match pins the certificate to the host
 * Envoy dials, as a browser would. gRPC runs over HTTP/2, which Node's TLS server only accepts
 * when negotiated with ALPN `h2` (RFC 7540 §3.3), and Envoy sends no ALPN unless told.
 */
function xdsTransportSocket(host: string, isIp: boolean, caPem: string): Record<string, unknown> {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': UPSTREAM_TLS_CONTEXT,
      ...(isIp ? {} : { sni: host }),
      common_tls_context: {
        alpn_protocols: ['h2'],
        validation_context: {
          trusted_ca: { inline_string: caPem },
          match_typed_subject_alt_names: [{ san_type: isIp ? 'IP_ADDRESS' : 'DNS', matcher: { exact: host } }],
        },
      },
    },
  };
}

function splitHostPort(address: string, what = 'xDS address'): { host: string; port: number } {
  const index = address.lastIndexOf(':');
  if (index <= 0) throw new Error(`${what} "${address}" must be HOST:PORT`);
  const port = Number(address.slice(index + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${what} "${address}" has an invalid port`);
  return { host: address.slice(0, index).replace(/^\[|\]$/g, ''), port };
}

/** Envoy's key for endpoint metadata that selects a cluster's `transport_socket_matches` entry. */
const TRANSPORT_SOCKET_MATCH = 'envoy.transport_socket_match';

const isIpHost = (host: string): boolean => /^[0-9.]+$/.test(host) || host.includes(':');

/**
 * The `meshcp_xds` cluster's endpoints and TLS. One replica: one endpoint, the cluster's
 * transport_socket. Several: each endpoint carries its address as transport-socket-match metadata
 * and gets its own TLS context (SNI and SAN match for the host Envoy dials there), since a single
 * context could only pin one name, or accept every replica's name for every connection.
 */
function xdsEndpoints(addresses: readonly string[], caPem: string | undefined): Record<string, unknown> {
  const parsed = addresses.map((address) => ({ address, ...splitHostPort(address) }));
  const single = parsed.length === 1;
  const endpoints = parsed.map(({ address, host, port }) => ({
    endpoint: { address: { socket_address: { address: host, port_value: port } } },
    ...(caPem !== undefined && !single ? { metadata: { filter_metadata: { [TRANSPORT_SOCKET_MATCH]: { xds_address: address } } } } : {}),
  }));
  const first = parsed[0]!;
  return {
    type: parsed.every((p) => isIpHost(p.host)) ? 'STATIC' : 'STRICT_DNS',
    ...(caPem !== undefined ? { transport_socket: xdsTransportSocket(first.host, isIpHost(first.host), caPem) } : {}),
    ...(caPem !== undefined && !single
      ? { transport_socket_matches: parsed.map(({ address, host }) => ({ name: `xds ${address}`, match: { xds_address: address }, transport_socket: xdsTransportSocket(host, isIpHost(host), caPem) })) }
      : {}),
    endpoints,
  };
}

export function envoyBootstrap(options: EnvoyBootstrapOptions): Record<string, unknown> {
  const addresses = typeof options.xdsAddress === 'string' ? [options.xdsAddress] : options.xdsAddress;
  if (addresses.length === 0) throw new Error('at least one xDS address is needed');
  const { type, transport_socket, transport_socket_matches, endpoints } = xdsEndpoints(addresses, options.xdsCaPem);
  const metadata: Record<string, string> = { mesh: options.mesh, flavor: 'envoy' };
  const admin = adminSection(options.admin ?? { kind: 'unix', path: defaultAdminSocket(options.name) });
  if (options.token !== undefined) metadata['token'] = options.token;
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
    ...(admin !== undefined ? { admin } : {}),
    overload_manager: overloadManager(options.maxHeapBytes ?? DEFAULT_MAX_HEAP_BYTES, options.maxDownstreamConnections ?? DEFAULT_MAX_DOWNSTREAM_CONNECTIONS),
    dynamic_resources: {
      ads_config: {
        api_type: options.delta ? 'DELTA_GRPC' : 'GRPC',
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
          type,
          connect_timeout: duration(5),
          ...(transport_socket !== undefined ? { transport_socket } : {}),
          ...(transport_socket_matches !== undefined ? { transport_socket_matches } : {}),
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
            endpoints: [{ lb_endpoints: endpoints }],
          },
        },
      ],
    },
  };
}

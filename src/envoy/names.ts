/**
 * The one place that names Envoy resources. Names are stable: a certificate rotation or an
 * endpoint change keeps every name, so only the changed resource type is pushed.
 */

/** Cluster (and its ClusterLoadAssignment) for a destination service. */
export function serviceClusterName(service: string): string {
  return service;
}

/** Route configuration an outbound HTTP listener (envoy flavor) or an API listener (grpc flavor) refers to. */
export function outboundRouteName(service: string): string {
  return `outbound:${service}`;
}

export function outboundListenerName(address: string, port: number): string {
  return `outbound:${address}:${port}`;
}

export function inboundListenerName(address: string, port: number): string {
  return `inbound:${address}:${port}`;
}

/** Static cluster that forwards inbound traffic to the application behind the sidecar. */
export function localAppClusterName(servicePort: number): string {
  return `localhost:${servicePort}`;
}

/**
 * The server-side listener resource name template written into `meshcp bootstrap grpc`
 * (gRPC A36: `server_listener_resource_name_template`). gRPC replaces %s with "ip:port".
 */
export const GRPC_SERVER_LISTENER_TEMPLATE = 'meshcp.io/grpc/inbound/%s';

/** The certificate provider instance a proxyless workload's bootstrap names, and its generated config uses for mesh mTLS. */
export const GRPC_CERT_PROVIDER_INSTANCE = 'meshcp';

export function grpcServerListenerName(address: string, port: number): string {
  return GRPC_SERVER_LISTENER_TEMPLATE.replace('%s', `${address}:${port}`);
}

/** A proxyless client resolving `xds:///backend` asks for the Listener named `backend`. */
export function grpcApiListenerName(service: string): string {
  return service;
}

/**
 * Filter chains of a mesh inbound listener. PERMISSIVE has both, chosen by the TLS inspector's
 * transport protocol; STRICT has `mtls` only.
 */
export const MTLS_FILTER_CHAIN = 'mtls';
export const PLAINTEXT_FILTER_CHAIN = 'plaintext';

let lastStatName: string | undefined;
let lastStatPrefix = '';

export function statPrefix(name: string): string {
  // Generation asks for the prefix of the same listener name a few times in a row (its HTTP
  // connection manager, its RBAC filter, its template's holes): the last answer is kept.
  if (name === lastStatName) return lastStatPrefix;
  lastStatPrefix = name.replace(/[^A-Za-z0-9_.-]/g, '_');
  lastStatName = name;
  return lastStatPrefix;
}

/** A Gateway listens on every address of its node (SPEC §1 Gateway `listeners[].port`). */
export const GATEWAY_BIND_ADDRESS = '0.0.0.0';

export function gatewayListenerName(port: number): string {
  return `gateway:${GATEWAY_BIND_ADDRESS}:${port}`;
}

/** The routes of one Route host; every listener of the gateway shares it. */
export function gatewayRouteName(host: string): string {
  return `gateway-routes:${host}`;
}

/**
 * SDS secrets are named by what they hold, not by who uses them: a user Secret is one SDS
 * resource whether a Route, a Service or both refer to it, and its name survives a rotation.
 */
export function userCaSecretName(mesh: string, secret: string): string {
  return `ca:${mesh}:${secret}`;
}

export function userCertificateSecretName(mesh: string, secret: string): string {
  return `cert:${mesh}:${secret}`;
}

/** The server certificate meshcp issues for a Route host without `tls.serverCertificate`. */
export function issuedServerCertificateName(mesh: string, host: string): string {
  return `issued:${mesh}:${host}`;
}

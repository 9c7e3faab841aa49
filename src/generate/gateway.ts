/**
 * Resources for an edge gateway Envoy (node id = Gateway name, envoy flavor): per listener
 * port one Listener with a TLS inspector and one filter chain per Route host chosen by SNI;
 * server certificate and client CA over SDS; subject matchers as an RBAC filter (403);
 * prefix routes to EDS clusters, with upstream TLS towards a Service that asks for it.
 *
 * Fail closed: a host whose TLS material is missing gets no filter chain (its handshakes
 * fail), and a Service whose TLS material is missing gets no cluster (its requests get 503),
 * never a weaker configuration. With mesh mTLS on, mesh services are called over mTLS with the
 * gateway's own identity (`spiffe://<mesh>/<gateway>`), or not at all until it is issued.
 */
import { NO_MESH_TLS_MATERIAL, type MeshTlsMaterial } from '../ca/workload-identity.js';
import type { GatewayHostModel, GatewayModel, MeshModel, SubjectMatchModel } from '../model/model.js';
import { CORS_FILTER, corsPolicy } from '../envoy/cors.js';
import { httpConnectionManagerFilter } from '../envoy/filters.js';
import { socketListener, TLS_INSPECTOR, type FilterChain } from '../envoy/listener.js';
import {
  GATEWAY_BIND_ADDRESS,
  gatewayListenerName,
  gatewayRouteName,
  issuedServerCertificateName,
  serviceClusterName,
  userCaSecretName,
  userCertificateSecretName,
} from '../envoy/names.js';
import { routeConfiguration, virtualHost } from '../envoy/route.js';
import { subjectRbacFilter } from '../envoy/subject-rbac.js';
import { downstreamTlsTransportSocket, tlsCertificateSecret, upstreamTlsTransportSocket, validationContextSecret } from '../envoy/tls.js';
import type { GeneratedConfig } from '../snapshot/snapshot.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../snapshot/types.js';
import type { DependencyCache } from '../change/dependency-cache.js';
import { ConfigBuilder } from './config-builder.js';
import { interned } from './interned.js';
import { addMeshIdentity } from './mesh-identity.js';
import type { SecretMaterialSource } from './secret-material.js';
import { addServiceCluster, isHttp2, serviceCluster, type MeshUpstreamSecurity } from './services.js';

const DOWNSTREAM_ALPN = ['h2', 'http/1.1'] as const;

/** Adds the SDS secrets this gateway needs, and only those: a key never reaches another proxy. */
class GatewaySecrets {
  constructor(
    private readonly builder: ConfigBuilder,
    private readonly mesh: string,
    private readonly source: SecretMaterialSource,
  ) {}

  userCertificate(secret: string, from: string): string | undefined {
    const resource = this.source.userSecret(this.mesh, secret);
    if (resource?.secretType !== 'tls' || resource.key === undefined) return undefined;
    const name = userCertificateSecretName(this.mesh, secret);
    this.builder.secret(name, tlsCertificateSecret(name, resource.cert, resource.key)).ref(SECRET_TYPE, name, from).from(SECRET_TYPE, name, `Secret/${secret}`);
    return name;
  }

  userCa(secret: string, from: string): string | undefined {
    const resource = this.source.userSecret(this.mesh, secret);
    if (resource?.secretType !== 'tls-ca') return undefined;
    const name = userCaSecretName(this.mesh, secret);
    this.builder.secret(name, validationContextSecret(name, resource.cert)).ref(SECRET_TYPE, name, from).from(SECRET_TYPE, name, `Secret/${secret}`);
    return name;
  }

  issuedServerCertificate(host: string, from: string): string | undefined {
    const issued = this.source.issuedServerCertificate(this.mesh, host);
    if (!issued) {
      if (this.source.issuedServerCertificatePending?.(this.mesh, host) === true) this.builder.awaiting(`issued server certificate for ${host} (${from})`);
      return undefined;
    }
    const name = issuedServerCertificateName(this.mesh, host);
    this.builder.secret(name, tlsCertificateSecret(name, issued.certPem, issued.keyPem)).ref(SECRET_TYPE, name, from).from(SECRET_TYPE, name, `Mesh/${this.mesh}`);
    return name;
  }
}

function gatewayServiceCluster(
  builder: ConfigBuilder,
  secrets: GatewaySecrets,
  mesh: MeshModel,
  serviceName: string,
  meshSecurity: MeshUpstreamSecurity | undefined,
): string {
  const service = mesh.services.get(serviceName);
  // SPEC §1 Service: with mesh mTLS on, a mesh service is called with the gateway's own identity.
  if (meshSecurity && service?.meshManaged) return addServiceCluster(builder, service, serviceName, meshSecurity);
  const tls = service?.upstreamTls;
  if (!service || !tls) return addServiceCluster(builder, service, serviceName);
  const name = serviceClusterName(serviceName);
  if (builder.has(CLUSTER_TYPE, name)) return name;
  const from = `cluster ${name}`;
  const ca = tls.caSecret !== undefined ? secrets.userCa(tls.caSecret, from) : undefined;
  const clientCertificate = tls.clientCertificateSecret !== undefined ? secrets.userCertificate(tls.clientCertificateSecret, from) : undefined;
  if ((tls.caSecret !== undefined && ca === undefined) || (tls.clientCertificateSecret !== undefined && clientCertificate === undefined)) return name;
  const http2 = isHttp2(service.protocol);
  const transportSocket = upstreamTlsTransportSocket({
    ...(ca !== undefined ? { ca } : {}),
    ...(clientCertificate !== undefined ? { clientCertificate } : {}),
    ...(tls.sni !== undefined ? { sni: tls.sni } : {}),
    alpn: http2 ? ['h2'] : [],
  });
  const resources = serviceCluster(service, { http2, transportSocket }, builder.memo);
  builder.cluster(name, resources.cluster).from(CLUSTER_TYPE, name, `Service/${serviceName}`, ...[tls.caSecret, tls.clientCertificateSecret].filter((s): s is string => s !== undefined).map((s) => `Secret/${s}`));
  if (resources.endpoints !== undefined) builder.endpoints(name, resources.endpoints).ref(ENDPOINT_TYPE, name, from).from(ENDPOINT_TYPE, name, `Service/${serviceName}`);
  return name;
}

const EDGE_BUFFER_LIMIT = 32_768;

/**
 * The subject-matching RBAC filter of a list of matchers: rewriting a matcher into the patterns
 * Envoy matches (regex/subject-regex.ts) is the costly part, so the filter is an entry of the
 * dependency cache, named by the matchers (every input), built once for every generation.
 */
function subjectMatchFilter(cache: DependencyCache, matchers: readonly SubjectMatchModel[]): Record<string, unknown> {
  const key = JSON.stringify(matchers.map((m) => [m.kind, m.value]));
  return interned(cache, `subject-rbac|${key}`, () => subjectRbacFilter(matchers).filter);
}

function hostFilterChain(
  builder: ConfigBuilder,
  secrets: GatewaySecrets,
  mesh: MeshModel,
  host: GatewayHostModel,
  meshSecurity: MeshUpstreamSecurity | undefined,
): FilterChain | undefined {
  const from = `gateway host ${host.host}`;
  const cert = host.serverCertificate;
  const serverCertificate = cert.kind === 'user' ? secrets.userCertificate(cert.secret, from) : secrets.issuedServerCertificate(cert.host, from);
  if (serverCertificate === undefined) return undefined;
  const clientCa = host.clientValidationCa !== undefined ? secrets.userCa(host.clientValidationCa, from) : undefined;
  if (host.clientValidationCa !== undefined && clientCa === undefined) return undefined;

  const routeName = gatewayRouteName(host.host);
  const entries = host.rules.map((rule) => ({ ...(rule.name !== undefined ? { name: rule.name } : {}), prefix: rule.prefix, cluster: gatewayServiceCluster(builder, secrets, mesh, rule.service, meshSecurity) }));
  const cors = host.cors ? corsPolicy(host.cors) : undefined;
  builder
    .route(routeName, routeConfiguration(routeName, [virtualHost(host.route, [host.host.toLowerCase()], entries, 'envoy', cors)]))
    .ref(ROUTE_TYPE, routeName, from)
    .from(ROUTE_TYPE, routeName, `Route/${host.route}`, ...host.rules.map((rule) => `Service/${rule.service}`));
  // The Route names the server certificate and client CA this chain loads.
  builder.from(SECRET_TYPE, serverCertificate, `Route/${host.route}`);
  if (clientCa !== undefined) builder.from(SECRET_TYPE, clientCa, `Route/${host.route}`);

  // CORS first: a browser's preflight is answered (or not) before anything else looks at it.
  const httpFilters = [...(host.cors ? [CORS_FILTER] : []), ...(host.subjectMatches.length > 0 ? [subjectMatchFilter(builder.cache, host.subjectMatches)] : [])];
  return {
    name: host.host,
    filter_chain_match: { server_names: [host.host.toLowerCase()] },
    filters: [httpConnectionManagerFilter({ name: `gateway:${host.host}`, rds: routeName, httpFilters, edge: true })],
    transport_socket: downstreamTlsTransportSocket({ serverCertificate, ...(clientCa !== undefined ? { clientCa } : {}), alpn: DOWNSTREAM_ALPN }),
  };
}

export function generateEnvoyGateway(
  mesh: MeshModel,
  gateway: GatewayModel,
  source: SecretMaterialSource,
  meshTls: MeshTlsMaterial = NO_MESH_TLS_MATERIAL,
  cache?: DependencyCache,
): GeneratedConfig {
  const builder = new ConfigBuilder([`Gateway/${gateway.name}`], cache);
  const secrets = new GatewaySecrets(builder, mesh.name, source);
  // Without its identity yet, the gateway gets no cluster to mesh services (503), never a plaintext one.
  const identity = mesh.mtls ? addMeshIdentity(builder, mesh.name, gateway.name, meshTls) : undefined;
  const meshSecurity: MeshUpstreamSecurity | undefined = mesh.mtls ? (identity ? { kind: 'sds', identity } : { kind: 'unavailable' }) : undefined;
  const chains = gateway.hosts
    .map((host) => hostFilterChain(builder, secrets, mesh, host, meshSecurity))
    .filter((c): c is FilterChain => c !== undefined);
  if (chains.length === 0) return builder.build();
  for (const port of gateway.ports) {
    const name = gatewayListenerName(port);
    // The TLS inspector reads the SNI that selects the filter chain.
    // Edge guidance: 32 KiB per connection bounds what a slow or hostile client can make Envoy buffer.
    builder.listener(name, socketListener(name, GATEWAY_BIND_ADDRESS, port, chains, 'INBOUND', [TLS_INSPECTOR], { per_connection_buffer_limit_bytes: { value: EDGE_BUFFER_LIMIT } }));
    // Each filter chain is a Route host (the chain is named after it).
    builder.from(LISTENER_TYPE, name, ...gateway.hosts.filter((h) => chains.some((c) => c.name === h.host)).map((h) => `Route/${h.route}`));
  }
  return builder.build();
}

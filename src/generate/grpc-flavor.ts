/**
 * Resources for proxyless gRPC (grpc flavor): an API listener per mesh service, named as the
 * client's `xds:///<service>` target, and a server Listener per inbound, named by the
 * bootstrap's `server_listener_resource_name_template` (gRPC A27, A36).
 *
 * With mesh mTLS on (gRPC A29): TLS contexts name the bootstrap's certificate provider instance
 * (gRPC rejects SDS), whose files `meshcp agent` writes from the two identity Secrets this
 * snapshot carries. The server checks callers with the RBAC HTTP filter (gRPC A41).
 *
 * - grpc-js-xds registers its RBAC filter only with GRPC_XDS_EXPERIMENTAL_RBAC=true. The filter
 *   is deliberately not `is_optional`: a gRPC server without RBAC support NACKs the Listener and
 *   does not serve, rather than serving without authorization.
 * - PERMISSIVE is served as STRICT: gRPC has no TLS inspector (a Listener with listener filters
 *   is NACKed, and filter chains matching a transport protocol other than raw_buffer are
 *   ignored), so one port cannot take both TLS and plaintext. Outbound is mTLS either way.
 */
import { NO_MESH_TLS_MATERIAL, type MeshTlsMaterial } from '../ca/workload-identity.js';
import type { DataplaneModel, InboundModel, MeshModel } from '../model/model.js';
import { GRPC_CERT_PROVIDER_INSTANCE } from '../envoy/names.js';
import { httpConnectionManagerConfig, httpConnectionManagerFilter } from '../envoy/filters.js';
import { apiListener, socketListener, type FilterChain } from '../envoy/listener.js';
import { meshDownstreamTlsProvider } from '../envoy/mesh-tls.js';
import { grpcApiListenerName, grpcServerListenerName, MTLS_FILTER_CHAIN, outboundRouteName } from '../envoy/names.js';
import { routeConfiguration, serverSideRouteConfiguration, virtualHost } from '../envoy/route.js';
import type { GeneratedConfig } from '../snapshot/snapshot.js';
import { LISTENER_TYPE, ROUTE_TYPE } from '../snapshot/types.js';
import type { DependencyCache } from '../change/dependency-cache.js';
import { ConfigBuilder } from './config-builder.js';
import { interned } from './interned.js';
import { addMeshIdentity } from './mesh-identity.js';
import { inboundPolicies } from './permissions.js';
import { addServiceCluster, type MeshUpstreamSecurity } from './services.js';

function serverFilterChain(builder: ConfigBuilder, mesh: MeshModel, listenerName: string, inbound: InboundModel): FilterChain {
  const routeConfig = serverSideRouteConfiguration(listenerName);
  if (!mesh.mtls) return { filters: [httpConnectionManagerFilter({ name: listenerName, routeConfig, flavor: 'grpc' })] };
  // No filter_chain_match: grpc-js-xds ignores a chain whose match leaves transport_protocol
  // empty (server.ts normalizeFilterChainMatch), and with a single chain there is nothing to choose.
  return {
    name: MTLS_FILTER_CHAIN,
    filters: [httpConnectionManagerFilter({ name: listenerName, routeConfig, httpFilters: [builder.memo.httpRbacFilter(inboundPolicies(mesh, inbound, builder.memo))], flavor: 'grpc' })],
    transport_socket: meshDownstreamTlsProvider(GRPC_CERT_PROVIDER_INSTANCE),
  };
}

/** `owner`: the user resources the whole config comes from (the Dataplane; none for a client without one). */
export function generateProxylessGrpc(
  mesh: MeshModel,
  dataplane: DataplaneModel,
  material: MeshTlsMaterial = NO_MESH_TLS_MATERIAL,
  owner: readonly string[] = [`Dataplane/${dataplane.name}`],
  cache?: DependencyCache,
): GeneratedConfig {
  const builder = new ConfigBuilder(owner, cache);
  // The certificates reach the application as files, not through these Secrets: the TLS config
  // below does not depend on them, and without files the handshakes fail (closed).
  if (mesh.mtls) addMeshIdentity(builder, mesh.name, dataplane.name, material);
  const meshSecurity: MeshUpstreamSecurity | undefined = mesh.mtls ? { kind: 'provider', instance: GRPC_CERT_PROVIDER_INSTANCE } : undefined;
  for (const service of mesh.services.values()) {
    const cluster = addServiceCluster(builder, service, service.name, meshSecurity);
    const listenerName = grpcApiListenerName(service.name);
    const routeName = outboundRouteName(service.name);
    builder.route(routeName, interned(builder.cache, `grpc-route|${service.name}`, () => routeConfiguration(routeName, [virtualHost(service.name, ['*'], [{ prefix: '', cluster }], 'grpc')])));
    builder.ref(ROUTE_TYPE, routeName, `listener ${listenerName}`).from(ROUTE_TYPE, routeName, `Service/${service.name}`).from(LISTENER_TYPE, listenerName, `Service/${service.name}`);
    builder.listener(listenerName, interned(builder.cache, `grpc-api-listener|${service.name}`, () => apiListener(listenerName, httpConnectionManagerConfig({ name: listenerName, rds: routeName, flavor: 'grpc' }))));
  }
  for (const inbound of dataplane.inbound) {
    const listenerName = grpcServerListenerName(dataplane.address, inbound.port);
    if (mesh.mtls) builder.from(LISTENER_TYPE, listenerName, `Mesh/${mesh.name}`, ...builder.memo.policyInfo(inboundPolicies(mesh, inbound, builder.memo)).sources);
    builder.listener(listenerName, socketListener(listenerName, dataplane.address, inbound.port, [serverFilterChain(builder, mesh, listenerName, inbound)], 'INBOUND'));
  }
  return builder.build();
}

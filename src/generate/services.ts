/**
 * Cluster + endpoints for a destination service: built once per ServiceModel (and per kind of
 * upstream security) and shared by every proxy, so each is encoded once per version.
 */
import type { ServiceModel } from '../model/model.js';
import { dnsCluster, edsCluster } from '../envoy/cluster.js';
import { clusterLoadAssignment } from '../envoy/endpoint.js';
import { dnsEndpoint } from '../model/endpoints.js';
import { meshUpstreamTlsProvider, meshUpstreamTlsSds, type SdsMeshIdentity } from '../envoy/mesh-tls.js';
import { serviceClusterName } from '../envoy/names.js';
import { spiffeId } from '../identity/names.js';
import type { ResourceObject } from '../snapshot/encode.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, SECRET_TYPE } from '../snapshot/types.js';
import type { ConfigBuilder } from './config-builder.js';
import type { GenerationMemo, ServiceResources } from './memo.js';

/**
 * The cluster to `service` (EDS, or DNS for an endpoint given by name) and its EDS resource, if
 * any; the assignment is the one `memo` shares for the service.
 */
export function serviceCluster(
  service: ServiceModel,
  options: { readonly http2?: boolean; readonly transportSocket?: Record<string, unknown> },
  memo: GenerationMemo,
): ServiceResources {
  const name = serviceClusterName(service.name);
  const byName = dnsEndpoint(service.endpoints);
  if (byName !== undefined) return { cluster: dnsCluster({ name, host: byName.address, port: byName.port, ...options }), endpoints: undefined };
  return { cluster: edsCluster({ name, ...options }), endpoints: serviceEndpoints(service, memo) };
}

/**
 * How a proxy reaches mesh services (Dataplane endpoints) when its mesh has mTLS on:
 * - `sds`: envoy flavor, with its identity's SDS names (the same for every proxy of the mesh);
 * - `provider`: grpc flavor, with the bootstrap's certificate provider instance;
 * - `unavailable`: no identity issued yet. Mesh services get no cluster at all (requests fail
 *   with 503 / a reset) rather than a plaintext one: fail closed.
 */
export type MeshUpstreamSecurity =
  | { readonly kind: 'sds'; readonly identity: SdsMeshIdentity }
  | { readonly kind: 'provider'; readonly instance: string }
  | { readonly kind: 'unavailable' };

/**
 * The service's ClusterLoadAssignment, one object per ServiceModel whatever the cluster variant:
 * every proxy (sidecar, gateway, proxyless) that reaches the service shares it, so it is encoded
 * once, and an endpoint-only change swaps this one object in every proxy's EDS. Shared through
 * `memo`: the endpoint patch passes the memo of the context generation used
 * (generate.ts `contextMemo`), so it swaps in the same object.
 */
export function serviceEndpoints(service: ServiceModel, memo: GenerationMemo): ResourceObject {
  let found = memo.serviceEndpoints.get(service);
  if (!found) {
    found = clusterLoadAssignment(serviceClusterName(service.name), service.endpoints);
    memo.serviceEndpoints.set(service, found);
  }
  return found;
}

export function isHttp2(protocol: ServiceModel['protocol']): boolean {
  return protocol === 'grpc' || protocol === 'http2';
}

function transportSocketFor(service: ServiceModel, security: MeshUpstreamSecurity | undefined): Record<string, unknown> | undefined {
  if (!security || security.kind === 'unavailable' || !service.meshManaged) return undefined;
  const callee = spiffeId(service.mesh, service.name);
  if (security.kind === 'provider') return meshUpstreamTlsProvider(security.instance, callee);
  return meshUpstreamTlsSds({ identity: security.identity, spiffeId: callee, sni: service.name, alpn: isHttp2(service.protocol) ? ['h2'] : [] });
}

function variantKey(security: MeshUpstreamSecurity | undefined, service: ServiceModel): string {
  if (!security || !service.meshManaged) return 'plain';
  if (security.kind === 'sds') return `sds:${security.identity.certificate}:${security.identity.trustBundle}`;
  return security.kind === 'provider' ? `provider:${security.instance}` : 'plain';
}

function serviceResources(memo: GenerationMemo, service: ServiceModel, security: MeshUpstreamSecurity | undefined): ServiceResources {
  let variants = memo.serviceResources.get(service);
  if (!variants) {
    variants = new Map();
    memo.serviceResources.set(service, variants);
  }
  const key = variantKey(security, service);
  let found = variants.get(key);
  if (!found) {
    const transportSocket = transportSocketFor(service, security);
    found = serviceCluster(service, { http2: isHttp2(service.protocol), ...(transportSocket ? { transportSocket } : {}) }, memo);
    variants.set(key, found);
  }
  return found;
}

/**
 * `cluster <name>`, the origin of a cluster's references: one string per cluster name for every
 * proxy, not three new ones per cluster of every proxy kept in its config's refs. An entry of the
 * dependency cache.
 */
function clusterRefOrigin(builder: ConfigBuilder, name: string): string {
  return builder.cache.get(`generate:cluster-origin|${name}`, () => `cluster ${name}`);
}

/**
 * Adds the EDS cluster and its endpoints for `service` (or an empty one when the service is
 * unknown). With `meshSecurity`, a mesh service is reached over mesh mTLS, or not at all while
 * the proxy has no identity; a Service resource without Dataplanes stays as it is.
 */
export function addServiceCluster(builder: ConfigBuilder, service: ServiceModel | undefined, serviceName: string, meshSecurity?: MeshUpstreamSecurity): string {
  const name = serviceClusterName(serviceName);
  if (builder.has(CLUSTER_TYPE, name)) return name;
  if (service?.meshManaged && meshSecurity?.kind === 'unavailable') return name;
  const resources = service ? serviceResources(builder.memo, service, meshSecurity) : { cluster: edsCluster({ name }), endpoints: clusterLoadAssignment(name, []) };
  const origin = clusterRefOrigin(builder, name);
  builder.cluster(name, resources.cluster).from(CLUSTER_TYPE, name, `Service/${serviceName}`);
  if (resources.endpoints !== undefined) builder.endpoints(name, resources.endpoints).ref(ENDPOINT_TYPE, name, origin).from(ENDPOINT_TYPE, name, `Service/${serviceName}`);
  if (service?.meshManaged && meshSecurity !== undefined) builder.from(CLUSTER_TYPE, name, `Mesh/${service.mesh}`);
  if (service?.meshManaged && meshSecurity?.kind === 'sds') {
    builder.ref(SECRET_TYPE, meshSecurity.identity.certificate, origin).ref(SECRET_TYPE, meshSecurity.identity.trustBundle, origin);
  }
  return name;
}

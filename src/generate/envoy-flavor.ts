/**
 * Resources for an Envoy sidecar (envoy flavor): outbound and inbound listeners, EDS clusters,
 * and, when its mesh has mTLS on (SPEC §1 Mesh), its identity over SDS, mTLS towards mesh
 * services, and inbound listeners that authenticate callers and authorize them with RBAC.
 *
 * Fail closed while the proxy has no identity yet: in STRICT no inbound listener exists (the
 * port refuses connections rather than accepting plaintext), in PERMISSIVE only the plaintext
 * chain exists (what PERMISSIVE accepts anyway), and mesh services get no cluster.
 */
import { NO_MESH_TLS_MATERIAL, type MeshTlsMaterial } from '../ca/workload-identity.js';
import type { DependencyCache } from '../change/dependency-cache.js';
import type { DataplaneModel, InboundModel, MeshModel, Protocol } from '../model/model.js';
import { staticCluster } from '../envoy/cluster.js';
import { httpConnectionManagerFilter, tcpProxyFilter } from '../envoy/filters.js';
import { socketListener, TLS_INSPECTOR, type FilterChain } from '../envoy/listener.js';
import { meshNetworkRbacFilter, type RbacPolicy } from '../envoy/mesh-rbac.js';
import { meshDownstreamTlsSds, type SdsMeshIdentity } from '../envoy/mesh-tls.js';
import {
  inboundListenerName,
  localAppClusterName,
  MTLS_FILTER_CHAIN,
  outboundListenerName,
  outboundRouteName,
  PLAINTEXT_FILTER_CHAIN,
  statPrefix,
} from '../envoy/names.js';
import { routeConfiguration, virtualHost } from '../envoy/route.js';
import { spiffeId } from '../identity/names.js';
import { ResourceTemplate, templated, type ResourceObject } from '../snapshot/encode.js';
import type { GeneratedConfig } from '../snapshot/snapshot.js';
import { LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../snapshot/types.js';
import { ConfigBuilder } from './config-builder.js';
import { interned } from './interned.js';
import type { GenerationMemo } from './memo.js';
import { addMeshIdentity } from './mesh-identity.js';
import { inboundPolicies, plaintextPolicies } from './permissions.js';
import { addServiceCluster, isHttp2, type MeshUpstreamSecurity } from './services.js';

/** Sidecars accept outbound calls from the local application on loopback. */
const OUTBOUND_BIND_ADDRESS = '127.0.0.1';

const isLoopback = (address: string): boolean => address.startsWith('127.') || address === '::1';

/** Inbound HTTP over mTLS: h2 when the caller offers it, else HTTP/1.1 (the codec is AUTO). */
const INBOUND_HTTP_ALPN = ['h2', 'http/1.1'] as const;

const isHttp = (protocol: Protocol): boolean => protocol !== 'tcp';

/**
 * The virtual hosts of an inbound's route configuration: a function of the service and the local
 * cluster, one shared array for every instance of the service (generated objects are never
 * mutated). An entry of the dependency cache, named by both.
 */
function inboundVirtualHosts(cache: DependencyCache, service: string, localCluster: string): readonly Record<string, unknown>[] {
  return cache.get(`generate:inbound-hosts|${service}|${localCluster}`, () => [virtualHost(service, ['*'], [{ prefix: '/', cluster: localCluster }])]);
}

/**
 * The filters that carry an inbound to the application; with `rbac`, behind RBAC. Over
 * mTLS (`mtls`), HTTP applications learn the caller's SPIFFE ID from x-forwarded-client-cert.
 */
function inboundFilters(cache: DependencyCache, memo: GenerationMemo, listenerName: string, inbound: InboundModel, localCluster: string, policies?: readonly RbacPolicy[], mtls = false): Record<string, unknown>[] {
  if (isHttp(inbound.protocol)) {
    return [
      httpConnectionManagerFilter({
        name: listenerName,
        routeConfig: { name: listenerName, virtual_hosts: inboundVirtualHosts(cache, inbound.service, localCluster) },
        ...(policies ? { httpFilters: [memo.httpRbacFilter(policies)] } : {}),
        ...(mtls ? { forwardClientCertificate: true } : {}),
      }),
    ];
  }
  return [...(policies ? [meshNetworkRbacFilter(listenerName, policies, memo.networkRbacRules(policies))] : []), tcpProxyFilter(listenerName, localCluster)];
}

/**
 * The inbound mTLS transport socket names only mesh-wide things (the SDS names of the mesh
 * identity, the trust domain, the ALPN of the protocol): one object per mesh and protocol kind,
 * shared by every proxy instead of built per proxy.
 */
function sharedDownstreamTls(cache: DependencyCache, mesh: MeshModel, identity: SdsMeshIdentity, http: boolean): Record<string, unknown> {
  const trustDomainPrefix = spiffeId(mesh.name, '');
  return interned(cache, `mesh-downstream-tls|${http ? 'http' : 'tcp'}|${identity.certificate}|${identity.trustBundle}|${trustDomainPrefix}`, () =>
    meshDownstreamTlsSds({ identity, trustDomainPrefix, alpn: http ? INBOUND_HTTP_ALPN : [] }),
  );
}

/**
 * Inbound listeners are the one resource of a sidecar that is its own: they carry its address
 * (the listener name, the socket address and the stat prefixes), and everything else in them is
 * the same for every instance of a service. Each is encoded from a template per shape (the initial
 * config of a large fleet is mostly these): the listener is built for the proxy as always, and
 * its bytes are the shape's encoding with the proxy's address spliced in (snapshot/template.ts
 * ResourceTemplate).
 *
 * A shape's key names every input of its build but the address, policy lists by a content id.
 * Each template is an entry of the dependency cache.
 */


/** The varying fields of an inbound listener: its name, its socket address, the stat prefixes. */
function inboundHoles(address: string, port: number): string[] {
  const name = inboundListenerName(address, port);
  return [name, address, statPrefix(name)];
}

function templatedInbound(cache: DependencyCache, key: string, port: number, address: string, build: (address: string) => ResourceObject): ResourceObject {
  const listener = build(address);
  const template = cache.get(`generate:inbound-template|${key}`, () => new ResourceTemplate(LISTENER_TYPE, build, (a) => inboundHoles(a, port)));
  return templated(listener, template, address);
}

function addMeshInboundListener(
  builder: ConfigBuilder,
  mesh: MeshModel,
  dataplane: DataplaneModel,
  inbound: InboundModel,
  localCluster: string,
  identity: SdsMeshIdentity | undefined,
): void {
  const mode = mesh.mtls?.mode ?? 'STRICT';
  const listenerName = inboundListenerName(dataplane.address, inbound.port);
  const mtlsPolicies = inboundPolicies(mesh, inbound, builder.memo);
  const plaintextOnes = plaintextPolicies(mesh, inbound, builder.memo);
  // The Mesh's mTLS mode and the TrafficPermissions that apply shape this listener.
  const mtlsInfo = builder.memo.policyInfo(mtlsPolicies);
  const plaintextInfo = builder.memo.policyInfo(plaintextOnes);
  builder.from(LISTENER_TYPE, listenerName, `Mesh/${mesh.name}`, ...mtlsInfo.sources, ...plaintextInfo.sources);
  if (!identity && mode !== 'PERMISSIVE') return;
  if (identity) {
    const from = `listener ${listenerName}`;
    builder.ref(SECRET_TYPE, identity.certificate, from).ref(SECRET_TYPE, identity.trustBundle, from);
  }
  // Every input of `build` but the address.
  const key = JSON.stringify([
    'mesh',
    mode,
    mesh.name,
    identity ? [identity.certificate, identity.trustBundle] : null,
    mtlsInfo.id,
    plaintextInfo.id,
    inbound.port,
    inbound.protocol,
    inbound.service,
    localCluster,
  ]);
  const transportSocket = identity ? sharedDownstreamTls(builder.cache, mesh, identity, isHttp(inbound.protocol)) : undefined;
  // The template keeps `build`: it holds what it needs, not this proxy's builder.
  const { cache, memo } = builder;
  const build = (address: string): ResourceObject => {
    const name = inboundListenerName(address, inbound.port);
    const plaintext = (match: boolean): FilterChain => ({
      name: PLAINTEXT_FILTER_CHAIN,
      ...(match ? { filter_chain_match: { transport_protocol: 'raw_buffer' } } : {}),
      filters: inboundFilters(cache, memo, name, inbound, localCluster, plaintextOnes),
    });
    if (!transportSocket) return socketListener(name, address, inbound.port, [plaintext(false)], 'INBOUND');
    const mtls = (match: boolean): FilterChain => ({
      name: MTLS_FILTER_CHAIN,
      ...(match ? { filter_chain_match: { transport_protocol: 'tls' } } : {}),
      filters: inboundFilters(cache, memo, name, inbound, localCluster, mtlsPolicies, true),
      transport_socket: transportSocket,
    });
    if (mode === 'STRICT') return socketListener(name, address, inbound.port, [mtls(false)], 'INBOUND');
    // The TLS inspector tells TLS from plaintext. A plaintext protocol where the server speaks
    // first sends the inspector nothing to look at: after the listener filter timeout it goes on
    // as plaintext instead of being closed.
    return socketListener(name, address, inbound.port, [mtls(true), plaintext(true)], 'INBOUND', [TLS_INSPECTOR], {
      continue_on_listener_filters_timeout: true,
    });
  };
  builder.listener(listenerName, templatedInbound(builder.cache, key, inbound.port, dataplane.address, build));
}

/**
 * What an outbound adds to a sidecar is a function of the service, the port, the protocol kind
 * and the cluster name: built once and shared by every proxy with that outbound, names and
 * source strings included (no per-proxy strings or lookups by concatenated keys).
 */
interface OutboundParts {
  readonly cluster: string;
  readonly listenerName: string;
  /** `Service/<name>`: what the listener and route come from. */
  readonly serviceSource: string;
  readonly listener: ResourceObject;
  /** HTTP: the route configuration the listener loads over RDS, and the origin of that reference. */
  readonly route?: { readonly name: string; readonly resource: ResourceObject; readonly from: string };
}

/** An entry of the dependency cache, named by all four inputs. */
function outboundParts(cache: DependencyCache, serviceName: string, port: number, http: boolean, cluster: string): OutboundParts {
  return cache.get(`generate:outbound|${serviceName}|${port}|${http ? 'http' : 'tcp'}|${cluster}`, () => buildOutboundParts(cache, serviceName, port, http, cluster));
}

function buildOutboundParts(cache: DependencyCache, serviceName: string, port: number, http: boolean, cluster: string): OutboundParts {
  const listenerName = outboundListenerName(OUTBOUND_BIND_ADDRESS, port);
  const serviceSource = `Service/${serviceName}`;
  if (http) {
    const routeName = outboundRouteName(serviceName);
    return {
      cluster,
      listenerName,
      serviceSource,
      listener: socketListener(listenerName, OUTBOUND_BIND_ADDRESS, port, [{ filters: [httpConnectionManagerFilter({ name: listenerName, rds: routeName })] }], 'OUTBOUND'),
      route: {
        name: routeName,
        resource: interned(cache, `outbound-route|${serviceName}|${cluster}`, () => routeConfiguration(routeName, [virtualHost(serviceName, ['*'], [{ prefix: '/', cluster }])])),
        from: `listener ${listenerName}`,
      },
    };
  }
  return { cluster, listenerName, serviceSource, listener: socketListener(listenerName, OUTBOUND_BIND_ADDRESS, port, [{ filters: [tcpProxyFilter(listenerName, cluster)] }], 'OUTBOUND') };
}

/**
 * The static cluster of the application behind the sidecar is a function of its port and
 * protocol kind alone: one object for every proxy (found by identity when encoded), an entry of
 * the dependency cache.
 */
function localAppCluster(cache: DependencyCache, name: string, servicePort: number, http2: boolean): ResourceObject {
  return cache.get(`generate:local-app|${name}|${servicePort}|${http2 ? 'h2' : 'h1'}`, () => staticCluster(name, '127.0.0.1', servicePort, http2));
}

export function generateEnvoySidecar(mesh: MeshModel, dataplane: DataplaneModel, material: MeshTlsMaterial = NO_MESH_TLS_MATERIAL, cache?: DependencyCache): GeneratedConfig {
  const builder = new ConfigBuilder([`Dataplane/${dataplane.name}`], cache);
  const identity = mesh.mtls ? addMeshIdentity(builder, mesh.name, dataplane.name, material) : undefined;
  const meshSecurity: MeshUpstreamSecurity | undefined = mesh.mtls ? (identity ? { kind: 'sds', identity } : { kind: 'unavailable' }) : undefined;
  for (const outbound of dataplane.outbound) {
    const service = mesh.services.get(outbound.service);
    const cluster = addServiceCluster(builder, service, outbound.service, meshSecurity);
    const parts = outboundParts(builder.cache, outbound.service, outbound.port, isHttp(service?.protocol ?? 'tcp'), cluster);
    builder.from(LISTENER_TYPE, parts.listenerName, parts.serviceSource);
    if (parts.route) {
      builder.route(parts.route.name, parts.route.resource);
      builder.ref(ROUTE_TYPE, parts.route.name, parts.route.from).from(ROUTE_TYPE, parts.route.name, parts.serviceSource);
    }
    builder.listener(parts.listenerName, parts.listener);
  }
  for (const inbound of dataplane.inbound) {
    // On a loopback address, an inbound whose application port is its own port would forward to
    // itself (validation refuses it when servicePort is given; omitted, it is right for a
    // proxyless workload, which listens on the inbound port itself): no listener, fail closed.
    if (inbound.servicePort === inbound.port && isLoopback(dataplane.address)) continue;
    const localCluster = localAppClusterName(inbound.servicePort);
    const http2 = isHttp2(inbound.protocol);
    builder.cluster(localCluster, localAppCluster(builder.cache, localCluster, inbound.servicePort, http2));
    if (mesh.mtls) {
      addMeshInboundListener(builder, mesh, dataplane, inbound, localCluster, identity);
      continue;
    }
    const key = JSON.stringify(['plain', inbound.port, inbound.protocol, inbound.service, localCluster]);
    const listenerName = inboundListenerName(dataplane.address, inbound.port);
    const { cache, memo } = builder;
    builder.listener(
      listenerName,
      templatedInbound(cache, key, inbound.port, dataplane.address, (address) => {
        const name = inboundListenerName(address, inbound.port);
        return socketListener(name, address, inbound.port, [{ filters: inboundFilters(cache, memo, name, inbound, localCluster) }], 'INBOUND');
      }),
    );
  }
  return builder.build();
}

/**
 * The wire side shared by the simulated Envoys and the baseline server: the ADS method path,
 * and DiscoveryRequest / DiscoveryResponse as raw bytes. Both peers decode with protobufjs
 * `decode` only (no `toObject`), so the harness itself adds as little work as possible.
 */
import type protobuf from 'protobufjs';
import { lookupType } from '../src/protos/load.js';
import { jsonToStruct } from '../src/xds/struct.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../src/snapshot/types.js';
import type { Scenario } from './scenario.js';

export { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE };

export const ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

/** The types every simulated proxy ends up holding: no SDS without mTLS; with mTLS, its certificate and the trust bundle. */
export function benchTypes(scenario: Scenario): readonly string[] {
  return scenario === 'mtls' ? [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE] : [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE];
}

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

export interface AnyMessage {
  readonly type_url: string;
  readonly value: Uint8Array;
}

export interface WireResponse {
  readonly version_info: string;
  readonly type_url: string;
  readonly nonce: string;
  readonly resources: readonly AnyMessage[];
}

export interface WireRequest {
  readonly version_info: string;
  readonly type_url: string;
  readonly response_nonce: string;
  readonly resource_names: readonly string[];
  readonly node?: { readonly id: string };
  readonly error_detail?: { readonly message: string };
}

const types = {
  request: (): protobuf.Type => lookupType('envoy.service.discovery.v3.DiscoveryRequest'),
  response: (): protobuf.Type => lookupType('envoy.service.discovery.v3.DiscoveryResponse'),
  cluster: (): protobuf.Type => lookupType('envoy.config.cluster.v3.Cluster'),
  listener: (): protobuf.Type => lookupType('envoy.config.listener.v3.Listener'),
  hcm: (): protobuf.Type => lookupType('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager'),
  upstreamTls: (): protobuf.Type => lookupType('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext'),
  downstreamTls: (): protobuf.Type => lookupType('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext'),
};

const UPSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const DOWNSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

export const identity = (bytes: Buffer): Buffer => bytes;

export function decodeResponse(bytes: Uint8Array): WireResponse {
  return types.response().decode(bytes) as unknown as WireResponse;
}

export function decodeRequest(bytes: Uint8Array): WireRequest {
  return types.request().decode(bytes) as unknown as WireRequest;
}

export function encodeResponse(response: WireResponse): Buffer {
  const type = types.response();
  return Buffer.from(type.encode(type.fromObject(response)).finish());
}

/** A request from a plain object; `node` is a full envoy.config.core.v3.Node object (metadata as a Struct). */
export function encodeRequest(request: Readonly<Record<string, unknown>>): Buffer {
  const type = types.request();
  return Buffer.from(type.encode(type.fromObject(request)).finish());
}

/** A request as Envoy's first one on a stream: with the node and its metadata Struct. */
export function sampleRequest(): Buffer {
  return encodeRequest({ type_url: 'warm', version_info: 'warm', response_nonce: 'warm', resource_names: ['warm'], node: { id: 'warm', cluster: 'bench', metadata: jsonToStruct({ mesh: 'default' }) } });
}

/** Names of the EDS clusters in a CDS response (what Envoy then asks EDS for). */
export function edsNamesOf(response: WireResponse): string[] {
  const names: string[] = [];
  for (const any of response.resources) {
    const cluster = types.cluster().decode(any.value) as unknown as DecodedCluster;
    if (cluster.eds_cluster_config) names.push(cluster.eds_cluster_config.service_name || cluster.name);
  }
  return names.sort();
}

interface DecodedTransportSocket {
  typed_config?: AnyMessage | null;
}

interface DecodedFilterChain {
  filters?: { typed_config?: AnyMessage | null }[];
  transport_socket?: DecodedTransportSocket | null;
}

interface DecodedListener {
  filter_chains?: DecodedFilterChain[];
  default_filter_chain?: DecodedFilterChain | null;
}

interface DecodedCluster {
  name: string;
  eds_cluster_config?: { service_name?: string } | null;
  transport_socket?: DecodedTransportSocket | null;
  transport_socket_matches?: { transport_socket?: DecodedTransportSocket | null }[];
}

interface SdsConfig {
  name?: string;
}

interface DecodedTlsContext {
  common_tls_context?: {
    tls_certificate_sds_secret_configs?: SdsConfig[];
    validation_context_sds_secret_config?: SdsConfig | null;
    combined_validation_context?: { validation_context_sds_secret_config?: SdsConfig | null } | null;
  } | null;
}

/** The SDS secret names a TLS transport socket refers to (certificates and validation contexts). */
function secretNamesOf(socket: DecodedTransportSocket | null | undefined, into: Set<string>): void {
  const any = socket?.typed_config;
  if (!any) return;
  const type = any.type_url === UPSTREAM_TLS_TYPE ? types.upstreamTls() : any.type_url === DOWNSTREAM_TLS_TYPE ? types.downstreamTls() : undefined;
  if (!type) return;
  const common = (type.decode(any.value) as unknown as DecodedTlsContext).common_tls_context;
  if (!common) return;
  const configs = [...(common.tls_certificate_sds_secret_configs ?? []), common.validation_context_sds_secret_config, common.combined_validation_context?.validation_context_sds_secret_config];
  for (const config of configs) if (config?.name) into.add(config.name);
}

/**
 * SDS secret names the clusters of a CDS response or the listeners of an LDS response refer to
 * (their UpstreamTlsContext / DownstreamTlsContext sds_secret_configs): what Envoy requests over
 * SDS while it warms those clusters and listeners, before it ACKs the response.
 */
export function sdsNamesOf(response: WireResponse): string[] {
  const names = new Set<string>();
  for (const any of response.resources) {
    if (response.type_url === CLUSTER_TYPE) {
      const cluster = types.cluster().decode(any.value) as unknown as DecodedCluster;
      secretNamesOf(cluster.transport_socket, names);
      for (const match of cluster.transport_socket_matches ?? []) secretNamesOf(match.transport_socket, names);
    } else if (response.type_url === LISTENER_TYPE) {
      const listener = types.listener().decode(any.value) as unknown as DecodedListener;
      for (const chain of [...(listener.filter_chains ?? []), listener.default_filter_chain]) secretNamesOf(chain?.transport_socket, names);
    }
  }
  return [...names].sort();
}

/** Route configuration names the HTTP connection managers of an LDS response refer to (what Envoy then asks RDS for). */
export function rdsNamesOf(response: WireResponse): string[] {
  const names = new Set<string>();
  for (const any of response.resources) {
    const listener = types.listener().decode(any.value) as unknown as DecodedListener;
    for (const chain of listener.filter_chains ?? []) {
      for (const filter of chain.filters ?? []) {
        if (filter.typed_config?.type_url !== HCM_TYPE) continue;
        const hcm = types.hcm().decode(filter.typed_config.value) as unknown as { rds?: { route_config_name?: string } | null };
        if (hcm.rds?.route_config_name) names.add(hcm.rds.route_config_name);
      }
    }
  }
  return [...names].sort();
}

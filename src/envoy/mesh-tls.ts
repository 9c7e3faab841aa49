/**
 * Mesh mTLS transport sockets (SPEC §1 Mesh, §2). Two deliveries of the same identity:
 * - envoy flavor: the workload certificate and the mesh trust bundle come over SDS, by the
 *   names of src/identity/names.ts, so a rotation pushes Secrets only;
 * - grpc flavor: gRPC rejects SDS (gRFC A29), so contexts name the bootstrap's certificate
 *   provider instance, whose files `meshcp agent` keeps current.
 *
 * Callers verify the callee's SPIFFE ID; callees check only the chain (and, for Envoy, that
 * the caller is some identity of the mesh): who may call is RBAC's business (mesh-rbac.ts).
 */
import { typed } from './any.js';
import { sdsSecretConfig, TLS_TRANSPORT_SOCKET } from './tls.js';

/** SDS names of a proxy's mesh identity. */
export interface SdsMeshIdentity {
  readonly certificate: string;
  readonly trustBundle: string;
}

function uriSanMatcher(matcher: { readonly exact: string } | { readonly prefix: string }): Record<string, unknown> {
  return { san_type: 'URI', matcher: { ...matcher } };
}

export interface MeshDownstreamSdsOptions {
  readonly identity: SdsMeshIdentity;
  /** `spiffe://<mesh>/`: a peer certificate must carry a URI SAN in the mesh's trust domain. */
  readonly trustDomainPrefix: string;
  readonly alpn: readonly string[];
}

/** Inbound (envoy flavor): present the workload certificate, require a client certificate from the mesh CA. */
export function meshDownstreamTlsSds(options: MeshDownstreamSdsOptions): Record<string, unknown> {
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: typed('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', {
      common_tls_context: {
        ...(options.alpn.length > 0 ? { alpn_protocols: [...options.alpn] } : {}),
        tls_certificate_sds_secret_configs: [sdsSecretConfig(options.identity.certificate)],
        // A certificate the mesh CA issued for something else (a Route host) is no workload
        // identity: only SPIFFE IDs of this mesh get as far as RBAC.
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: [uriSanMatcher({ prefix: options.trustDomainPrefix })] },
          validation_context_sds_secret_config: sdsSecretConfig(options.identity.trustBundle),
        },
      },
      require_client_certificate: { value: true },
    }),
  };
}

export interface MeshUpstreamSdsOptions {
  readonly identity: SdsMeshIdentity;
  /** The callee's `spiffe://<mesh>/<service>`: a certificate of another service is refused. */
  readonly spiffeId: string;
  readonly sni: string;
  readonly alpn: readonly string[];
}

/** Outbound (envoy flavor): present the workload certificate, verify the callee's chain and SPIFFE ID. */
export function meshUpstreamTlsSds(options: MeshUpstreamSdsOptions): Record<string, unknown> {
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: typed('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', {
      common_tls_context: {
        ...(options.alpn.length > 0 ? { alpn_protocols: [...options.alpn] } : {}),
        tls_certificate_sds_secret_configs: [sdsSecretConfig(options.identity.certificate)],
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: [uriSanMatcher({ exact: options.spiffeId })] },
          validation_context_sds_secret_config: sdsSecretConfig(options.identity.trustBundle),
        },
      },
      sni: options.sni,
    }),
  };
}

function providerInstance(instance: string): Record<string, unknown> {
  return { instance_name: instance };
}

/**
 * Server Listener filter chain (grpc flavor). grpc-js-xds refuses a DownstreamTlsContext without
 * `tls_certificate_provider_instance`, with any SDS config, or naming an instance missing from
 * its bootstrap (listener-resource-type.ts `validateTransportSocket`).
 */
export function meshDownstreamTlsProvider(instance: string): Record<string, unknown> {
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: typed('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', {
      common_tls_context: {
        tls_certificate_provider_instance: providerInstance(instance),
        validation_context: { ca_certificate_provider_instance: providerInstance(instance) },
      },
      require_client_certificate: { value: true },
    }),
  };
}

/**
 * Client cluster (grpc flavor). grpc-js-xds reads the deprecated `match_subject_alt_names` only
 * (gRFC A29; cluster-resource-type.ts), and its channel credentials refuse a server whose SANs
 * do not match. An `exact` matcher there compares against every SAN value, URI included.
 */
export function meshUpstreamTlsProvider(instance: string, spiffeId: string): Record<string, unknown> {
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: typed('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', {
      common_tls_context: {
        tls_certificate_provider_instance: providerInstance(instance),
        validation_context: {
          ca_certificate_provider_instance: providerInstance(instance),
          match_subject_alt_names: [{ exact: spiffeId }],
        },
      },
    }),
  };
}

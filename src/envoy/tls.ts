/**
 * TLS transport sockets and SDS secrets (envoy flavor, SPEC §2): certificates and CA bundles
 * always come over SDS on the ADS stream, so a rotation pushes one Secret and nothing else.
 */
import type { ResourceObject } from '../snapshot/encode.js';
import { ADS_CONFIG_SOURCE, typed } from './any.js';

export const TLS_TRANSPORT_SOCKET = 'envoy.transport_sockets.tls';

export function sdsSecretConfig(name: string): Record<string, unknown> {
  return { name, sds_config: ADS_CONFIG_SOURCE };
}

export interface DownstreamTlsOptions {
  /** SDS name of the server certificate. */
  readonly serverCertificate: string;
  /** SDS name of the CA bundle client certificates must chain to; without it no client certificate is requested. */
  readonly clientCa?: string;
  readonly alpn: readonly string[];
}

export function downstreamTlsTransportSocket(options: DownstreamTlsOptions): Record<string, unknown> {
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: typed('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', {
      common_tls_context: {
        alpn_protocols: [...options.alpn],
        tls_certificate_sds_secret_configs: [sdsSecretConfig(options.serverCertificate)],
        ...(options.clientCa !== undefined ? { validation_context_sds_secret_config: sdsSecretConfig(options.clientCa) } : {}),
      },
      // A handshake without a certificate, or with one the CA did not sign, fails (SPEC §1 Route).
      ...(options.clientCa !== undefined ? { require_client_certificate: { value: true } } : {}),
    }),
  };
}

export interface UpstreamTlsOptions {
  /** SDS name of the CA bundle that verifies the upstream. */
  readonly ca?: string;
  /** SDS name of the client certificate presented to the upstream. */
  readonly clientCertificate?: string;
  readonly sni?: string;
  readonly alpn: readonly string[];
}

export function upstreamTlsTransportSocket(options: UpstreamTlsOptions): Record<string, unknown> {
  let validation: Record<string, unknown> = {};
  if (options.ca !== undefined && options.sni !== undefined) {
    // Envoy only checks the chain unless told which name to expect; as an HTTPS client does, the
    // upstream must hold a DNS SAN for the SNI it was sent (a wildcard SAN matches too).
    validation = {
      combined_validation_context: {
        default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: options.sni } }] },
        validation_context_sds_secret_config: sdsSecretConfig(options.ca),
      },
    };
  } else if (options.ca !== undefined) {
    validation = { validation_context_sds_secret_config: sdsSecretConfig(options.ca) };
  }
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: typed('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', {
      common_tls_context: {
        ...(options.alpn.length > 0 ? { alpn_protocols: [...options.alpn] } : {}),
        ...(options.clientCertificate !== undefined ? { tls_certificate_sds_secret_configs: [sdsSecretConfig(options.clientCertificate)] } : {}),
        ...validation,
      },
      ...(options.sni !== undefined ? { sni: options.sni } : {}),
    }),
  };
}

/** An SDS Secret holding a certificate chain (leaf first) and its private key. */
export function tlsCertificateSecret(name: string, certificateChainPem: string, privateKeyPem: string): ResourceObject {
  return { name, tls_certificate: { certificate_chain: { inline_string: certificateChainPem }, private_key: { inline_string: privateKeyPem } } };
}

/** An SDS Secret holding CA certificates that peers must chain to. */
export function validationContextSecret(name: string, trustedCaPem: string): ResourceObject {
  return { name, validation_context: { trusted_ca: { inline_string: trustedCaPem } } };
}

/**
 * What a failed TLS connection says, in the user's terms. Node and grpc-js report OpenSSL's words
 * ("unable to verify the first certificate") or error codes; the user needs to know which file or
 * flag is wrong. Shared by the agent (xDS) and the CLI's admin API client.
 */

export type TlsFailure =
  /** The server's certificate does not chain to the CA the client was given. */
  | 'untrusted'
  /** The certificate chains, but does not name the host that was dialed. */
  | 'hostname'
  | 'expired'
  /** A TLS client reached a plaintext server (OpenSSL reads the HTTP/2 or HTTP bytes as a record). */
  | 'plaintext-server'
  /** The server asked for a client certificate and got none (or one it does not trust). */
  | 'client-certificate';

const PATTERNS: ReadonlyArray<readonly [TlsFailure, RegExp]> = [
  ['hostname', /ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames/i],
  ['expired', /CERT_HAS_EXPIRED|certificate has expired|CERT_NOT_YET_VALID/i],
  [
    'untrusted',
    /UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify the first certificate|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|self[- ]signed certificate|UNABLE_TO_GET_ISSUER_CERT|unable to get (local )?issuer certificate|certificate signature failure|CERT_SIGNATURE_FAILURE/i,
  ],
  ['client-certificate', /certificate required|ALERT_CERTIFICATE_REQUIRED|alert (number )?116|handshake failure.*certificate|bad certificate|ALERT_BAD_CERTIFICATE|unknown ca|ALERT_UNKNOWN_CA/i],
  ['plaintext-server', /wrong version number|packet length too long|WRONG_VERSION_NUMBER|http request|record layer failure/i],
];

export function classifyTlsFailure(text: string): TlsFailure | undefined {
  return PATTERNS.find(([, pattern]) => pattern.test(text))?.[0];
}

/** The agent's hint for an xDS connection that failed, or undefined when the failure is not about TLS. */
export function xdsConnectHint(details: string, caCertFile: string | undefined): string | undefined {
  switch (classifyTlsFailure(details)) {
    case 'untrusted':
      return `meshcp's xDS certificate does not verify with --xds-ca-cert ${caCertFile ?? '(none)'}: fetch this meshcp's xDS CA again from its admin API (GET /api/xds-ca: curl -o xds-ca.pem http://127.0.0.1:5681/api/xds-ca), or give the CA of serve's --xds-tls-cert`;
    case 'hostname':
      return 'meshcp\'s xDS certificate does not name the address dialed: add it with `meshcp serve --xds-hostname NAME` (repeatable), or dial localhost / 127.0.0.1';
    case 'expired':
      return 'a certificate of the xDS connection has expired (or is not valid yet): check the clocks, and serve\'s --xds-tls-cert if you gave one';
    case 'plaintext-server':
      return 'this address does not speak TLS: meshcp runs with --xds-plaintext (then give the agent --xds-plaintext too, for development only), or the address is not meshcp\'s xDS port';
    default:
      return undefined;
  }
}

/**
 * Why the admin API could not be reached, in the user's terms: a TLS problem names the flag that
 * fixes it (an untrusted server certificate: --admin-ca-cert; a missing client certificate:
 * --client-cert/--client-key; http against https and the reverse: the --server scheme), instead of
 * "cannot reach … is meshcp serve running?" for all of them.
 */
import { classifyTlsFailure } from '../agent/connect-hints.js';
import { speaksTls } from './tls-probe.js';

export interface ClientTls {
  /** --admin-ca-cert was given. */
  readonly trustsCa: boolean;
  /** --client-cert/--client-key were given. */
  readonly hasClientCertificate: boolean;
}

const CA_FLAG = '--admin-ca-cert FILE (env MESHCP_ADMIN_CA_CERT)';
const CLIENT_FLAGS = '--client-cert FILE --client-key FILE (env MESHCP_CLIENT_CERT, MESHCP_CLIENT_KEY)';

/** The connection was dropped or reset before an answer: what an HTTPS server does to plain HTTP, and a TLS 1.3 server to a client without a certificate. */
function droppedConnection(err: NodeJS.ErrnoException): boolean {
  return err.code === 'ECONNRESET' || err.code === 'EPIPE' || /socket hang up/i.test(err.message);
}

function portOf(url: URL): number {
  return url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

export async function describeAdminConnectError(base: URL, err: NodeJS.ErrnoException, client: ClientTls): Promise<string> {
  const at = `the meshcp admin API at ${base.origin}`;
  const text = `${err.code ?? ''} ${err.message}`;
  if (err.code === 'ECONNREFUSED') return `cannot reach ${at}: connection refused (is \`meshcp serve\` running there? set --server or MESHCP_SERVER)`;
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return `cannot reach ${at}: no such host "${base.hostname}" (check --server or MESHCP_SERVER)`;
  if (base.protocol === 'https:') {
    switch (classifyTlsFailure(text)) {
      case 'untrusted':
        return client.trustsCa
          ? `${at} presents a certificate that does not chain to --admin-ca-cert (${err.code ?? err.message}): give the CA that signed serve's --admin-tls-cert`
          : `${at} presents a certificate this CLI does not trust (${err.code ?? err.message}): give the CA that signed it with ${CA_FLAG}`;
      case 'hostname':
        return `${at} presents a certificate for another name (${err.message}): use a name the certificate holds in --server, or reissue it with "${base.hostname}" (serve's --admin-tls-cert)`;
      case 'expired':
        return `${at} presents an expired (or not yet valid) certificate: renew serve's --admin-tls-cert, or check this machine's clock`;
      case 'plaintext-server':
        return `${at} speaks plain HTTP, not HTTPS: use --server http://${base.host}`;
      case 'client-certificate':
        return client.hasClientCertificate
          ? `${at} refused the client certificate of --client-cert (${err.code ?? err.message}): it must be signed by the CA of serve's --admin-client-ca`
          : `${at} requires a client certificate (mTLS, serve --admin-client-ca): give ${CLIENT_FLAGS}`;
      default:
        if (droppedConnection(err)) {
          return client.hasClientCertificate
            ? `${at} closed the connection during the TLS handshake: it may refuse the client certificate of --client-cert (it must be signed by the CA of serve's --admin-client-ca)`
            : `${at} closed the connection during the TLS handshake: it probably requires a client certificate (mTLS, serve --admin-client-ca): give ${CLIENT_FLAGS}`;
        }
    }
  } else if (droppedConnection(err) && (await speaksTls(base.hostname, portOf(base)))) {
    return `${at} speaks HTTPS, not plain HTTP: use --server https://${base.host} (with ${CA_FLAG} when its certificate is not publicly trusted)`;
  }
  return `cannot reach ${at}: ${err.code ?? err.message} (is \`meshcp serve\` running there? set --server or MESHCP_SERVER)`;
}

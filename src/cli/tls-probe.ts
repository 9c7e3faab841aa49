/** Whether an address answers with TLS: tells an HTTPS or TLS xDS port from a plain one, for the CLI's hints. */
import tls from 'node:tls';
import { classifyTlsFailure } from '../agent/connect-hints.js';

/** Whether host:port completes a TLS handshake (certificate unchecked): tells an HTTPS server from a plain one. */
export function speaksTls(host: string, port: number, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    // No SNI: the host may be an IP (RFC 6066), and the certificate is not looked at.
    const socket = tls.connect({ host, port, rejectUnauthorized: false, servername: '', ALPNProtocols: ['h2', 'http/1.1'] });
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('secureConnect', () => done(true));
    // A server that requires a client certificate may still refuse us after the hello: it spoke TLS.
    socket.once('error', (e: NodeJS.ErrnoException) => done(classifyTlsFailure(`${e.code ?? ''} ${e.message}`) === 'client-certificate'));
  });
}


/**
 * The Envoy demo's applications: plain HTTP servers behind Envoy sidecars. `backend` answers with
 * the caller identity its sidecar saw; `web` calls backend through its own sidecar's outbound
 * listener and answers with both.
 */
import http from 'node:http';
import type net from 'node:net';

export interface AppReply {
  readonly app: string;
  /** The caller's SPIFFE ID, from the x-forwarded-client-cert header the sidecar set. */
  readonly caller?: string;
  readonly upstream?: unknown;
}

export interface HttpApp {
  readonly port: number;
  close(): Promise<void>;
}

const callerOf = (req: http.IncomingMessage): string | undefined => /URI=([^;,]+)/.exec(String(req.headers['x-forwarded-client-cert'] ?? ''))?.[1];

/** GET http://127.0.0.1:port/, resolving with the status and body (never rejecting on an HTTP error status). */
export function getLocal(port: number, urlPath = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`127.0.0.1:${port}: no answer`)));
    req.on('error', reject);
  });
}

/** An app; with `upstreamPort`, each request first calls that port (its sidecar's outbound listener). */
export async function startHttpApp(name: string, upstreamPort?: number): Promise<HttpApp> {
  const server = http.createServer((req, res) => {
    const reply = (status: number, body: AppReply): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const caller = callerOf(req);
    if (upstreamPort === undefined) return reply(200, { app: name, ...(caller ? { caller } : {}) });
    getLocal(upstreamPort, req.url ?? '/').then(
      (up) => {
        let upstream: unknown = up.body;
        try {
          upstream = JSON.parse(up.body);
        } catch {
          // not JSON: an Envoy local reply such as "RBAC: access denied"
        }
        reply(up.status === 200 ? 200 : 502, { app: name, ...(caller ? { caller } : {}), upstream: up.status === 200 ? upstream : { status: up.status, body: upstream } });
      },
      (err: Error) => reply(502, { app: name, upstream: { error: err.message } }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

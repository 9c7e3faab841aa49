/**
 * The applications behind the Envoys (small Node HTTP servers, plain or TLS) and the clients in
 * front of them (Node http/https, with client certificates where a scenario needs them).
 */
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import tls from 'node:tls';

export interface AppReply {
  /** Which app answered. */
  readonly app: string;
  readonly path: string;
  /** The x-forwarded-client-cert header Envoy added (the caller's identity), if any. */
  readonly xfcc?: string;
  /** The subject of the client certificate the app itself saw (TLS apps). */
  readonly peerSubject?: string;
  /** The `x-envoy-*` request headers that reached the app. */
  readonly envoyHeaders?: Record<string, string>;
}

export interface RunningApp {
  readonly port: number;
  /** Requests served so far. */
  served(): number;
  close(): Promise<void>;
}

function handler(name: string, count: () => void, delayed = false): http.RequestListener {
  return (req, res) => {
    // `/slow/MS`: answer after MS milliseconds (a long request).
    const slow = delayed ? null : /^\/slow\/(\d+)/.exec(req.url ?? '');
    if (slow) {
      const timer = setTimeout(() => handler(name, count, true)(req, res), Number(slow[1]));
      res.once('close', () => clearTimeout(timer));
      return;
    }
    count();
    const socket = req.socket as tls.TLSSocket;
    const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
    const reply: AppReply = {
      app: name,
      path: req.url ?? '',
      ...(req.headers['x-forwarded-client-cert'] !== undefined ? { xfcc: String(req.headers['x-forwarded-client-cert']) } : {}),
      ...(peer?.subject?.CN !== undefined ? { peerSubject: String(peer.subject.CN) } : {}),
      envoyHeaders: Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.startsWith('x-envoy-')).map(([k, v]) => [k, String(v)])),
    };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(reply));
  };
}

async function listen(server: net.Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

function running(server: http.Server, port: number, served: () => number): RunningApp {
  return {
    port,
    served,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A plain HTTP app answering every request with an `AppReply`. */
export async function startHttpApp(name: string, port = 0): Promise<RunningApp> {
  let served = 0;
  const server = http.createServer(handler(name, () => served++));
  return running(server, await listen(server, port), () => served);
}

/** An HTTPS app that requires a client certificate from `clientCa` (an upstream with mTLS). */
export async function startTlsApp(name: string, options: { cert: string; key: string; clientCa: string }): Promise<RunningApp> {
  let served = 0;
  const server = https.createServer({ cert: options.cert, key: options.key, ca: options.clientCa, requestCert: true, rejectUnauthorized: true }, handler(name, () => served++));
  return running(server, await listen(server), () => served);
}

export interface Reply {
  readonly status: number;
  readonly body: string;
  json(): AppReply;
}

function collect(res: http.IncomingMessage): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => (body += d));
    res.on('error', reject);
    res.on('end', () => resolve({ status: res.statusCode ?? 0, body, json: () => JSON.parse(body) as AppReply }));
  });
}

/** A plain HTTP GET (a new connection each time unless an agent is given). */
export function httpGet(port: number, urlPath = '/', options: { host?: string; agent?: http.Agent; timeoutMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, agent: options.agent ?? false, headers: options.host !== undefined ? { host: options.host } : {}, timeout: options.timeoutMs ?? 10_000 }, (res) => {
      collect(res).then(resolve, reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET 127.0.0.1:${port}${urlPath}: no answer within ${options.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export interface TlsClient {
  /** The name sent as SNI and in the Host header. */
  readonly host: string;
  /** Further request headers. */
  readonly headers?: Record<string, string>;
  /** CAs the client trusts for the server certificate. */
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
  /** Whether the server certificate must name `host` (as HTTPS clients check); default true. */
  readonly checkName?: boolean;
  /** Default GET (a CORS preflight is OPTIONS). */
  readonly method?: string;
}

export interface TlsReply extends Reply {
  /** The server certificate Envoy presented for the SNI. */
  readonly serverCertificate: tls.PeerCertificate;
  readonly headers: http.IncomingHttpHeaders;
}

/** An HTTPS GET to 127.0.0.1:port with SNI `host`; a refused handshake rejects. */
export function httpsGet(port: number, client: TlsClient, urlPath = '/'): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1', port, path: urlPath, method: client.method ?? 'GET', servername: client.host, headers: { ...client.headers, host: client.host },
        ca: client.ca, ...(client.cert !== undefined ? { cert: client.cert, key: client.key } : {}),
        agent: false, timeout: 10_000,
        // The server certificate names the route host, not 127.0.0.1.
        checkServerIdentity: (_host, cert) => (client.checkName === false ? undefined : tls.checkServerIdentity(client.host, cert)),
      },
      (res) => {
        const serverCertificate = (res.socket as tls.TLSSocket).getPeerCertificate();
        collect(res).then((reply) => resolve({ ...reply, serverCertificate, headers: res.headers }), reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET https://${client.host}:${port}${urlPath}: no answer`)));
    req.on('error', reject);
    req.end();
  });
}

/** How a TLS request ended: its HTTP status, or `handshake` when the connection was refused. */
export async function httpsOutcome(port: number, client: TlsClient, urlPath = '/'): Promise<number | 'handshake'> {
  try {
    return (await httpsGet(port, client, urlPath)).status;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    // TLS 1.3: a certificate refused by the server surfaces as an alert or a reset after the handshake.
    if (/^(ECONNRESET|EPIPE|ERR_SSL_|ERR_TLS_)/.test(code) || /alert|socket hang up|disconnected/i.test((err as Error).message)) return 'handshake';
    throw err;
  }
}

export interface LoadResult {
  readonly ok: number;
  readonly failed: number;
  /** The first few failures: status or error. */
  readonly failures: readonly string[];
}

export interface Load {
  /** Requests completed so far (either way). */
  done(): number;
  /** Stops issuing, waits for those in flight, returns the tally. */
  stop(): Promise<LoadResult>;
}

/**
 * Continuous requests from `concurrency` callers, each waiting for its answer before the next:
 * a failure window of any length shows up as failed requests.
 */
export function startLoad(request: () => Promise<boolean | string>, concurrency = 4): Load {
  let running = true;
  let ok = 0;
  let failed = 0;
  const failures: string[] = [];
  const record = (why: string): void => {
    failed++;
    if (failures.length < 10) failures.push(`${new Date().toISOString()} ${why}`);
  };
  const caller = async (): Promise<void> => {
    while (running) {
      try {
        const result = await request();
        if (result === true) ok++;
        else record(result === false ? 'refused' : result);
      } catch (err) {
        record((err as Error).message);
      }
    }
  };
  const callers = Array.from({ length: concurrency }, () => caller());
  return {
    done: () => ok + failed,
    stop: async () => {
      running = false;
      await Promise.all(callers);
      return { ok, failed, failures };
    },
  };
}

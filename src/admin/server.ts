/**
 * The admin HTTP API (SPEC §3): `/api/...` resources, `/healthz`, `/readyz`, `/metrics`.
 *
 *   GET    /api                              the resource types
 *   GET    /api/{type}[?mesh=M]              list (every mesh without `mesh`)
 *   GET    /api/{type}/{name}[?mesh=M]       one resource (mesh `default` without `mesh`)
 *   POST   /api/apply[?mode=create|update][&dryRun=true][&file=NAME]
 *   PUT    /api/apply                        body: YAML or JSON, one or more documents; or
 *                                            `application/vnd.meshcp.files+json` {files:[{name,content}]}
 *   DELETE /api/{type}/{name}[?mesh=M]
 *   GET    /api/secrets/{name}/certificate[?mesh=M]   the certificates of a secret or builtin CA, PEM (never a key)
 *   GET    /api/meshes/{name}/certificate            the CA that signs the mesh's certificates (route clients trust it), PEM
 *   POST   /api/tokens                       body {name, mesh?, validFor?}: a dataplane token signed with the server's key
 *   GET    /api/identities[?mesh=M][&name=N]  workload certificate status per proxy (for `inspect`)
 *   GET    /api/inspect/dataplanes[?mesh=M]  per proxy: stream, xDS and certificate state (`meshcp inspect dataplanes`)
 *   GET    /api/inspect/dataplanes/{name}/config-dump[?mesh=M]
 *                                            what was last sent per type, keys redacted, with its ACK/NACK state
 *   POST   /api/cert-check                   body {cert: PEM, route?, mesh?}: would each Route admit this client certificate
 *   GET    /gui/, /api/events, /api/inspect/{meshes,services,gateways,secrets}: the read-only web GUI (gui-routes.ts)
 *
 * `{type}` is singular or plural, case-insensitive. Errors are `{ errors: [string], warnings: [string] }`.
 * With `tls.clientCa` the server is HTTPS and requires a client certificate signed by that CA.
 * Requests a web page could forge (DNS rebinding, cross-origin writes) are refused: browser-guard.ts.
 * This file routes; the routes that read a body are in request-handlers.ts.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { singleLine } from '../api/errors.js';
import { tokenApiRequest, type TokenService } from '../auth/token-api.js';
import type { Resource } from '../api/types.js';
import type { IdentityStatus } from '../identity/manager.js';
import type { Logger } from '../log/logger.js';
import { StoreConflictError, StoreUnavailableError } from '../store/store.js';
import type { GuiAssetsResult } from './gui-assets.js';
import { GuiRoutes } from './gui-routes.js';
import { allowedHostnames, splitHostPort, type AdminTlsOptions } from './binding.js';
import { BrowserGuard } from './browser-guard.js';
import { HttpError } from './http-error.js';
import { LiveFeed, type LiveFeedOptions, type LiveSources } from './live-events.js';
import type { IdentityViewSource } from './mesh-overview.js';
import type { MeshCa } from '../ca/providers/types.js';
import { allow, parseRequestUrl, readBody, send, sendText } from './http-io.js';
import { nacksBySource, type InspectSources } from './inspect.js';
import { withNacks } from './views.js';
import { kindPlural, knownTypeNames, parseKind } from './kinds.js';
import type { ResourceApi } from './resource-api.js';
import { applyRequest, certCheckRequest, generateTokenRequest, identitiesRequest, inspectRequest } from './request-handlers.js';

/** The seam for Prometheus metrics (prom-client's registry fits it). */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface AdminServerOptions {
  readonly api: ResourceApi;
  readonly log: Logger;
  /** Ready once the store and the config files are loaded and merged. */
  readonly isReady: () => boolean;
  /** Why the replica is not ready although loaded (e.g. `etcd://…: unavailable`), for /readyz; undefined when it is. */
  readonly unready?: () => string | undefined;
  readonly metrics?: MetricsSource;
  readonly tls?: AdminTlsOptions;
  /** Workload certificate status per proxy (identity/manager.ts). */
  readonly identities?: { listStatus(mesh?: string): IdentityStatus[] };
  /** Proxy, xDS and certificate state for `/api/inspect/...` (admin/inspect.ts). */
  readonly inspect?: InspectSources;
  /** The resources being served, for `/api/cert-check`. */
  readonly servedResources?: () => readonly Resource[];
  /**
   * `GET /api/xds-ca`: the PEM certificate of the CA that signs the xDS serving certificate (SPEC §2
   * "xDS is TLS by default"; `meshcp bootstrap envoy` fetches it). Never a key. Undefined when xDS
   * is plaintext or serves a user-provided certificate: the route then answers 404 with why.
   */
  readonly xdsCa?: () => { pem: string } | { unavailable: string };
  /** Extra names (DNS or IP) clients use to reach the API, accepted in the Host header (`serve --admin-hostname`). */
  readonly hostnames?: readonly string[];
  /**
   * `POST /api/tokens` (`meshcp token generate`, as `kumactl generate dataplane-token` asks its
   * control plane): the server's token signing key (data directory or etcd). The route is as
   * protected as every admin call (loopback, or mTLS with --admin-client-ca).
   */
  readonly tokens?: TokenService;
  /** The web GUI at `/gui/` (gui-assets.ts): its built files, or why there are none. */
  readonly gui?: GuiAssetsResult;
  /** `GET /api/events` for the GUI (live-events.ts). */
  readonly live?: LiveSources & { readonly options?: LiveFeedOptions };
  /** What the GUI's views read besides `inspect` (gui-routes.ts); they need `inspect` too. */
  readonly views?: { readonly identities: IdentityViewSource; readonly meshCas: () => readonly MeshCa[] };
}

export class AdminServer {
  private readonly server: http.Server;
  private readonly guard: BrowserGuard;
  private readonly live?: LiveFeed;
  private readonly guiRoutes: GuiRoutes;
  /** Every open socket, also those still in their TLS handshake, which closeAllConnections does not see. */
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: AdminServerOptions) {
    this.live = options.live ? new LiveFeed(options.live, options.live.options) : undefined;
    this.guard = new BrowserGuard(options.log, options.tls !== undefined);
    const { inspect, views, api } = options;
    this.guiRoutes = new GuiRoutes({
      mtls: options.tls?.clientCa !== undefined,
      ...(options.gui ? { assets: options.gui } : {}),
      ...(this.live ? { live: this.live } : {}),
      ...(inspect && views ? { views: { inspect, ...views, secrets: (mesh?: string) => api.list('Secret', mesh) } } : {}),
    });
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        // A store that cannot be reached or a lost compare-and-swap is no server bug: say so.
        const storeError = err instanceof StoreUnavailableError || err instanceof StoreConflictError;
        const status = err instanceof HttpError ? err.status : err instanceof StoreUnavailableError ? 503 : err instanceof StoreConflictError ? 409 : 500;
        // Client errors are the client's business: no stack in the server log.
        if (status === 500) options.log.error({ err }, 'admin API request failed');
        const message = err instanceof HttpError || storeError ? singleLine(err.message) : 'internal error (see the server log)';
        if (status === 413) {
          // The rest of an oversized body is not read: close the connection once the answer is out.
          res.setHeader('connection', 'close');
        }
        send(res, status, { errors: [message], warnings: [] });
      });
    };
    this.server = options.tls
      ? https.createServer({ cert: options.tls.cert, key: options.tls.key, ...(options.tls.clientCa !== undefined ? { ca: options.tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}) }, handler)
      : http.createServer(handler);
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Listens on `host:port` (port 0: any free port); resolves to the URL clients use. */
  async listen(address: string): Promise<{ url: string; port: number }> {
    const { host, port } = splitHostPort(address);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const bound = (this.server.address() as AddressInfo).port;
    this.guard.bind(bound, allowedHostnames(host, this.options.hostnames ?? []));
    const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' || host === '' ? '127.0.0.1' : host;
    return { url: `${this.options.tls ? 'https' : 'http'}://${urlHost}:${bound}`, port: bound };
  }

  async close(): Promise<void> {
    this.live?.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      // A browser reconnecting its event stream as the server stops leaves a socket mid-handshake:
      // without this, close() waits for that socket's timeout (minutes).
      for (const socket of this.sockets) socket.destroy();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const { url, segments } = parseRequestUrl(req.url);
    const method = req.method ?? 'GET';
    const [first, second, third, ...rest] = segments;
    // Health probes carry no data and come from orchestrators using whatever address they know.
    if (first === 'healthz' && segments.length === 1) return sendText(res, 200, 'ok\n');
    if (first === 'readyz' && segments.length === 1) {
      if (!this.options.isReady()) return sendText(res, 503, 'not ready\n');
      const why = this.options.unready?.();
      return why === undefined ? sendText(res, 200, 'ready\n') : sendText(res, 503, `not ready: ${singleLine(why)}\n`);
    }
    this.guard.check(req, method, url);
    if (first === 'metrics' && segments.length === 1) return this.serveMetrics(res);
    if (this.guiRoutes.handle(req, res, method, segments, url)) return;
    if (first !== 'api') throw new HttpError(404, `no such path ${url.pathname}; see /api`);
    if (second === undefined) return send(res, 200, { types: knownTypeNames() });
    if (second === 'apply' && third === undefined) {
      allow(method, ['POST', 'PUT']);
      return applyRequest(req, res, url, this.options.api, this.options.log);
    }
    if (second === 'inspect') {
      if (!this.options.inspect) throw new HttpError(404, 'inspect is not enabled');
      allow(method, ['GET']);
      return inspectRequest(segments.slice(2), url, res, this.options.inspect, this.requireMesh);
    }
    if (second === 'cert-check' && third === undefined && this.options.servedResources) {
      allow(method, ['POST']);
      return certCheckRequest(req, res, this.options.servedResources);
    }
    const certificateOf = third !== undefined && rest.length === 1 && rest[0] === 'certificate' ? parseKind(second) : undefined;
    if (third !== undefined && (certificateOf === 'Secret' || certificateOf === 'Mesh')) {
      allow(method, ['GET']);
      this.requireMesh(certificateOf === 'Mesh' ? third : (url.searchParams.get('mesh') ?? undefined));
      const result =
        certificateOf === 'Mesh'
          ? await this.options.api.meshCertificate(third)
          : await this.options.api.certificate({ type: 'Secret', mesh: url.searchParams.get('mesh') ?? 'default', name: third });
      if (!result.ok) throw new HttpError(result.status, result.error);
      // PEM for curl; JSON for meshcp, which asks for it.
      if ((req.headers.accept ?? '').includes('application/json')) return send(res, 200, { pem: result.pem });
      res.writeHead(200, { 'content-type': 'application/x-pem-file' });
      return void res.end(result.pem);
    }
    if (second === 'tokens' && third === undefined && this.options.tokens) {
      allow(method, ['POST']);
      return generateTokenRequest(req, res, this.options.tokens, this.requireMesh, this.options.log);
    }
    if (second === 'tokens' && third !== undefined && this.options.tokens) {
      // Revocation and signing-key rotation (SPEC §2 "Token lifecycle"): auth/token-api.ts.
      const reply = await tokenApiRequest(this.options.tokens, method, [third, ...rest], method === 'POST' ? await readBody(req) : '');
      if (reply.status === 200) this.options.log.info({ path: url.pathname, method }, 'token lifecycle change through the admin API');
      return send(res, reply.status, reply.body);
    }
    if (rest.length > 0) throw new HttpError(404, `no such path ${url.pathname}`);
    if (second === 'xds-ca' && third === undefined && this.options.xdsCa) {
      allow(method, ['GET']);
      const ca = this.options.xdsCa();
      if ('unavailable' in ca) throw new HttpError(404, ca.unavailable);
      res.writeHead(200, { 'content-type': 'application/x-pem-file' });
      return void res.end(ca.pem);
    }
    if (second === 'identities' && third === undefined && this.options.identities) {
      allow(method, ['GET']);
      return identitiesRequest(url, res, this.options.identities);
    }
    const kind = parseKind(second);
    if (kind === undefined) throw new HttpError(404, `unknown resource type "${second}"; known types: ${knownTypeNames().join(', ')}`);
    const meshParam = url.searchParams.get('mesh') ?? undefined;
    // `get -m defualt` is a typo, not an empty mesh (Kuma: "mesh not found").
    if (kind !== 'Mesh') this.requireMesh(meshParam);
    if (third === undefined) {
      allow(method, ['GET']);
      const nacks = this.options.inspect ? nacksBySource(this.options.inspect) : undefined;
      const items = this.options.api.list(kind, meshParam).map((v) => withNacks(v, nacks));
      return send(res, 200, { items, total: items.length });
    }
    const ref = { type: kind, mesh: kind === 'Mesh' ? '' : (meshParam ?? 'default'), name: third };
    if (method === 'DELETE') {
      const result = await this.options.api.delete(ref);
      if (!result.ok) return send(res, result.status, { errors: result.errors, warnings: result.warnings });
      this.options.log.info({ resource: `${kind}/${ref.mesh}/${ref.name}` }, 'resource deleted through the admin API');
      return send(res, 200, { deleted: { type: kind, ...(kind !== 'Mesh' ? { mesh: ref.mesh } : {}), name: third }, warnings: result.warnings });
    }
    allow(method, ['GET', 'DELETE']);
    const view = this.options.api.get(ref);
    if (!view) throw new HttpError(404, `${kind}/${third}${kind !== 'Mesh' ? ` in mesh "${ref.mesh}"` : ''} not found (GET /api/${kindPlural(kind)} lists them)`);
    return send(res, 200, { ...withNacks(view, this.options.inspect ? nacksBySource(this.options.inspect) : undefined) });
  }

  /** 404 naming the nearest mesh when `mesh` is given and does not exist. */
  private readonly requireMesh = (mesh: string | undefined): void => {
    const problem = mesh === undefined ? undefined : this.options.api.unknownMesh(mesh);
    if (problem !== undefined) throw new HttpError(404, problem);
  };

  private async serveMetrics(res: http.ServerResponse): Promise<void> {
    if (!this.options.metrics) throw new HttpError(404, 'metrics are not enabled');
    const text = await this.options.metrics.metrics();
    res.writeHead(200, { 'content-type': this.options.metrics.contentType });
    res.end(text);
  }
}

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
 *
 * Browsers. Any web page can make a browser send requests here: a
 * "simple" cross-origin POST (text/plain, no preflight) would apply resources, and DNS rebinding
 * (a hostile name re-pointed at 127.0.0.1) makes the page same-origin with the API, so it can read
 * everything. Hence: the Host header must name this server (the rebinding page sends its own
 * name), writes with a foreign Origin are refused, and writes must be JSON or YAML, which a
 * page cannot send cross-origin without a CORS preflight that this server never answers
 * (https://fetch.spec.whatwg.org/#cors-safelisted-request-header).
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { parseDuration } from '../api/duration.js';
import { formatFieldError, singleLine } from '../api/errors.js';
import { isPlainObject, Issues, quoteValue, readName, readObject, readString } from '../api/fields.js';
import { tokenApiRequest, type TokenService } from '../auth/token-api.js';
import type { Resource } from '../api/types.js';
import type { IdentityStatus } from '../identity/manager.js';
import type { Logger } from '../log/logger.js';
import { StoreConflictError, StoreUnavailableError } from '../store/store.js';
import { checkCertificateAgainstRoutes, type CertCheckRequest } from './cert-check.js';
import type { GuiAssetsResult } from './gui-assets.js';
import { GuiRoutes } from './gui-routes.js';
import { allowedHostnames, splitHostHeader, splitHostPort, type AdminTlsOptions } from './binding.js';
import { HttpError } from './http-error.js';
import { LiveFeed, type LiveFeedOptions, type LiveSources } from './live-events.js';
import type { IdentityViewSource } from './mesh-overview.js';
import type { MeshCa } from '../ca/providers/types.js';
import { configDump, inspectDataplanes, nacksBySource, type InspectSources } from './inspect.js';
import { withNacks } from './views.js';
import { kindPlural, knownTypeNames, parseKind } from './kinds.js';
import type { ApplyFile, ApplyMode, ResourceApi } from './resource-api.js';

export const FILES_CONTENT_TYPE = 'application/vnd.meshcp.files+json';
/** The largest request body (README "Security model"): a bigger apply is refused with 413 before it is parsed. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** Content types a write may have: JSON (including `+json` types such as FILES_CONTENT_TYPE) or YAML. */
const WRITE_CONTENT_TYPES = new Set(['application/json', 'application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml']);
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

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

/** The longest token lifetime the API signs: a leaked token is valid until it expires or is revoked (`meshcp token revoke`). */
const MAX_TOKEN_SECONDS = 10 * 365 * 86_400;

type Json = Record<string, unknown>;

export class AdminServer {
  private readonly server: http.Server;
  private port = 0;
  private allowedHosts: ReadonlySet<string> = new Set();
  private readonly live?: LiveFeed;
  private readonly guiRoutes: GuiRoutes;
  /** Every open socket, also those still in their TLS handshake, which closeAllConnections does not see. */
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: AdminServerOptions) {
    this.live = options.live ? new LiveFeed(options.live, options.live.options) : undefined;
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
    this.port = bound;
    this.allowedHosts = allowedHostnames(host, this.options.hostnames ?? []);
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
    this.checkBrowserSafety(req, method, url);
    if (first === 'metrics' && segments.length === 1) return this.serveMetrics(res);
    if (this.guiRoutes.handle(req, res, method, segments, url)) return;
    if (first !== 'api') throw new HttpError(404, `no such path ${url.pathname}; see /api`);
    if (second === undefined) return send(res, 200, { types: knownTypeNames() });
    if (second === 'apply' && third === undefined) {
      allow(method, ['POST', 'PUT']);
      return this.apply(req, res, url);
    }
    if (second === 'inspect') return this.inspect(method, segments.slice(2), url, res);
    if (second === 'cert-check' && third === undefined && this.options.servedResources) {
      allow(method, ['POST']);
      return this.certCheck(req, res, this.options.servedResources);
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
      return this.generateToken(req, res, this.options.tokens);
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
      const name = url.searchParams.get('name') ?? undefined;
      const items = this.options.identities.listStatus(url.searchParams.get('mesh') ?? undefined).filter((s) => name === undefined || s.name === name).map(identityJson);
      return send(res, 200, { items, total: items.length });
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

  /** Hole 4: refuses DNS-rebound, cross-origin and non-JSON/YAML requests (see the file comment); each refusal is logged once. */
  private checkBrowserSafety(req: http.IncomingMessage, method: string, url: URL): void {
    const refuse = (status: number, reason: string, message: string): never => {
      this.options.log.warn({ method, path: url.pathname, reason }, 'admin API request refused');
      throw new HttpError(status, message);
    };
    const host = req.headers.host;
    if (host === undefined || !this.hostAllowed(host)) {
      refuse(
        421,
        'host',
        `Host header ${JSON.stringify(singleLine(host ?? '').slice(0, 100))} does not name this admin API (use 127.0.0.1:${this.port} or localhost:${this.port}, or add the name with serve --admin-hostname)`,
      );
    }
    if (!WRITE_METHODS.has(method)) return;
    const origin = req.headers.origin;
    if (origin !== undefined && !this.originAllowed(origin)) {
      refuse(403, 'origin', `cross-origin write refused: Origin ${JSON.stringify(singleLine(origin).slice(0, 100))} is not this admin API; use meshcp or curl, not a web page`);
    }
    const fetchSite = req.headers['sec-fetch-site'];
    if (fetchSite === 'cross-site' || fetchSite === 'same-site') refuse(403, 'sec-fetch-site', `cross-site write refused (Sec-Fetch-Site: ${fetchSite}); use meshcp or curl, not a web page`);
    // A write without a body carries nothing to apply (and routing answers it, e.g. with 405).
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? '0') > 0;
    if (method === 'DELETE' || !hasBody) return;
    const contentType = (req.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
    if (!WRITE_CONTENT_TYPES.has(contentType) && !/^application\/[a-z0-9.+-]+\+json$/.test(contentType)) {
      refuse(415, 'content-type', `unsupported content type ${JSON.stringify(contentType.slice(0, 100))}: send application/json or application/yaml`);
    }
  }

  private hostAllowed(header: string): boolean {
    const parsed = splitHostHeader(header);
    if (!parsed) return false;
    const defaultPort = this.options.tls ? 443 : 80;
    if ((parsed.port ?? defaultPort) !== this.port) return false;
    return this.allowedHosts.has(parsed.host.toLowerCase());
  }

  private originAllowed(origin: string): boolean {
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      return false; // includes the opaque origin "null"
    }
    const scheme = this.options.tls ? 'https:' : 'http:';
    return parsed.protocol === scheme && parsed.pathname === '/' && this.hostAllowed(parsed.host);
  }

  /** 404 naming the nearest mesh when `mesh` is given and does not exist. */
  private requireMesh(mesh: string | undefined): void {
    const problem = mesh === undefined ? undefined : this.options.api.unknownMesh(mesh);
    if (problem !== undefined) throw new HttpError(404, problem);
  }

  private inspect(method: string, path: readonly string[], url: URL, res: http.ServerResponse): void {
    const sources = this.options.inspect;
    if (!sources) throw new HttpError(404, 'inspect is not enabled');
    allow(method, ['GET']);
    const [what, name, view, ...extra] = path;
    if ((what !== 'dataplanes' && what !== 'dataplane') || extra.length > 0) throw new HttpError(404, `no such path ${url.pathname}; see /api/inspect/dataplanes`);
    const meshParam = url.searchParams.get('mesh') ?? undefined;
    if (name === undefined) {
      const items = inspectDataplanes(sources, meshParam);
      // A proxy that connected to a mesh without a Mesh resource is still shown.
      if (items.length === 0) this.requireMesh(meshParam);
      return send(res, 200, { items, total: items.length });
    }
    const mesh = meshParam ?? 'default';
    if (view === undefined) {
      const row = inspectDataplanes(sources, mesh).find((r) => r.name === name);
      if (!row) throw new HttpError(404, `no proxy "${name}" in mesh "${mesh}" (neither a Dataplane nor a connected proxy)`);
      return send(res, 200, { ...row });
    }
    if (view !== 'config-dump') throw new HttpError(404, `no such path ${url.pathname}; try /api/inspect/dataplanes/${name}/config-dump`);
    const dump = configDump(sources, mesh, name);
    if (!dump) throw new HttpError(404, `no proxy "${name}" in mesh "${mesh}" (neither a Dataplane nor a Gateway nor a connected proxy)`);
    return send(res, 200, { ...dump });
  }

  private async certCheck(req: http.IncomingMessage, res: http.ServerResponse, resources: () => readonly Resource[]): Promise<void> {
    const body = await readBody(req);
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch (err) {
      throw new HttpError(400, `expected a JSON body {"cert": PEM, "route"?: NAME, "mesh"?: MESH}: ${(err as Error).message}`);
    }
    const field = (key: string): string | undefined => {
      const v = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>)[key] : undefined;
      if (v !== undefined && v !== null && typeof v !== 'string') throw new HttpError(400, `${key}: expected a string`);
      return typeof v === 'string' ? v : undefined;
    };
    const cert = field('cert');
    if (cert === undefined) throw new HttpError(400, 'cert: required (the client certificate, PEM)');
    const route = field('route');
    const mesh = field('mesh');
    const request: CertCheckRequest = { cert, ...(route !== undefined ? { route } : {}), ...(mesh !== undefined ? { mesh } : {}) };
    const result = checkCertificateAgainstRoutes(resources(), request);
    if (!result.ok) throw new HttpError(result.status, result.error);
    return send(res, 200, { items: result.items, total: result.items.length });
  }

  private async generateToken(req: http.IncomingMessage, res: http.ServerResponse, tokens: TokenService): Promise<void> {
    const body = await readBody(req);
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch (err) {
      throw new HttpError(400, `expected a JSON body {"name": NAME, "mesh"?: MESH, "validFor"?: "24h"}: ${(err as Error).message}`);
    }
    const issues = new Issues({});
    const o = isPlainObject(doc) ? readObject(doc, '', issues, ['name', 'mesh', 'validFor']) : undefined;
    if (!o) throw new HttpError(400, 'expected a JSON body {"name": NAME, "mesh"?: MESH, "validFor"?: "24h"}');
    const name = readName(o['name'], 'name', issues);
    const mesh = readName(o['mesh'] ?? 'default', 'mesh', issues);
    // A token for a mesh that does not exist would never be accepted by a proxy's mesh: refuse it (as kumactl).
    if (mesh !== undefined) this.requireMesh(mesh);
    const validFor = readString(o['validFor'] ?? '24h', 'validFor', issues);
    const seconds = validFor !== undefined ? parseDuration(validFor) : undefined;
    if (validFor !== undefined && (seconds === undefined || seconds < 1 || seconds > MAX_TOKEN_SECONDS)) {
      issues.error('validFor', `invalid duration ${quoteValue(validFor, 40)}: expected a positive duration up to 10y, such as 24h or 30d`);
    }
    const [problem] = issues.errors;
    if (problem || name === undefined || mesh === undefined || seconds === undefined) throw new HttpError(400, problem ? formatFieldError(problem) : 'invalid token request');
    const token = tokens.sign({ name, mesh, validForSeconds: seconds });
    // Who minted a token for which proxy is worth an audit line; the token itself is a credential and is not logged.
    this.options.log.info({ proxy: name, mesh, validFor }, 'dataplane token generated through the admin API');
    return send(res, 200, { token, name, mesh, validFor });
  }

  private async apply(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const body = await readBody(req);
    const modeParam = url.searchParams.get('mode') ?? 'apply';
    if (modeParam !== 'apply' && modeParam !== 'create' && modeParam !== 'update') throw new HttpError(400, `mode must be apply, create or update, not "${modeParam}"`);
    const mode: ApplyMode = modeParam;
    const dryRun = url.searchParams.get('dryRun') === 'true';
    const contentType = (req.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase();
    const fileName = url.searchParams.get('file') ?? undefined;
    const files = contentType === FILES_CONTENT_TYPE ? parseFilesEnvelope(body) : [{ ...(fileName !== undefined ? { name: fileName } : {}), content: body }];
    // Compare-and-swap for a read-modify-write (route update through several replicas, SPEC §5).
    const ifRevision = url.searchParams.get('ifRevision') ?? undefined;
    const result = await this.options.api.apply({ files, mode, dryRun, ...(ifRevision !== undefined ? { ifRevision } : {}) });
    if (!result.ok) return send(res, result.status, { errors: result.errors, warnings: result.warnings });
    const changed = result.applied.filter((a) => a.outcome !== 'unchanged');
    if (!dryRun && changed.length > 0) this.options.log.info({ resources: changed.map((a) => `${a.type}/${a.mesh ?? ''}/${a.name} ${a.outcome}`) }, 'resources applied through the admin API');
    // SPEC §1: e.g. a certificate that expires within 30 days; the client prints them too.
    if (!dryRun) for (const warning of result.warnings) this.options.log.warn({ source: 'admin API apply' }, warning);
    return send(res, 200, { applied: result.applied, warnings: result.warnings, dryRun: result.dryRun });
  }

  private async serveMetrics(res: http.ServerResponse): Promise<void> {
    if (!this.options.metrics) throw new HttpError(404, 'metrics are not enabled');
    const text = await this.options.metrics.metrics();
    res.writeHead(200, { 'content-type': this.options.metrics.contentType });
    res.end(text);
  }
}

/** Dates as ISO 8601; no key material is part of a status. */
function identityJson(s: IdentityStatus): Json {
  const iso = (d: Date | undefined): string | undefined => d?.toISOString();
  return {
    mesh: s.mesh,
    name: s.name,
    connected: s.connected,
    spiffeIds: [...s.spiffeIds],
    backend: s.backend,
    serial: s.serialHex,
    regeneratedAt: iso(s.regeneratedAt),
    expiration: iso(s.expiration),
    nextRotationAt: iso(s.nextRotationAt),
    regenerations: s.regenerations,
    lastError: s.lastError,
  };
}

function allow(method: string, methods: readonly string[]): void {
  if (!methods.includes(method)) throw new HttpError(405, `method ${method} not allowed here; use ${methods.join(' or ')}`);
}

function parseFilesEnvelope(body: string): ApplyFile[] {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw new HttpError(400, `invalid ${FILES_CONTENT_TYPE} body: ${(err as Error).message}`);
  }
  const files = typeof doc === 'object' && doc !== null && 'files' in doc && Array.isArray(doc.files) ? (doc.files as unknown[]) : undefined;
  if (!files) throw new HttpError(400, `a ${FILES_CONTENT_TYPE} body is {"files":[{"name":…,"content":…}]}`);
  return files.map((f, i): ApplyFile => {
    if (typeof f !== 'object' || f === null || !('content' in f) || typeof f.content !== 'string') throw new HttpError(400, `files[${i}].content: expected a string`);
    const name = 'name' in f && typeof f.name === 'string' ? f.name : undefined;
    return name !== undefined ? { name, content: f.content } : { content: f.content };
  });
}

const TOO_LARGE = `request body larger than ${MAX_BODY_BYTES / (1024 * 1024)} MiB; split the apply into several files or batches`;

async function readBody(req: http.IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, TOO_LARGE);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, TOO_LARGE);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The path's segments, decoded; a malformed URL or percent-encoding is the client's error (400), not a 500. */
function parseRequestUrl(raw: string | undefined): { url: URL; segments: string[] } {
  let url: URL;
  try {
    url = new URL(raw ?? '/', 'http://admin');
  } catch {
    throw new HttpError(400, 'malformed request URL');
  }
  try {
    return { url, segments: url.pathname.split('/').filter((s) => s !== '').map(decodeURIComponent) };
  } catch {
    throw new HttpError(400, `malformed percent-encoding in the URL path ${JSON.stringify(url.pathname.slice(0, 200))}`);
  }
}

function send(res: http.ServerResponse, status: number, body: Json): void {
  if (res.headersSent) return;
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(text);
}

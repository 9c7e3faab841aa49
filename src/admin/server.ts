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
 *   GET    /api/identities[?mesh=M]          workload certificate status per proxy (for `inspect`)
 *   GET    /api/inspect/dataplanes[?mesh=M]  per proxy: stream, xDS and certificate state (`meshcp inspect dataplanes`)
 *   GET    /api/inspect/dataplanes/{name}/config-dump[?mesh=M]
 *                                            what was last sent per type, keys redacted, with its ACK/NACK state
 *   POST   /api/cert-check                   body {cert: PEM, route?, mesh?}: would each Route admit this client certificate
 *
 * `{type}` is singular or plural, case-insensitive. Errors are `{ errors: [string], warnings: [string] }`.
 * With `tls.clientCa` the server is HTTPS and requires a client certificate signed by that CA.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Resource } from '../api/types.js';
import type { IdentityStatus } from '../identity/manager.js';
import type { Logger } from '../runtime/logger.js';
import { checkCertificateAgainstRoutes, type CertCheckRequest } from './cert-check.js';
import { configDump, inspectDataplanes, type InspectSources } from './inspect.js';
import { kindPlural, knownTypeNames, parseKind } from './kinds.js';
import type { ApplyFile, ApplyMode, ResourceApi } from './resource-api.js';

export const FILES_CONTENT_TYPE = 'application/vnd.meshcp.files+json';
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface AdminTlsOptions {
  /** PEM server certificate (chain) and key. */
  readonly cert: string;
  readonly key: string;
  /** PEM CA bundle; when set, clients must present a certificate it signed (mTLS). */
  readonly clientCa?: string;
}

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
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

export class AdminServer {
  private readonly server: http.Server;

  constructor(private readonly options: AdminServerOptions) {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        if (status === 500) options.log.error({ err }, 'admin API request failed');
        const message = err instanceof HttpError ? err.message : 'internal error (see the server log)';
        send(res, status, { errors: [message], warnings: [] });
      });
    };
    this.server = options.tls
      ? https.createServer({ cert: options.tls.cert, key: options.tls.key, ...(options.tls.clientCa !== undefined ? { ca: options.tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}) }, handler)
      : http.createServer(handler);
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
    const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' || host === '' ? '127.0.0.1' : host;
    return { url: `${this.options.tls ? 'https' : 'http'}://${urlHost}:${bound}`, port: bound };
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const method = req.method ?? 'GET';
    const segments = url.pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
    const [first, second, third, ...rest] = segments;
    if (first === 'healthz' && segments.length === 1) return sendText(res, 200, 'ok\n');
    if (first === 'readyz' && segments.length === 1) return this.options.isReady() ? sendText(res, 200, 'ready\n') : sendText(res, 503, 'not ready\n');
    if (first === 'metrics' && segments.length === 1) return this.serveMetrics(res);
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
      const items = this.options.identities.listStatus(url.searchParams.get('mesh') ?? undefined).map(identityJson);
      return send(res, 200, { items, total: items.length });
    }
    const kind = parseKind(second);
    if (kind === undefined) throw new HttpError(404, `unknown resource type "${second}"; known types: ${knownTypeNames().join(', ')}`);
    const meshParam = url.searchParams.get('mesh') ?? undefined;
    if (third === undefined) {
      allow(method, ['GET']);
      const items = this.options.api.list(kind, meshParam);
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
    return send(res, 200, { ...view });
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

  private async apply(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const body = await readBody(req);
    const modeParam = url.searchParams.get('mode') ?? 'apply';
    if (modeParam !== 'apply' && modeParam !== 'create' && modeParam !== 'update') throw new HttpError(400, `mode must be apply, create or update, not "${modeParam}"`);
    const mode: ApplyMode = modeParam;
    const dryRun = url.searchParams.get('dryRun') === 'true';
    const contentType = (req.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase();
    const fileName = url.searchParams.get('file') ?? undefined;
    const files = contentType === FILES_CONTENT_TYPE ? parseFilesEnvelope(body) : [{ ...(fileName !== undefined ? { name: fileName } : {}), content: body }];
    const result = await this.options.api.apply({ files, mode, dryRun });
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

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
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

export function splitHostPort(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid address "${address}": expected HOST:PORT`);
  return { host: match[1] ?? match[2] ?? '', port };
}

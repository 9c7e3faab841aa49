/**
 * The admin API's routes that take a request body or a view of their own: apply, cert-check, token
 * generation, identities and inspect. Routing (server.ts) picks one; each reads its request, checks
 * it, and answers JSON, with an `HttpError` for the client's mistakes.
 */
import type http from 'node:http';
import { parseDuration } from '../api/duration.js';
import { formatFieldError } from '../api/errors.js';
import { isPlainObject, Issues, quoteValue, readName, readObject, readString } from '../api/fields.js';
import type { Resource } from '../api/types.js';
import type { TokenService } from '../auth/token-api.js';
import type { IdentityStatus } from '../identity/manager.js';
import type { Logger } from '../log/logger.js';
import { checkCertificateAgainstRoutes, type CertCheckRequest } from './cert-check.js';
import { HttpError } from './http-error.js';
import { FILES_CONTENT_TYPE, readBody, readJsonBody, send, type Json } from './http-io.js';
import { configDump, inspectDataplanes, type InspectSources } from './inspect.js';
import type { ApplyFile, ApplyMode, ResourceApi } from './resource-api.js';

/** The longest token lifetime the API signs: a leaked token is valid until it expires or is revoked (`meshcp token revoke`). */
const MAX_TOKEN_SECONDS = 10 * 365 * 86_400;

/** 404 naming the nearest mesh when the mesh given does not exist; nothing when none is given. */
export type RequireMesh = (mesh: string | undefined) => void;

/** `POST|PUT /api/apply[?mode=…][&dryRun=true][&file=NAME][&ifRevision=R]`. */
export async function applyRequest(req: http.IncomingMessage, res: http.ServerResponse, url: URL, api: ResourceApi, log: Logger): Promise<void> {
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
  const result = await api.apply({ files, mode, dryRun, ...(ifRevision !== undefined ? { ifRevision } : {}) });
  if (!result.ok) return send(res, result.status, { errors: result.errors, warnings: result.warnings });
  const changed = result.applied.filter((a) => a.outcome !== 'unchanged');
  if (!dryRun && changed.length > 0) log.info({ resources: changed.map((a) => `${a.type}/${a.mesh ?? ''}/${a.name} ${a.outcome}`) }, 'resources applied through the admin API');
  // SPEC §1: e.g. a certificate that expires within 30 days; the client prints them too.
  if (!dryRun) for (const warning of result.warnings) log.warn({ source: 'admin API apply' }, warning);
  return send(res, 200, { applied: result.applied, warnings: result.warnings, dryRun: result.dryRun });
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

/** `POST /api/cert-check` {cert, route?, mesh?}: would each Route admit this client certificate. */
export async function certCheckRequest(req: http.IncomingMessage, res: http.ServerResponse, resources: () => readonly Resource[]): Promise<void> {
  const doc = await readJsonBody(req, '{"cert": PEM, "route"?: NAME, "mesh"?: MESH}');
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

/** `POST /api/tokens` {name, mesh?, validFor?}: a dataplane token signed with the server's key. */
export async function generateTokenRequest(req: http.IncomingMessage, res: http.ServerResponse, tokens: TokenService, requireMesh: RequireMesh, log: Logger): Promise<void> {
  const shape = '{"name": NAME, "mesh"?: MESH, "validFor"?: "24h"}';
  const doc = await readJsonBody(req, shape);
  const issues = new Issues({});
  const o = isPlainObject(doc) ? readObject(doc, '', issues, ['name', 'mesh', 'validFor']) : undefined;
  if (!o) throw new HttpError(400, `expected a JSON body ${shape}`);
  const name = readName(o['name'], 'name', issues);
  const mesh = readName(o['mesh'] ?? 'default', 'mesh', issues);
  // A token for a mesh that does not exist would never be accepted by a proxy's mesh: refuse it (as kumactl).
  if (mesh !== undefined) requireMesh(mesh);
  const validFor = readString(o['validFor'] ?? '24h', 'validFor', issues);
  const seconds = validFor !== undefined ? parseDuration(validFor) : undefined;
  if (validFor !== undefined && (seconds === undefined || seconds < 1 || seconds > MAX_TOKEN_SECONDS)) {
    issues.error('validFor', `invalid duration ${quoteValue(validFor, 40)}: expected a positive duration up to 10y, such as 24h or 30d`);
  }
  const [problem] = issues.errors;
  if (problem || name === undefined || mesh === undefined || seconds === undefined) throw new HttpError(400, problem ? formatFieldError(problem) : 'invalid token request');
  const token = tokens.sign({ name, mesh, validForSeconds: seconds });
  // Who minted a token for which proxy is worth an audit line; the token itself is a credential and is not logged.
  log.info({ proxy: name, mesh, validFor }, 'dataplane token generated through the admin API');
  return send(res, 200, { token, name, mesh, validFor });
}

/** `GET /api/inspect/dataplanes[/{name}[/config-dump]][?mesh=M]`; `path` is what follows `/api/inspect/`. */
export function inspectRequest(path: readonly string[], url: URL, res: http.ServerResponse, sources: InspectSources, requireMesh: RequireMesh): void {
  const [what, name, view, ...extra] = path;
  if ((what !== 'dataplanes' && what !== 'dataplane') || extra.length > 0) throw new HttpError(404, `no such path ${url.pathname}; see /api/inspect/dataplanes`);
  const meshParam = url.searchParams.get('mesh') ?? undefined;
  if (name === undefined) {
    const items = inspectDataplanes(sources, meshParam);
    // A proxy that connected to a mesh without a Mesh resource is still shown.
    if (items.length === 0) requireMesh(meshParam);
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

/** `GET /api/identities[?mesh=M][&name=N]`: workload certificate status per proxy. */
export function identitiesRequest(url: URL, res: http.ServerResponse, identities: { listStatus(mesh?: string): IdentityStatus[] }): void {
  const name = url.searchParams.get('name') ?? undefined;
  const items = identities.listStatus(url.searchParams.get('mesh') ?? undefined).filter((s) => name === undefined || s.name === name).map(identityJson);
  return send(res, 200, { items, total: items.length });
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

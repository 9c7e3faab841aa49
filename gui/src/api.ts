/**
 * The admin API as the GUI reads it: the same views the CLI reads (`meshcp inspect`, `get`,
 * `cert check`), typed by the server's own view types. GET only, except `cert check`, which is a
 * read that carries a certificate in its body.
 */
import type { DataplaneInspection, ConfigDump } from '../../src/admin/inspect.js';
import type { MeshOverview } from '../../src/admin/mesh-overview.js';
import type { ServiceGraph, DataplanePermissions } from '../../src/admin/service-graph.js';
import type { GatewayView, SecretView } from '../../src/admin/gateway-views.js';
import type { CertCheckVerdict } from '../../src/admin/cert-check.js';
import type { LiveBatch, LiveEvent } from '../../src/admin/live-events.js';

export type { DataplaneInspection, ConfigDump, MeshOverview, ServiceGraph, DataplanePermissions, GatewayView, SecretView, CertCheckVerdict, LiveBatch, LiveEvent };

/** `/api/identities` items (admin/server.ts identityJson). */
export interface IdentityJson {
  readonly mesh: string;
  readonly name: string;
  readonly connected: boolean;
  readonly spiffeIds: readonly string[];
  readonly backend?: string;
  readonly serial?: string;
  readonly regeneratedAt?: string;
  readonly expiration?: string;
  readonly nextRotationAt?: string;
  readonly regenerations: number;
  readonly lastError?: string;
}

export interface List<T> {
  readonly items: readonly T[];
  readonly total: number;
}

export interface MeshesResponse extends List<MeshOverview> {
  readonly generatedAt: string;
  readonly adminApi: { readonly mtls: boolean; readonly clientCertificate?: string };
}

/** unreachable: no HTTP answer at all (server down, TLS refused); http: an answer with an error status. */
export type ApiError = { readonly kind: 'unreachable'; readonly message: string } | { readonly kind: 'http'; readonly status: number; readonly message: string };

export class ApiFailure extends Error {
  constructor(readonly error: ApiError) {
    super(error.message);
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { errors?: unknown };
    if (Array.isArray(body.errors) && typeof body.errors[0] === 'string') message = body.errors[0];
  } catch {
    // not JSON: keep the status line
  }
  return { kind: 'http', status: res.status, message };
}

async function request<T>(path: string, init: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { ...init, credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json', ...init.headers } });
  } catch (err) {
    throw new ApiFailure({ kind: 'unreachable', message: err instanceof Error ? err.message : String(err) });
  }
  if (!res.ok) throw new ApiFailure(await errorOf(res));
  return (await res.json()) as T;
}

export function getJson<T>(path: string): Promise<T> {
  return request<T>(path, { method: 'GET' });
}

/** `meshcp cert check` (POST /api/cert-check): the certificate goes in the body, never in the URL, and is not kept. */
export function certCheck(cert: string, route?: string): Promise<List<CertCheckVerdict>> {
  return request<List<CertCheckVerdict>>('/api/cert-check', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ cert, ...(route ? { route } : {}) }),
  });
}

/** A query string from the set values. */
export function query(params: Readonly<Record<string, string | undefined>>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

export function proxyPath(mesh: string, name: string, view?: string): string {
  return `/api/inspect/dataplanes/${encodeURIComponent(name)}${view ? `/${view}` : ''}${query({ mesh })}`;
}

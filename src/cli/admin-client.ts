/**
 * The CLI's side of the admin API (admin/server.ts): `--server URL`, and for an admin API that
 * requires mTLS, `--ca-cert`, `--client-cert`, `--client-key`.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Command } from 'commander';
import type { ResourceKind } from '../api/types.js';
import { kindPlural } from '../admin/kinds.js';
import { fileFlagError } from './flag-errors.js';
import { CliError, type ViewJson } from './output.js';

/** An error answer of the admin API, with its HTTP status (409: a compare-and-swap lost, retry). */
export class AdminApiError extends CliError {
  constructor(
    lines: readonly string[],
    readonly status: number,
  ) {
    super(lines);
  }
}

export const DEFAULT_SERVER = 'http://127.0.0.1:5681';
const FILES_CONTENT_TYPE = 'application/vnd.meshcp.files+json';

export interface ServerOptions {
  readonly server: string;
  readonly caCert?: string;
  readonly clientCert?: string;
  readonly clientKey?: string;
}

export function addServerOptions(command: Command): Command {
  return command
    .option('--server <url>', 'meshcp admin API (env MESHCP_SERVER)', process.env['MESHCP_SERVER'] ?? DEFAULT_SERVER)
    // The TLS files beside MESHCP_SERVER, so a shell set up once talks to an mTLS admin API.
    .option('--ca-cert <file>', 'CA certificate that signed the admin API server certificate (https) (env MESHCP_CA_CERT)', process.env['MESHCP_CA_CERT'] || undefined)
    .option('--client-cert <file>', 'client certificate for an admin API that requires mTLS (env MESHCP_CLIENT_CERT)', process.env['MESHCP_CLIENT_CERT'] || undefined)
    .option('--client-key <file>', 'key of --client-cert (env MESHCP_CLIENT_KEY)', process.env['MESHCP_CLIENT_KEY'] || undefined);
}

export interface AppliedJson {
  readonly type: string;
  readonly mesh?: string;
  readonly name: string;
  readonly outcome: string;
}

export interface ApplyFileJson {
  readonly name?: string;
  readonly content: string;
}

interface Response {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
}

function readPemOption(file: string | undefined, flag: string): string | undefined {
  if (file === undefined) return undefined;
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError([fileFlagError(flag, file, err).message]);
  }
}

function queryString(query: Readonly<Record<string, string | undefined>>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, v);
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

export class AdminClient {
  private readonly base: URL;
  private readonly tls: https.RequestOptions;

  constructor(options: ServerOptions) {
    try {
      this.base = new URL(options.server);
    } catch {
      throw new CliError([`--server: invalid URL "${options.server}" (e.g. ${DEFAULT_SERVER})`]);
    }
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new CliError([`--server: expected an http:// or https:// URL, got "${options.server}"`]);
    const ca = readPemOption(options.caCert, '--ca-cert');
    const cert = readPemOption(options.clientCert, '--client-cert');
    const key = readPemOption(options.clientKey, '--client-key');
    if ((cert === undefined) !== (key === undefined)) throw new CliError(['--client-cert and --client-key go together']);
    this.tls = { ...(ca !== undefined ? { ca } : {}), ...(cert !== undefined ? { cert } : {}), ...(key !== undefined ? { key } : {}) };
  }

  async list(kind: ResourceKind, mesh?: string): Promise<ViewJson[]> {
    const query = mesh !== undefined ? `?mesh=${encodeURIComponent(mesh)}` : '';
    const res = await this.request('GET', `/api/${kindPlural(kind)}${query}`);
    this.check(res);
    const items = res.body['items'];
    return Array.isArray(items) ? (items as ViewJson[]) : [];
  }

  async get(kind: ResourceKind, name: string, mesh: string): Promise<ViewJson | undefined> {
    const res = await this.request('GET', `/api/${kindPlural(kind)}/${encodeURIComponent(name)}?mesh=${encodeURIComponent(mesh)}`);
    if (res.status === 404) return undefined;
    this.check(res);
    return res.body as unknown as ViewJson;
  }

  async apply(files: readonly ApplyFileJson[], options: { mode?: 'apply' | 'create' | 'update'; dryRun?: boolean; ifRevision?: string } = {}): Promise<{ applied: AppliedJson[]; warnings: string[] }> {
    const params = new URLSearchParams();
    if (options.mode && options.mode !== 'apply') params.set('mode', options.mode);
    if (options.ifRevision !== undefined) params.set('ifRevision', options.ifRevision);
    if (options.dryRun) params.set('dryRun', 'true');
    const query = params.toString() !== '' ? `?${params.toString()}` : '';
    const res = await this.request('POST', `/api/apply${query}`, { contentType: FILES_CONTENT_TYPE, text: JSON.stringify({ files }) });
    this.check(res);
    const applied = Array.isArray(res.body['applied']) ? (res.body['applied'] as AppliedJson[]) : [];
    return { applied, warnings: stringList(res.body['warnings']) };
  }

  async delete(kind: ResourceKind, name: string, mesh: string): Promise<{ warnings: string[] }> {
    const res = await this.request('DELETE', `/api/${kindPlural(kind)}/${encodeURIComponent(name)}?mesh=${encodeURIComponent(mesh)}`);
    this.check(res);
    return { warnings: stringList(res.body['warnings']) };
  }

  /** GET a JSON document from the admin API; the API's errors are thrown as a CliError. */
  async getJson(path: string, query: Readonly<Record<string, string | undefined>> = {}): Promise<Record<string, unknown>> {
    const res = await this.request('GET', `${path}${queryString(query)}`);
    this.check(res);
    return res.body;
  }

  /** POST a JSON body to the admin API. */
  async postJson(path: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await this.request('POST', path, { contentType: 'application/json', text: JSON.stringify(body) });
    this.check(res);
    return res.body;
  }

  async deleteJson(path: string): Promise<Record<string, unknown>> {
    const res = await this.request('DELETE', path);
    this.check(res);
    return res.body;
  }

  /** Throws the API's errors, one line each. */
  private check(res: Response): void {
    if (res.status >= 200 && res.status < 300) return;
    const errors = stringList(res.body['errors']);
    throw new AdminApiError(errors.length > 0 ? errors : [`admin API answered HTTP ${res.status}`], res.status);
  }

  private request(method: string, path: string, body?: { contentType: string; text: string }): Promise<Response> {
    const url = new URL(path, this.base);
    const transport = url.protocol === 'https:' ? https : http;
    const headers: http.OutgoingHttpHeaders = { accept: 'application/json' };
    if (body) {
      headers['content-type'] = body.contentType;
      headers['content-length'] = Buffer.byteLength(body.text);
    }
    return new Promise<Response>((resolve, reject) => {
      const req = transport.request(url, { method, headers, ...(url.protocol === 'https:' ? this.tls : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = { errors: [`admin API answered HTTP ${res.statusCode ?? 0}: ${text.trim().split('\n', 1)[0] ?? ''}`] };
          }
          const json = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
          resolve({ status: res.statusCode ?? 0, body: json });
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        reject(new CliError([`cannot reach the meshcp admin API at ${this.base.origin}: ${err.code ?? err.message} (is \`meshcp serve\` running? set --server)`]));
      });
      req.end(body?.text);
    });
  }
}

/**
 * The CLI's side of the admin API (admin/server.ts): `--server URL`, and for an admin API that
 * requires mTLS, `--admin-ca-cert`, `--client-cert`, `--client-key`. A failed connection says
 * which TLS problem it is and which flag fixes it (admin-connect-errors.ts).
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Option, type Command } from 'commander';
import type { ResourceKind } from '../api/types.js';
import { kindPlural } from '../admin/kinds.js';
import { FILES_CONTENT_TYPE } from '../admin/http-io.js';
import { describeAdminConnectError } from './admin-connect-errors.js';
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
/** How the admin API words an unknown mesh (api/mesh-existence.ts). */
const UNKNOWN_MESH = /^mesh ".*" not found/;

export interface ServerOptions {
  readonly server: string;
  /** The CA of the admin API's HTTPS certificate. */
  readonly adminCaCert?: string;
  /** The same, under its old name (deprecated: `--ca-cert` means the xDS CA on `bootstrap` and `agent`). */
  readonly caCert?: string;
  readonly clientCert?: string;
  readonly clientKey?: string;
}

function envValue(...names: string[]): string | undefined {
  for (const name of names) {
    const value = process.env[name];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/**
 * The admin API flags of every client command. `--ca-cert` stays a hidden, deprecated alias of
 * `--admin-ca-cert` (it was documented for get/apply, while `bootstrap` and `agent` use it for the
 * xDS CA): it still works, with a warning naming the new flag.
 */
export function addServerOptions(command: Command): Command {
  command
    .option('--server <url>', 'meshcp admin API (env MESHCP_SERVER)', process.env['MESHCP_SERVER'] ?? DEFAULT_SERVER)
    .option('--admin-ca-cert <file>', 'CA certificate that signed the admin API server certificate (https) (env MESHCP_ADMIN_CA_CERT, or MESHCP_CA_CERT)', envValue('MESHCP_ADMIN_CA_CERT', 'MESHCP_CA_CERT'))
    .option('--client-cert <file>', 'client certificate for an admin API that requires mTLS (env MESHCP_CLIENT_CERT)', envValue('MESHCP_CLIENT_CERT'))
    .option('--client-key <file>', 'key of --client-cert (env MESHCP_CLIENT_KEY)', envValue('MESHCP_CLIENT_KEY'));
  if (!command.options.some((o) => o.long === '--ca-cert')) {
    command.addOption(new Option('--ca-cert <file>', 'deprecated: --admin-ca-cert').hideHelp());
    command.hook('preAction', (_hooked, action) => warnDeprecatedCaCert(action));
  }
  return command;
}

function warnDeprecatedCaCert(command: Command): void {
  if (command.getOptionValueSource('caCert') !== 'cli') return;
  const value = command.getOptionValue('caCert') as string;
  if (command.getOptionValueSource('adminCaCert') === 'cli' && command.getOptionValue('adminCaCert') !== value) {
    throw new CliError([`--ca-cert ${value} and --admin-ca-cert ${String(command.getOptionValue('adminCaCert'))} disagree: give --admin-ca-cert only (--ca-cert is its deprecated name)`]);
  }
  command.setOptionValueWithSource('adminCaCert', value, 'cli');
  command.configureOutput().writeErr?.(`Warning: --ca-cert is deprecated for the admin API: use --admin-ca-cert (on \`bootstrap\` and \`agent\`, the xDS CA is --xds-ca-cert)\n`);
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
  /** The body as sent (a PEM document is not JSON). */
  readonly text: string;
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
  /** Gives up on a request idle this long (shell completion must not hang on a TAB); none by default. */
  private readonly timeoutMs: number | undefined;

  constructor(options: ServerOptions, limits: { readonly timeoutMs?: number } = {}) {
    this.timeoutMs = limits.timeoutMs;
    try {
      this.base = new URL(options.server);
    } catch {
      throw new CliError([`--server: invalid URL "${options.server}" (e.g. ${DEFAULT_SERVER})`]);
    }
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new CliError([`--server: expected an http:// or https:// URL, got "${options.server}"`]);
    const ca = readPemOption(options.adminCaCert ?? options.caCert, '--admin-ca-cert');
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
    // 404 for the resource is "not found"; 404 for its mesh is the user's typo, said as the API says it.
    if (res.status === 404 && !stringList(res.body['errors']).some((e) => UNKNOWN_MESH.test(e))) return undefined;
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

  /** GET a text document (a PEM certificate) from the admin API; the API's errors are thrown as a CliError. */
  async getText(path: string): Promise<string> {
    const res = await this.request('GET', path);
    this.check(res);
    return res.text;
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
      const timeout = this.timeoutMs !== undefined ? { timeout: this.timeoutMs } : {};
      const req = transport.request(url, { method, headers, ...timeout, ...(url.protocol === 'https:' ? this.tls : {}) }, (res) => {
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
          resolve({ status: res.statusCode ?? 0, body: json, text });
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs ?? 0} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => {
        describeAdminConnectError(this.base, err, { trustsCa: this.tls.ca !== undefined, hasClientCertificate: this.tls.cert !== undefined }).then(
          (line) => reject(new CliError([line])),
          () => reject(new CliError([`cannot reach the meshcp admin API at ${this.base.origin}: ${err.code ?? err.message}`])),
        );
      });
      req.end(body?.text);
    });
  }
}

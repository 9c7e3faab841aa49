/**
 * CLI output: where it goes (injectable, so tests run commands in process), tables in the
 * kubectl / kumactl style, and YAML / JSON that `meshcp apply -f` takes back.
 */
import YAML from 'yaml';
import { SERVICE_TAG } from '../api/tags.js';
import type { ResourceKind } from '../api/types.js';
import { EXPIRY_WARNING_DAYS } from '../ca/validity.js';
import { fitRows } from './table-fit.js';

export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly stdin: AsyncIterable<Buffer | string>;
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
}

/** An error the CLI prints as is, one `Error: …` line per entry, and exits non-zero. */
export class CliError extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
  }
}

export type OutputFormat = 'table' | 'yaml' | 'json';

export function parseOutputFormat(value: string, allowed: readonly OutputFormat[] = ['table', 'yaml', 'json']): OutputFormat {
  const found = allowed.find((f) => f === value.toLowerCase());
  if (found === undefined) throw new CliError([`--output must be one of ${allowed.join(', ')}, not "${value}"`]);
  return found;
}

/** Columns padded to the widest cell, three spaces apart (kubectl). */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** kubectl-style age: 45s, 12m, 5h, 3d, 2y. */
export function formatAge(iso: string | undefined, now: Date): string {
  if (iso === undefined) return '-';
  const seconds = Math.max(0, Math.floor((now.getTime() - Date.parse(iso)) / 1000));
  if (!Number.isFinite(seconds)) return '-';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 2 * 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 2 * 86400) return `${Math.floor(seconds / 3600)}h`;
  if (seconds < 2 * 365 * 86400) return `${Math.floor(seconds / 86400)}d`;
  return `${Math.floor(seconds / (365 * 86400))}y`;
}

/** A resource as the admin API returns it (admin/views.ts), read defensively at the boundary. */
export interface ViewJson {
  readonly resource: Record<string, unknown>;
  readonly origin?: string;
  readonly creationTime?: string;
  /** Present with the etcd store: pass it back as `ifRevision` to apply only over what was read. */
  readonly revision?: string;
  readonly secret?: { readonly fingerprintSha256?: string; readonly notAfter?: string; readonly expiresInDays?: number; readonly subject?: string; readonly certificates?: number };
  /** Proxies refusing (NACKing) config generated from this resource. */
  readonly nacks?: readonly { readonly proxy: string; readonly mesh: string; readonly type: string; readonly error: string; readonly hint?: string }[];
  /** Held at its last good version: it no longer validates although it did not change. */
  readonly pinned?: { readonly errors?: readonly string[]; readonly since?: string };
}

/**
 * After a `get` table: one line per proxy that refuses config generated from a listed resource,
 * with its error, so a NACK shows on the Route, Mesh, Service or Secret that caused it.
 */
export function nackLines(views: readonly ViewJson[]): string {
  const lines: string[] = [];
  for (const v of views) {
    const label = `${str(v.resource['type'])}/${str(v.resource['name'])}`;
    for (const error of v.pinned?.errors ?? []) lines.push(`PINNED: ${label}: served at its last good version since ${str(v.pinned?.since)}: ${error.replace(/\s*\n\s*/g, ' ')}`);
    for (const n of v.nacks ?? []) {
      lines.push(`NACK: ${label}: proxy ${n.proxy} (mesh ${n.mesh}) refused its ${n.type}: ${n.error.replace(/\s*\n\s*/g, ' ')}`);
      if (n.hint !== undefined) lines.push(`  hint: ${n.hint.replace(/\s*\n\s*/g, ' ')}`);
    }
  }
  return lines.map((l) => `${escapeUnprintable(l)}\n`).join('');
}

/**
 * Characters a proxy's text (a NACK's error_detail) must not bring raw to the terminal: C0 and C1
 * controls and DEL (ESC and CSI start escape sequences), the Unicode line and paragraph separators
 * that break a line, and the bidi embeddings, overrides and isolates that reorder it
 * (https://unicode.org/reports/tr9/, CVE-2021-42574 "Trojan Source"). Shown as `\uXXXX`.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeWith(pattern: RegExp, text: string): string {
  return text.replace(pattern, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function escapeUnprintable(text: string): string {
  return escapeWith(UNPRINTABLE, text);
}

/**
 * What JSON.stringify and YAML leave raw inside strings of the UNPRINTABLE characters: DEL, C1, the
 * separators and the bidi characters (both escape C0 controls themselves; their own line breaks
 * are structure, not text).
 */
const RAW_IN_DOCUMENTS = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `value` as JSON or YAML that reads back to the same value and holds none of UNPRINTABLE raw.
 * Those characters only occur inside strings, where `\uXXXX` is the same character in JSON and in
 * YAML's double-quoted scalars; strings holding one are written double-quoted.
 */
export function printableDocument(value: unknown, format: 'yaml' | 'json'): string {
  if (format === 'json') return escapeWith(RAW_IN_DOCUMENTS, `${JSON.stringify(value, null, 2)}\n`);
  const doc = new YAML.Document(value);
  const unsafe = new RegExp(RAW_IN_DOCUMENTS.source);
  YAML.visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && unsafe.test(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  return escapeWith(RAW_IN_DOCUMENTS, doc.toString({ lineWidth: 0 }));
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);
}

function list(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null) : [];
}

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function orDash(s: string): string {
  return s === '' ? '-' : s;
}

function expires(secret: ViewJson['secret']): string {
  if (!secret?.notAfter) return '-';
  const days = secret.expiresInDays ?? 0;
  const date = secret.notAfter.slice(0, 10);
  if (days < 0) return `${date} (expired)`;
  // SPEC §1: a certificate that expires within 30 days gives a warning; `get` flags it too.
  return days < EXPIRY_WARNING_DAYS ? `${date} (${days}d) (!)` : `${date} (${days}d)`;
}

function selectors(v: unknown): string {
  return list(v)
    .map((s) =>
      Object.entries(obj(s['match']))
        .map(([k, value]) => `${k}=${str(value)}`)
        .join(','),
    )
    .join(' ');
}

type Column = readonly [header: string, cell: (v: ViewJson) => string];

/** The backend `mtls.enabledBackend` names, when mTLS is on. */
function enabledBackend(v: ViewJson): Record<string, unknown> | undefined {
  const mtls = obj(v.resource['mtls']);
  const name = str(mtls['enabledBackend']);
  return name === '' ? undefined : list(mtls['backends']).find((b) => b['name'] === name);
}

const MESH: Column = ['MESH', (v) => str(v.resource['mesh'])];
const NAME: Column = ['NAME', (v) => str(v.resource['name'])];

const COLUMNS: Readonly<Record<ResourceKind, readonly Column[]>> = {
  // As `kumactl get meshes`: MTLS is TYPE/BACKEND of the enabled backend, or off; MODE is its STRICT or PERMISSIVE.
  Mesh: [
    NAME,
    ['MTLS', (v) => { const b = enabledBackend(v); return b ? `${str(b['type'])}/${str(b['name'])}` : 'off'; }],
    ['MODE', (v) => { const b = enabledBackend(v); return b ? (str(b['mode']) || 'STRICT') : '-'; }],
    ['BACKENDS', (v) => orDash(list(obj(v.resource['mtls'])['backends']).map((b) => `${str(b['name'])}(${str(b['type'])})`).join(','))],
  ],
  Dataplane: [
    MESH,
    NAME,
    ['ADDRESS', (v) => str(obj(v.resource['networking'])['address'])],
    ['SERVICES', (v) => orDash(list(obj(v.resource['networking'])['inbound']).map((i) => str(obj(i['tags'])[SERVICE_TAG])).join(','))],
  ],
  Service: [
    MESH,
    NAME,
    ['ENDPOINTS', (v) => orDash(list(v.resource['endpoints']).map((e) => `${str(e['address'])}:${str(e['port'])}`).join(','))],
    ['TLS', (v) => (v.resource['tls'] !== undefined ? 'yes' : 'no')],
  ],
  Secret: [MESH, NAME, ['TYPE', (v) => str(v.resource['secretType'])], ['FINGERPRINT', (v) => orDash(v.secret?.fingerprintSha256 ?? '')], ['EXPIRES', (v) => expires(v.secret)]],
  Gateway: [MESH, NAME, ['PORTS', (v) => orDash(list(v.resource['listeners']).map((l) => str(l['port'])).join(','))]],
  Route: [
    MESH,
    NAME,
    ['GATEWAY', (v) => orDash(str(v.resource['gateway']))],
    ['HOST', (v) => str(v.resource['host'])],
    ['CLIENT CA', (v) => orDash(str(obj(obj(v.resource['tls'])['clientValidationCa'])['name']))],
    ['SERVER CERT', (v) => orDash(str(obj(obj(v.resource['tls'])['serverCertificate'])['name']))],
    ['PATHS', (v) => list(v.resource['routes']).map((r) => `${str(r['prefix'])}=${str(obj(r['route'])['service'])}`).join(',')],
  ],
  TrafficPermission: [MESH, NAME, ['SOURCES', (v) => selectors(v.resource['sources'])], ['DESTINATIONS', (v) => selectors(v.resource['destinations'])]],
};

/** Fits 120 columns unless `wide` (`-o wide`): see table-fit.ts. */
export function resourceTable(kind: ResourceKind, views: readonly ViewJson[], now: Date, options: { wide?: boolean } = {}): string {
  const columns: readonly Column[] = [...COLUMNS[kind], ['AGE', (v) => formatAge(v.creationTime, now)]];
  const headers = columns.map(([h]) => h);
  const rows = views.map((v) => columns.map(([, cell]) => cell(v)));
  return renderTable(headers, options.wide ? rows : fitRows(headers, rows));
}

/** The document `apply -f` takes back; a secret shows its certificate summary instead of its PEM. */
export function outputDocument(view: ViewJson): Record<string, unknown> {
  return view.secret ? { ...view.resource, ...view.secret } : view.resource;
}

export function formatDocuments(views: readonly ViewJson[], format: 'yaml' | 'json', single: boolean): string {
  const docs = views.map(outputDocument);
  if (format === 'json') return `${JSON.stringify(single ? docs[0] : docs, null, 2)}\n`;
  return docs.map((d) => YAML.stringify(d)).join('---\n');
}

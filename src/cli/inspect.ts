/**
 * `meshcp inspect dataplanes` and `meshcp inspect dataplane NAME [--config-dump]` (SPEC §3, Kuma's
 * `kumactl inspect dataplanes`): thin clients of `/api/inspect/...` (admin/inspect.ts).
 */
import type { Command } from 'commander';
import { AdminClient, addServerOptions, type ServerOptions } from './admin-client.js';
import { CliError, formatAge, parseOutputFormat, printableDocument, renderTable, type CliIo } from './output.js';
import { fitRows } from './table-fit.js';

/** `-o wide`: Kuma's columns (`kumactl inspect dataplanes`), in this order, every cell whole. */
export const INSPECT_DATAPLANES_COLUMNS = [
  'MESH',
  'NAME',
  'TAGS',
  'STATUS',
  'LAST CONNECTED AGO',
  'LAST UPDATED AGO',
  'TOTAL UPDATES',
  'TOTAL ERRORS',
  'CERT REGENERATED AGO',
  'CERT EXPIRATION',
  'CERT REGENERATIONS',
] as const;

/** The default table: fewer and shorter columns, cut to 120 characters (as `kubectl get`); `-o wide` has them all. */
export const INSPECT_DATAPLANES_SHORT_COLUMNS = ['MESH', 'NAME', 'TAGS', 'STATUS', 'CONNECTED', 'UPDATED', 'UPDATES', 'ERRORS', 'CERT EXPIRES'] as const;

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

function items(v: unknown): Json[] {
  return Array.isArray(v) ? v.map(obj) : [];
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

function orDash(v: string | undefined): string {
  return v === undefined || v === '' ? '-' : v;
}

/** `2025-01-31 12:00:00` (UTC): the expiry moment, not an age. */
export function formatInstant(iso: string | undefined): string {
  if (iso === undefined || Number.isNaN(Date.parse(iso))) return '-';
  return new Date(iso).toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * Table cells come from proxies (node ids, NACK messages): control characters are shown escaped,
 * never written raw, so a name cannot drive the terminal (ANSI escapes).
 * The server refuses such node ids already; this is defence in depth.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function printableCell(value: string): string {
  return value.replace(CONTROL, (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`);
}

function printableRows(rows: string[][]): string[][] {
  return rows.map((cells) => cells.map(printableCell));
}

/** `2d`, `5h`, `expired`: how long until `iso`, for the short table. */
function formatUntil(iso: string | undefined, now: Date): string {
  if (iso === undefined || Number.isNaN(Date.parse(iso))) return '-';
  if (Date.parse(iso) <= now.getTime()) return 'expired';
  return formatAge(now.toISOString(), new Date(Date.parse(iso)));
}

/** Kuma's columns with `wide`; otherwise the short columns, fitted to 120 characters. */
export function inspectTable(rows: readonly Json[], now: Date, options: { wide?: boolean } = {}): string {
  const cells = rows.map((r) => {
    const cert = r['certificate'] === undefined ? undefined : obj(r['certificate']);
    return {
      mesh: orDash(text(r['mesh'])),
      name: orDash(text(r['name'])),
      tags: orDash(text(r['tags'])),
      status: orDash(text(r['status'])),
      connected: formatAge(text(r['lastConnected']), now),
      updated: formatAge(text(r['lastUpdated']), now),
      updates: text(r['totalUpdates']) ?? '0',
      errors: text(r['totalErrors']) ?? '0',
      cert,
    };
  });
  if (options.wide) {
    return renderTable(
      INSPECT_DATAPLANES_COLUMNS,
      printableRows(cells.map((c) => [
        c.mesh, c.name, c.tags, c.status, c.connected, c.updated, c.updates, c.errors,
        c.cert ? formatAge(text(c.cert['regeneratedAt']), now) : '-',
        c.cert ? formatInstant(text(c.cert['expiration'])) : '-',
        c.cert ? (text(c.cert['regenerations']) ?? '0') : '-',
      ])),
    );
  }
  const rowsShort = printableRows(cells.map((c) => [c.mesh, c.name, c.tags, c.status, c.connected, c.updated, c.updates, c.errors, c.cert ? formatUntil(text(c.cert['expiration']), now) : '-']));
  return renderTable(INSPECT_DATAPLANES_SHORT_COLUMNS, fitRows(INSPECT_DATAPLANES_SHORT_COLUMNS, rowsShort));
}

/** Per type: the ACK/NACK state (the resources are in the yaml / json output), then per NACK the user resources it came from and a hint for a known client limitation. */
export function configDumpTable(dump: Json): string {
  const hints = items(dump['types']).flatMap((t) => {
    const hint = text(t['hint']);
    const causes = Array.isArray(t['causedBy']) ? (t['causedBy'] as unknown[]).map(String) : [];
    return [
      ...(causes.length > 0 ? [`${printableCell(`caused by (${text(t['type']) ?? '?'}): ${causes.join(', ')}`)}\n`] : []),
      ...(hint !== undefined ? [`${printableCell(`hint (${text(t['type']) ?? '?'}): ${hint.replace(/\s*\n\s*/g, ' ')}`)}\n`] : []),
    ];
  });
  return renderTable(
    ['TYPE', 'STATE', 'SENT VERSION', 'ACKED VERSION', 'UPDATES', 'NACKS', 'RESOURCES', 'LAST ERROR'],
    printableRows(items(dump['types']).map((t) => [
      orDash(text(t['type'])),
      orDash(text(t['state'])),
      orDash(text(t['lastSentVersion'])),
      orDash(text(t['lastAckedVersion'])),
      text(t['totalUpdates']) ?? '0',
      text(t['nackCount']) ?? '0',
      String(items(t['resources']).length),
      orDash(text(t['lastError'])?.replace(/\s*\n\s*/g, ' ')),
    ])),
  ) + hints.join('');
}

/**
 * Under `inspect dataplane NAME`: what a proxy's state does not show. A proxyless gRPC app under
 * mesh mTLS is Online and ACKs everything even when it uses insecure credentials, and then every
 * call to it is PERMISSION_DENIED (its RBAC sees no peer identity).
 */
export function proxyHints(row: Json): string {
  if (text(row['flavor']) !== 'grpc' || row['certificate'] === undefined) return '';
  const mesh = text(row['mesh']) ?? 'default';
  return `hint: a proxyless gRPC app under mesh mTLS: it must use xDS credentials (grpc-js-xds XdsServerCredentials and XdsChannelCredentials), or every call to it is PERMISSION_DENIED while it shows Online and ACKed; and only callers a TrafficPermission allows get in (meshcp get trafficpermissions -m ${printableCell(mesh)})\n`;
}

function documents(value: unknown, format: 'yaml' | 'json'): string {
  // Proxy-controlled text (NACK errors) is in there: nothing that drives the terminal goes out raw.
  return printableDocument(value, format);
}

interface InspectListOptions extends ServerOptions {
  mesh?: string;
  output: string;
}

interface InspectOneOptions extends ServerOptions {
  mesh: string;
  output?: string;
  configDump?: boolean;
}

export function registerInspect(program: Command, io: CliIo): void {
  const inspect = program.command('inspect').description('Show the live state of proxies: connection, xDS updates and NACKs, certificates');

  addServerOptions(
    inspect
      .command('dataplanes')
      .description('List proxies with their connection, xDS and certificate state (Dataplanes, plus any other proxy that has connected)')
      .option('-m, --mesh <mesh>', 'only this mesh (default: every mesh)')
      .option('-o, --output <format>', 'table (fits 120 columns) | wide (Kuma\'s columns, every cell whole) | yaml | json', 'table'),
  ).action(async (options: InspectListOptions) => {
    const wide = options.output.toLowerCase() === 'wide';
    const format = wide ? 'table' : parseOutputFormat(options.output);
    const body = await new AdminClient(options).getJson('/api/inspect/dataplanes', { mesh: options.mesh });
    const rows = items(body['items']);
    if (format === 'table') io.stdout.write(inspectTable(rows, new Date(), { wide }));
    else io.stdout.write(documents(rows, format));
  });

  addServerOptions(
    inspect
      .command('dataplane')
      .description('Show one proxy; with --config-dump, the resources last sent to it and the ACK/NACK state of each type (private keys redacted)')
      .argument('<name>', 'proxy name (the Envoy node.id)')
      .option('-m, --mesh <mesh>', 'mesh', 'default')
      .option('--config-dump', 'print the resources last sent per type, with the last sent / ACKed version, NACK count and last error')
      .option('-o, --output <format>', 'table | wide | yaml | json (default: yaml with --config-dump, table without)'),
  ).action(async (name: string, options: InspectOneOptions) => {
    const client = new AdminClient(options);
    const base = `/api/inspect/dataplanes/${encodeURIComponent(name)}`;
    if (options.configDump === true) {
      const format = parseOutputFormat(options.output ?? 'yaml');
      const dump = await client.getJson(`${base}/config-dump`, { mesh: options.mesh });
      io.stdout.write(format === 'table' ? configDumpTable(dump) : documents(dump, format));
      return;
    }
    const wide = options.output?.toLowerCase() === 'wide';
    const format = wide ? 'table' : parseOutputFormat(options.output ?? 'table');
    const row = await client.getJson(base, { mesh: options.mesh });
    if (text(row['name']) === undefined) throw new CliError([`no proxy "${name}" in mesh "${options.mesh}"`]);
    io.stdout.write(format === 'table' ? inspectTable([row], new Date(), { wide }) + proxyHints(row) : documents(row, format));
  });
}

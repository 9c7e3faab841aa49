/**
 * `meshcp inspect dataplanes` and `meshcp inspect dataplane NAME [--config-dump]` (SPEC §3, Kuma's
 * `kumactl inspect dataplanes`): thin clients of `/api/inspect/...` (admin/inspect.ts).
 */
import type { Command } from 'commander';
import { AdminClient, addServerOptions, type ServerOptions } from './admin-client.js';
import { CliError, formatAge, parseOutputFormat, printableDocument, renderTable, type CliIo } from './output.js';

/** SPEC §3, in this order. */
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

export function inspectTable(rows: readonly Json[], now: Date): string {
  return renderTable(
    INSPECT_DATAPLANES_COLUMNS,
    printableRows(rows.map((r) => {
      const cert = r['certificate'] === undefined ? undefined : obj(r['certificate']);
      return [
        orDash(text(r['mesh'])),
        orDash(text(r['name'])),
        orDash(text(r['tags'])),
        orDash(text(r['status'])),
        formatAge(text(r['lastConnected']), now),
        formatAge(text(r['lastUpdated']), now),
        text(r['totalUpdates']) ?? '0',
        text(r['totalErrors']) ?? '0',
        cert ? formatAge(text(cert['regeneratedAt']), now) : '-',
        cert ? formatInstant(text(cert['expiration'])) : '-',
        cert ? (text(cert['regenerations']) ?? '0') : '-',
      ];
    })),
  );
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
      .option('-o, --output <format>', 'table | yaml | json', 'table'),
  ).action(async (options: InspectListOptions) => {
    const format = parseOutputFormat(options.output);
    const body = await new AdminClient(options).getJson('/api/inspect/dataplanes', { mesh: options.mesh });
    const rows = items(body['items']);
    if (format === 'table') io.stdout.write(inspectTable(rows, new Date()));
    else io.stdout.write(documents(rows, format));
  });

  addServerOptions(
    inspect
      .command('dataplane')
      .description('Show one proxy; with --config-dump, the resources last sent to it and the ACK/NACK state of each type (private keys redacted)')
      .argument('<name>', 'proxy name (the Envoy node.id)')
      .option('-m, --mesh <mesh>', 'mesh', 'default')
      .option('--config-dump', 'print the resources last sent per type, with the last sent / ACKed version, NACK count and last error')
      .option('-o, --output <format>', 'table | yaml | json (default: yaml with --config-dump, table without)'),
  ).action(async (name: string, options: InspectOneOptions) => {
    const client = new AdminClient(options);
    const base = `/api/inspect/dataplanes/${encodeURIComponent(name)}`;
    if (options.configDump === true) {
      const format = parseOutputFormat(options.output ?? 'yaml');
      const dump = await client.getJson(`${base}/config-dump`, { mesh: options.mesh });
      io.stdout.write(format === 'table' ? configDumpTable(dump) : documents(dump, format));
      return;
    }
    const format = parseOutputFormat(options.output ?? 'table');
    const row = await client.getJson(base, { mesh: options.mesh });
    if (text(row['name']) === undefined) throw new CliError([`no proxy "${name}" in mesh "${options.mesh}"`]);
    io.stdout.write(format === 'table' ? inspectTable([row], new Date()) : documents(row, format));
  });
}

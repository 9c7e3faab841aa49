/** `meshcp apply`, `meshcp get`, `meshcp delete`: thin clients of the admin API (SPEC §3). */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import YAML from 'yaml';
import { knownTypeNames, parseKind } from '../admin/kinds.js';
import { collectFiles } from '../api/load-files.js';
import { nearest } from '../api/suggest.js';
import type { ResourceKind } from '../api/types.js';
import { AdminClient, addServerOptions, type AppliedJson, type ApplyFileJson, type ServerOptions } from './admin-client.js';
import { CliError, formatDocuments, nackLines, parseOutputFormat, resourceTable, type CliIo } from './output.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function resolveKind(text: string): ResourceKind {
  const kind = parseKind(text);
  if (kind !== undefined) return kind;
  const suggestion = nearest(text.toLowerCase(), knownTypeNames());
  const hint = suggestion !== undefined ? ` did you mean "${suggestion}"?` : '';
  throw new CliError([`unknown resource type "${text}";${hint} known types: ${knownTypeNames().join(', ')}`]);
}

export function printWarnings(io: CliIo, warnings: readonly string[]): void {
  for (const w of warnings) io.stderr.write(`Warning: ${w}\n`);
}

export function printApplied(io: CliIo, applied: readonly AppliedJson[], dryRun = false): void {
  for (const a of applied) io.stdout.write(`${a.type}/${a.name} ${a.outcome}${dryRun ? ' (dry run)' : ''}\n`);
}

const FILE_FIELDS = [
  ['certFile', 'cert'],
  ['keyFile', 'key'],
] as const;

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * `certFile` / `keyFile` (and a Mesh's provided CA `file:`) name files on this machine, relative
 * to the YAML file (SPEC §1): read them here and send the PEM inline. Documents keep their order,
 * so error indexes still match.
 */
export function inlineFileReferences(text: string, baseDir: string, label: string): string {
  const docs = YAML.parseAllDocuments(text);
  if (docs.some((d) => d.errors.length > 0)) return text; // the server reports syntax errors with their document index
  const values = docs.map((d) => d.toJS({ maxAliasCount: 100 }) as unknown);
  const errors: string[] = [];
  let changed = false;
  values.forEach((value, i) => {
    const items = Array.isArray(value) ? value : [value];
    items.forEach((item: unknown, j) => {
      if (isMap(item) && (item['type'] === 'Mesh' || item['kind'] === 'Mesh')) {
        if (inlineMeshFiles(item, baseDir, `${label}#${i + 1} Mesh/${meshName(item)}: ${Array.isArray(value) ? `[${j}].` : ''}`, errors)) changed = true;
        return;
      }
      if (!isMap(item) || item['type'] !== 'Secret') return;
      const where = `${label}#${i + 1} Secret/${typeof item['name'] === 'string' ? item['name'] : '?'}: ${Array.isArray(value) ? `[${j}].` : ''}`;
      for (const [fileField, inlineField] of FILE_FIELDS) {
        const file = item[fileField];
        if (file === undefined || file === null) continue;
        if (typeof file !== 'string') {
          errors.push(`${where}${fileField}: expected a file path`);
          continue;
        }
        if (item[inlineField] !== undefined && item[inlineField] !== null) {
          errors.push(`${where}${fileField}: set only one of ${inlineField} and ${fileField}`);
          continue;
        }
        const resolved = path.resolve(baseDir, file);
        try {
          item[inlineField] = fs.readFileSync(resolved, 'utf8');
          delete item[fileField];
          changed = true;
        } catch (err) {
          errors.push(`${where}${fileField}: cannot read "${resolved}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
        }
      }
    });
  });
  if (errors.length > 0) throw new CliError(errors);
  if (!changed) return text;
  return values.map((v) => YAML.stringify(v)).join('---\n');
}

function meshName(item: Record<string, unknown>): string {
  const metadata = item['metadata'];
  const name = isMap(metadata) ? metadata['name'] : item['name'];
  return typeof name === 'string' ? name : '?';
}

/**
 * A provided CA's `conf.cert.file` / `conf.key.file` is read here, relative to the YAML file, as
 * `serve --config` and `validate -f` read it ("one validator"), and sent as `inline`
 * base64: the admin API never reads files named by a client. Returns whether anything changed.
 */
function inlineMeshFiles(item: Record<string, unknown>, baseDir: string, where: string, errors: string[]): boolean {
  const root = item['kind'] === 'Mesh' ? item['spec'] : item;
  const prefix = item['kind'] === 'Mesh' ? 'spec.' : '';
  const mtls = isMap(root) ? root['mtls'] : undefined;
  const backends = isMap(mtls) && Array.isArray(mtls['backends']) ? (mtls['backends'] as unknown[]) : [];
  let changed = false;
  backends.forEach((backend, b) => {
    const conf = isMap(backend) ? backend['conf'] : undefined;
    if (!isMap(conf)) return;
    for (const part of ['cert', 'key'] as const) {
      const source = conf[part];
      if (!isMap(source) || typeof source['file'] !== 'string' || Object.keys(source).length !== 1) continue;
      const resolved = path.resolve(baseDir, source['file']);
      try {
        conf[part] = { inline: fs.readFileSync(resolved).toString('base64') };
        changed = true;
      } catch (err) {
        errors.push(`${where}${prefix}mtls.backends[${b}].conf.${part}.file: cannot read "${resolved}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    }
  });
  return changed;
}

async function readStdin(io: CliIo): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

export async function readApplyFiles(files: readonly string[], io: CliIo): Promise<ApplyFileJson[]> {
  if (files.length === 0) throw new CliError(['-f/--filename is required: a YAML or JSON file, or - for stdin']);
  if (files.filter((f) => f === '-').length > 1) throw new CliError(['-f - (stdin) can be given only once']);
  const out: ApplyFileJson[] = [];
  // SPEC §3: `apply -f` takes files, directories and `-` like `validate -f` and `serve --config`:
  // a directory is expanded to its .yaml/.yml/.json files (recursively, sorted, dot entries skipped).
  const expanded: string[] = [];
  for (const file of files) {
    if (file === '-') {
      expanded.push(file);
      continue;
    }
    const found = await collectFiles([file]);
    const [problem] = found.errors;
    if (problem) throw new CliError([`${file}: ${problem.message}`]);
    if (found.files.length === 0) throw new CliError([`${file}: no .yaml, .yml or .json files in this directory`]);
    expanded.push(...found.files);
  }
  for (const file of expanded) {
    if (file === '-') {
      out.push({ name: '<stdin>', content: inlineFileReferences(await readStdin(io), process.cwd(), '<stdin>') });
      continue;
    }
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new CliError([`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
    }
    out.push({ name: file, content: inlineFileReferences(text, path.dirname(path.resolve(file)), file) });
  }
  return out;
}

interface ApplyOptions extends ServerOptions {
  filename: string[];
  dryRun?: boolean;
}

export interface GetOptions extends ServerOptions {
  mesh?: string;
  output: string;
}

export interface DeleteOptions extends ServerOptions {
  mesh: string;
}

/** `get TYPE [NAME]`, and `secret list|get` (the akka spellings): never a private key. */
export async function getResources(io: CliIo, kind: ResourceKind, name: string | undefined, options: GetOptions): Promise<void> {
    if (options.output.toLowerCase() === 'pem') {
      // The certificates of one secret, or the CA that signs a mesh's certificates (which clients of meshcp-issued route certificates trust); never a key.
      if ((kind !== 'Secret' && kind !== 'Mesh') || name === undefined) throw new CliError(['-o pem prints the certificates of one secret (meshcp get secret NAME -o pem) or the CA of one mesh (meshcp get mesh NAME -o pem)']);
      const client = new AdminClient(options);
      const body =
        kind === 'Mesh'
          ? await client.getJson(`/api/meshes/${encodeURIComponent(name)}/certificate`)
          : await client.getJson(`/api/secrets/${encodeURIComponent(name)}/certificate`, { mesh: options.mesh ?? 'default' });
      const pem = body['pem'];
      if (typeof pem !== 'string') throw new CliError([`the admin API at ${options.server} answered without a certificate`]);
      io.stdout.write(pem);
      return;
    }
    const wide = options.output.toLowerCase() === 'wide';
    const format = wide ? 'table' : parseOutputFormat(options.output);
    const client = new AdminClient(options);
    const mesh = options.mesh ?? 'default';
    const views = name !== undefined ? [await client.get(kind, name, mesh)] : await client.list(kind, options.mesh);
    const found = views.filter((v) => v !== undefined);
    if (name !== undefined && found.length === 0) throw new CliError([`${kind}/${name} not found${kind !== 'Mesh' ? ` in mesh "${mesh}"` : ''}`]);
    if (format === 'table') io.stdout.write(resourceTable(kind, found, new Date(), { wide }) + nackLines(found));
    else io.stdout.write(formatDocuments(found, format, name !== undefined));
}

/** `delete TYPE NAME`, and `secret delete NAME`. */
export async function deleteResource(io: CliIo, kind: ResourceKind, name: string, options: DeleteOptions): Promise<void> {
  const result = await new AdminClient(options).delete(kind, name, options.mesh);
  printWarnings(io, result.warnings);
  io.stdout.write(`${kind}/${name} deleted\n`);
}

export function registerResources(program: Command, io: CliIo): void {
  addServerOptions(
    program
      .command('apply')
      .description('Create or update resources from YAML or JSON files (all documents, all files: all-or-nothing)')
      .option('-f, --filename <file>', 'resource file or directory, or - for stdin (repeatable)', collect, [])
      .option('--dry-run', 'validate against the server state without changing it'),
  ).action(async (options: ApplyOptions) => {
    const files = await readApplyFiles(options.filename, io);
    const result = await new AdminClient(options).apply(files, { dryRun: options.dryRun ?? false });
    printWarnings(io, result.warnings);
    printApplied(io, result.applied, options.dryRun);
  });

  addServerOptions(
    program
      .command('get')
      .description(`List resources, or show one. TYPE: ${knownTypeNames().join(', ')} (singular or plural)`)
      .argument('<type>', 'resource type')
      .argument('[name]', 'resource name')
      .option('-m, --mesh <mesh>', 'mesh (default: every mesh when listing, "default" for one resource)')
      .option('-o, --output <format>', 'table (fits 120 columns) | wide (every cell whole) | yaml | json | pem (a secret\'s certificates; a mesh\'s CA)', 'table'),
  ).action((type: string, name: string | undefined, options: GetOptions) => getResources(io, resolveKind(type), name, options));

  addServerOptions(
    program
      .command('delete')
      .description('Delete a resource applied through the API (config-file resources are owned by their files)')
      .argument('<type>', 'resource type')
      .argument('<name>', 'resource name')
      .option('-m, --mesh <mesh>', 'mesh', 'default'),
  ).action((type: string, name: string, options: DeleteOptions) => deleteResource(io, resolveKind(type), name, options));
}

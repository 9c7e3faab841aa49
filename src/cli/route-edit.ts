/**
 * `meshcp route edit NAME` (akka routes edit, kubectl edit): the descriptor goes to a temporary
 * file, the user's editor opens it, and the result is applied. An unchanged (or emptied) file
 * cancels; an invalid one is reported and kept, so the edit is not lost.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { canonicalJson } from '../store/document.js';
import type { AdminClient } from './admin-client.js';
import { CliError, type CliIo } from './output.js';
import { printApplied, printWarnings } from './resources.js';
import { buildRouteDescriptor, exportDescriptor, parseDescriptor } from './route-descriptor.js';

/** $EDITOR, else $VISUAL, else vi (the order the issue asks for; kubectl and git read the same variables). */
export function editorCommand(env: NodeJS.ProcessEnv = process.env): string {
  for (const name of ['EDITOR', 'VISUAL']) {
    const value = env[name]?.trim();
    if (value) return value;
  }
  return 'vi';
}

/** The editor may carry arguments (`code --wait`), so the shell splits it, as git does; the file is passed as "$1", never spliced into the command. */
function runEditor(editor: string, file: string): number | null {
  const result = spawnSync('sh', ['-c', `${editor} "$1"`, 'meshcp-edit', file], { stdio: 'inherit' });
  if (result.error) throw new CliError([`cannot run the editor "${editor}": ${result.error.message} (set EDITOR)`]);
  return result.status;
}

function withKeptFile(err: unknown, file: string, name: string): CliError {
  const lines = err instanceof CliError ? err.lines : [(err as Error).message];
  return new CliError([...lines, `nothing applied; your edit is kept in ${file} (fix it and run \`meshcp route update ${name} -f ${file}\`)`]);
}

function isUnchanged(before: string, after: string): boolean {
  if (before === after) return true;
  try {
    return canonicalJson(YAML.parse(before)) === canonicalJson(YAML.parse(after));
  } catch {
    return false;
  }
}

export async function editRoute(io: CliIo, client: AdminClient, name: string, mesh: string): Promise<void> {
  const view = await client.get('Route', name, mesh);
  if (!view) throw new CliError([`Route/${name} not found in mesh "${mesh}" (create it with \`meshcp route create\`)`]);
  const original = [
    `# Route ${name} in mesh ${mesh}: edit the descriptor below and save to apply it.`,
    '# Lines starting with # are ignored; saving it unchanged (or empty) cancels the edit.',
    YAML.stringify(exportDescriptor(view.resource)),
  ].join('\n');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-edit-'));
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, original, { mode: 0o600 });
  const editor = editorCommand();
  const status = runEditor(editor, file);
  if (status !== 0) throw new CliError([`the editor "${editor}" exited with ${status === null ? 'a signal' : `code ${status}`}; nothing applied (your edit is kept in ${file})`]);
  const edited = fs.readFileSync(file, 'utf8');
  if (isUnchanged(original, edited) || edited.replace(/^\s*#.*$/gm, '').trim() === '') {
    fs.rmSync(dir, { recursive: true, force: true });
    // kubectl's wording, so the outcome reads the same.
    io.stderr.write('Edit cancelled, no changes made.\n');
    return;
  }
  let result: Awaited<ReturnType<AdminClient['apply']>>;
  try {
    const parsed = parseDescriptor(edited, file, name, { value: mesh, explicit: true });
    const doc = buildRouteDescriptor(name, parsed.mesh, parsed.doc, { clientCertificateSubject: [], removeClientCertificateSubject: [], pathPrefix: [], removePathPrefix: [] });
    result = await client.apply([{ name: file, content: JSON.stringify(doc) }], { mode: 'update' });
  } catch (err) {
    throw withKeptFile(err, file, name);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  printWarnings(io, result.warnings);
  printApplied(io, result.applied);
}

/**
 * `serve --config PATH…` and `validate -f`: load files and directories as one all-or-nothing
 * config, and watch them for changes (SPEC §3: an invalid change is rejected as a whole).
 */
import fs from 'node:fs';
import path from 'node:path';
import { errorResult, okResult, type FieldError, type Result } from './errors.js';
import { findDuplicateResources, parseYamlEntries, type ParsedEntry } from './parse.js';
import type { Resource } from './types.js';

const CONFIG_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/**
 * The largest config file (README "Security model"). A 54 MB file used to exhaust the heap while
 * being parsed and crash the server; a bigger file is now an error like any invalid change.
 */
export const MAX_CONFIG_FILE_BYTES = 8 * 1024 * 1024;
const DEBOUNCE_MS = 100;

function errorCode(err: unknown): string {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : String(err);
}

/**
 * Config files under `dir`, recursively. Dot entries are skipped: editors' temporary files, and
 * the `..data` / `..2024_…` directories of a Kubernetes ConfigMap mount, whose files would
 * otherwise be loaded twice (once through the top-level symlinks).
 */
async function filesUnder(dir: string, visited: Set<string>): Promise<string[]> {
  const real = await fs.promises.realpath(dir);
  if (visited.has(real)) return [];
  visited.add(real);
  const files: string[] = [];
  for (const name of (await fs.promises.readdir(dir)).sort()) {
    if (name.startsWith('.')) continue;
    const full = path.join(dir, name);
    const stat = await fs.promises.stat(full).catch(() => undefined);
    if (stat?.isDirectory()) files.push(...(await filesUnder(full, visited)));
    else if (stat?.isFile() && CONFIG_EXTENSIONS.has(path.extname(name).toLowerCase())) files.push(full);
  }
  return files;
}

/** The config files that `paths` name: files as given, directories expanded (recursively, sorted), each once. */
export async function collectFiles(paths: readonly string[]): Promise<{ files: string[]; errors: FieldError[] }> {
  const files: string[] = [];
  const errors: FieldError[] = [];
  const visited = new Set<string>();
  for (const p of paths) {
    try {
      const stat = await fs.promises.stat(p);
      // A file named explicitly is loaded whatever its extension.
      const found = stat.isDirectory() ? (await filesUnder(p, visited)).sort() : [p];
      for (const f of found) if (!files.includes(f)) files.push(f);
    } catch (err) {
      errors.push({ file: p, path: '', message: `cannot read: ${errorCode(err)}` });
    }
  }
  return { files, errors };
}

/** Every resource of every file, or every error of every file (including duplicates across files). */
export async function loadConfigPaths(paths: string[]): Promise<Result<Resource[]>> {
  const { files, errors } = await collectFiles(paths);
  const warnings: FieldError[] = [];
  const entries: ParsedEntry[] = [];
  for (const file of files) {
    let text: string;
    try {
      const { size } = await fs.promises.stat(file);
      if (size > MAX_CONFIG_FILE_BYTES) {
        errors.push({ file, path: '', message: `file is ${(size / (1024 * 1024)).toFixed(1)} MiB; at most ${MAX_CONFIG_FILE_BYTES / (1024 * 1024)} MiB per config file (split it into several files)` });
        continue;
      }
      text = await fs.promises.readFile(file, 'utf8');
    } catch (err) {
      errors.push({ file, path: '', message: `cannot read: ${errorCode(err)}` });
      continue;
    }
    const parsed = parseYamlEntries(text, { file, baseDir: path.dirname(path.resolve(file)) });
    warnings.push(...parsed.warnings);
    if (parsed.ok) entries.push(...parsed.value);
    else errors.push(...parsed.errors);
  }
  errors.push(...findDuplicateResources(entries));
  return errors.length > 0 ? errorResult(errors, warnings) : okResult(entries.map((e) => e.resource), warnings);
}

/**
 * Calls `onChange` (debounced) when anything under `paths` changes. Directories are watched, not
 * files: an editor's atomic save or a ConfigMap symlink swap replaces the inode, and a watch on
 * the old inode would go silent. New subdirectories are picked up on each change.
 */
export function watchConfigPaths(paths: string[], onChange: () => void): { close(): void } {
  /** Per watched directory: the watcher, the inode it watches, and the names that matter ('*': all). */
  const watched = new Map<string, { watcher: fs.FSWatcher; ino: number; names: Set<string> }>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const fire = (): void => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (closed) return;
      addWatchers();
      onChange();
    }, DEBOUNCE_MS);
  };

  const unwatch = (dir: string): void => {
    watched.get(dir)?.watcher.close();
    watched.delete(dir);
  };

  const watchDir = (dir: string, name: string): void => {
    const ino = inodeOf(dir);
    const existing = watched.get(dir);
    if (existing && existing.ino === ino) {
      existing.names.add(name);
      return;
    }
    // Deleted, or deleted and recreated: the old watch sees nothing any more.
    if (existing) unwatch(dir);
    if (ino === undefined) return;
    try {
      const names = new Set([name, ...(existing?.names ?? [])]);
      const watcher = fs.watch(dir, (_event, changed) => {
        if (names.has('*') || changed === null || names.has(changed)) fire();
      });
      watcher.on('error', () => {
        unwatch(dir);
        fire();
      });
      watched.set(dir, { watcher, ino, names });
    } catch {
      // Unreadable: the next reload reports it, and the next change retries the watch.
    }
  };

  const watchTree = (dir: string): void => {
    watchDir(dir, '*');
    for (const name of readdirOrEmpty(dir)) {
      const full = path.join(dir, name);
      if (!name.startsWith('.') && isDirectory(full)) watchTree(full);
    }
  };

  const addWatchers = (): void => {
    for (const dir of [...watched.keys()]) if (inodeOf(dir) === undefined) unwatch(dir);
    for (const p of paths) {
      const resolved = path.resolve(p);
      if (isDirectory(resolved)) watchTree(resolved);
      else watchDir(path.dirname(resolved), path.basename(resolved));
    }
  };

  addWatchers();
  return {
    close(): void {
      closed = true;
      if (timer) clearTimeout(timer);
      for (const dir of [...watched.keys()]) unwatch(dir);
    },
  };
}

function inodeOf(p: string): number | undefined {
  try {
    return fs.statSync(p).ino;
  } catch {
    return undefined;
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

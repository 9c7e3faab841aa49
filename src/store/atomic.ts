/**
 * Durable file operations, the one write module of meshcp (SPEC §5: write, fsync, rename): the
 * store's files, the CLI's CA and certificate files, the token signing key and the agent's
 * certificate files all go through it. A rename within one directory is atomic on POSIX file
 * systems, so a reader (or a restart after a crash) sees either the old or the new content,
 * never a mix. The directory is fsynced after the rename and after an unlink, or the new
 * directory entry itself may be lost on power failure. A file's mode is set from creation (a
 * key is never briefly readable by others) and fixed against the umask.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Temporary files start with this prefix; they are never loaded, and removed when a store opens. */
export const TEMP_PREFIX = '.tmp-';

/** Points where tests simulate a crash by throwing. */
export interface FaultHooks {
  /** After the temporary file is written and fsynced, before it is renamed over `target`. */
  beforeRename?(target: string): void;
  /** After a batch journal is durable, before the batch's files are written. */
  afterJournal?(): void;
}

export async function fsyncDirectory(dir: string): Promise<void> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(dir, 'r');
    await handle.sync();
  } catch (err) {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is still atomic there.
    if (!isCode(err, 'EISDIR') && !isCode(err, 'EPERM') && !isCode(err, 'EINVAL') && !isCode(err, 'EBADF')) throw err;
  } finally {
    await handle?.close();
  }
}

/** `mkdir -p` that fsyncs each parent whose entries it changed, so a new file's directory survives a crash too. */
export async function ensureDirectory(dir: string): Promise<void> {
  const missing: string[] = [];
  let current = path.resolve(dir);
  while (!(await exists(current))) {
    missing.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const d of missing) {
    await fs.promises.mkdir(d, { mode: 0o700 }).catch((err: unknown) => {
      if (!isCode(err, 'EEXIST')) throw err;
    });
    await fsyncDirectory(path.dirname(d));
  }
}

/**
 * Writes `data` to a new temporary file beside `target` (created with `mode`, fsynced) and returns
 * its path, ready to be renamed into place. Several files can be staged and then renamed back to
 * back (agent/cert-files.ts), so a reader that loads them separately sees a mix only for the gap
 * between two renames. A temporary file left by a crash is removed by `removeTemporaryFiles`.
 */
export async function stageFile(target: string, data: string | Uint8Array, mode: number): Promise<string> {
  const temp = path.join(path.dirname(target), `${TEMP_PREFIX}${path.basename(target)}.${randomBytes(6).toString('hex')}`);
  const handle = await fs.promises.open(temp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode); // the umask may have narrowed the creation mode
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.promises.rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  return temp;
}

export async function writeFileAtomic(target: string, data: string | Uint8Array, options: { mode: number; hooks?: FaultHooks }): Promise<void> {
  const dir = path.dirname(target);
  await ensureDirectory(dir);
  const temp = await stageFile(target, data, options.mode);
  options.hooks?.beforeRename?.(target);
  try {
    await fs.promises.rename(temp, target);
  } catch (err) {
    await fs.promises.rm(temp, { force: true });
    throw err;
  }
  await fsyncDirectory(dir);
}

/**
 * Creates `target` only if it does not exist, atomically: link(2) fails with EEXIST when it does,
 * so two processes racing to create it agree on one content. Returns false when it existed.
 * Where the file system has no hard links (FAT, some FUSE and network mounts) it checks, then renames.
 */
export async function createFileAtomic(target: string, data: string | Uint8Array, options: { mode: number }): Promise<boolean> {
  const dir = path.dirname(target);
  await ensureDirectory(dir);
  const temp = await stageFile(target, data, options.mode);
  try {
    try {
      await fs.promises.link(temp, target);
    } catch (err) {
      if (!isCode(err, 'EPERM') && !isCode(err, 'ENOTSUP') && !isCode(err, 'ENOSYS')) throw err;
      if (await exists(target)) return false;
      await fs.promises.rename(temp, target);
    }
    await fsyncDirectory(dir);
    return true;
  } catch (err) {
    if (isCode(err, 'EEXIST')) return false;
    throw err;
  } finally {
    await fs.promises.rm(temp, { force: true });
  }
}

/** Returns false when the file did not exist. */
export async function removeFileDurable(target: string): Promise<boolean> {
  try {
    await fs.promises.unlink(target);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return false;
    throw err;
  }
  await fsyncDirectory(path.dirname(target));
  return true;
}

/** Removes temporary files left by a crash under `dir`, recursively. */
export async function removeTemporaryFiles(dir: string): Promise<number> {
  let removed = 0;
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isCode(err, 'ENOENT')) return 0;
    throw err;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) removed += await removeTemporaryFiles(full);
    else if (entry.name.startsWith(TEMP_PREFIX)) {
      await fs.promises.rm(full, { force: true });
      removed++;
    }
  }
  return removed;
}

export async function readFileIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await fs.promises.readFile(file);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return undefined;
    throw err;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.promises.stat(p);
    return true;
  } catch (err) {
    if (isCode(err, 'ENOENT')) return false;
    throw err;
  }
}

export function isCode(err: unknown, code: string): boolean {
  return err instanceof Error && 'code' in err && err.code === code;
}

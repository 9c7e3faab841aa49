/**
 * Crash-safe file writes: write a temporary file in the same directory, fsync it, move it into
 * place, fsync the directory (so the rename itself survives a power loss). A reader sees the old
 * file or the new one, never a torn one.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** File mode, applied from creation (so a key is never briefly readable by others). Default 0o644. */
  readonly mode?: number;
  /** When false, fail with EEXIST instead of replacing an existing file. Default true. */
  readonly overwrite?: boolean;
}

export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Some filesystems (FAT, some FUSE and network mounts) have no hard links; there, check then rename. */
async function linkOrRenameNew(tmp: string, file: string): Promise<void> {
  try {
    await fs.link(tmp, file);
  } catch (err) {
    const code = err instanceof Error && 'code' in err ? err.code : undefined;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw err;
    const exists = await fs.access(file).then(
      () => true,
      () => false,
    );
    if (exists) throw Object.assign(new Error(`${file} already exists`), { code: 'EEXIST' });
    await fs.rename(tmp, file);
  }
}

/**
 * Writes `data` to a new temporary file beside `file` (mode set from creation, fsynced) and
 * returns its path, ready to be moved into place; several files can be staged and then renamed
 * back to back (agent/cert-files.ts).
 */
export async function stageFile(file: string, data: string | Uint8Array, mode = 0o644): Promise<string> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode); // the umask may have narrowed or (for 0o644) kept the creation mode
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  return tmp;
}

export async function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const { mode = 0o644, overwrite = true } = options;
  const tmp = await stageFile(file, data, mode);
  try {
    // link() fails when the target exists, which makes "create once" atomic; rename() replaces.
    if (overwrite) await fs.rename(tmp, file);
    else await linkOrRenameNew(tmp, file);
  } finally {
    await fs.rm(tmp, { force: true });
  }
  await fsyncDirectory(path.dirname(file));
}

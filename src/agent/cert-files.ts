/**
 * The files a proxyless gRPC app's `file_watcher` certificate provider reads (bootstrap/grpc.ts):
 * cert.pem (leaf first, then intermediates), key.pem (mode 0600) and ca.pem (the mesh trust
 * bundle). Each is written atomically (temporary file, fsync, rename), so a reader sees the old
 * file or the new one, never a torn one.
 *
 * ca.pem goes first: during a CA switch the bundle grows before any certificate from the new CA
 * exists. key.pem and cert.pem follow back to back: all three are written and fsynced before the
 * first rename, and the renames follow one another synchronously, so a gRPC read that falls
 * between two of them (it reads the files independently) is a matter of microseconds, and a
 * mismatched pair is retried at its next refresh.
 */
import { renameSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fsyncDirectory, stageFile } from '../store/atomic.js';

export const CERT_FILE = 'cert.pem';
export const KEY_FILE = 'key.pem';
export const CA_FILE = 'ca.pem';

export interface CertFiles {
  readonly certChainPem: string;
  readonly keyPem: string;
  readonly caPem: string;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Writes the files that differ from what is on disk; returns whether anything was written. */
export async function writeCertFiles(dir: string, files: CertFiles): Promise<boolean> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const plan: readonly [string, string, number][] = [
    [CA_FILE, files.caPem, 0o644],
    [KEY_FILE, files.keyPem, 0o600],
    [CERT_FILE, files.certChainPem, 0o644],
  ];
  const changed: (readonly [string, string, number])[] = [];
  for (const entry of plan) if ((await readIfExists(path.join(dir, entry[0]))) !== entry[1]) changed.push(entry);
  // Stage every changed file first (written, fsynced), then move them into place back to back:
  // gRPC reads key.pem and cert.pem independently, so the window in which a read sees a new key
  // with an old certificate is the gap between two renames: microseconds, not a write + fsync.
  const staged: (readonly [tmp: string, file: string])[] = [];
  try {
    for (const [name, content, mode] of changed) staged.push([await stageFile(path.join(dir, name), content, mode), path.join(dir, name)]);
    for (const [tmp, file] of staged) renameSync(tmp, file);
    staged.length = 0;
    if (changed.length > 0) await fsyncDirectory(dir);
  } finally {
    for (const [tmp] of staged) await fs.rm(tmp, { force: true });
  }
  return changed.length > 0;
}

/**
 * The files a proxyless gRPC app's `file_watcher` certificate provider reads (bootstrap/grpc.ts):
 * cert.pem (leaf first, then intermediates), key.pem (mode 0600) and ca.pem (the mesh trust
 * bundle). Each is written atomically (temporary file, fsync, rename), so a reader sees the old
 * file or the new one, never a torn one.
 *
 * ca.pem goes first: during a CA switch the bundle grows before any certificate from the new CA
 * exists. key.pem and cert.pem follow back to back; gRPC reads the three files independently, so
 * a read that falls between the two renames sees a mismatched pair once and retries at its next
 * refresh.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../ca/atomic-file.js';

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
  for (const [name, content, mode] of changed) await writeFileAtomic(path.join(dir, name), content, { mode });
  return changed.length > 0;
}

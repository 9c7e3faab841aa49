/**
 * The keyring's blobs of a data directory, read without opening its store: `meshcp token generate
 * --data-dir` signs offline while `meshcp serve` holds the directory (its lock). Read-only; every
 * file read is checked like a key file (store/data-dir.ts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { checkKeyFileTrust } from '../store/data-dir.js';
import { listBlobFiles } from '../store/file-store.js';
import { checkBlobName } from '../store/store.js';
import type { KeyringStore } from './keyring.js';

export function readOnlyDataDirBlobs(dataDir: string): KeyringStore {
  const refuse = (): Promise<never> => Promise.reject(new Error(`the data directory ${dataDir} is read here, not written: change keys and revocations through the running server (--server) or with --store`));
  return {
    async getBlob(name) {
      checkBlobName(name);
      const file = path.join(dataDir, 'blobs', ...name.split('/'));
      try {
        checkKeyFileTrust(file);
        return await fs.readFile(file);
      } catch (err) {
        if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return undefined;
        throw err;
      }
    },
    listBlobs: (prefix) => listBlobFiles(dataDir, prefix),
    putBlob: refuse,
    deleteBlob: refuse,
  };
}

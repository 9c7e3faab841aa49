/**
 * A real TokenKeyring (auth/keyring.ts) whose blobs live in memory and whose initial key is
 * `key`: a token signed with `key` verifies as it does on a server whose data directory holds
 * that key, through the same checks (signature, expiry, key retirement, revocation). Close it
 * when done.
 */
import { TokenKeyring, type KeyringStore } from '../../src/auth/keyring.js';

export async function memoryKeyring(key: Buffer): Promise<TokenKeyring> {
  const blobs = new Map<string, Buffer>();
  const store: KeyringStore = {
    getBlob: async (name) => blobs.get(name),
    putBlob: async (name, data, options = {}) => {
      if (options.ifAbsent && blobs.has(name)) return false;
      blobs.set(name, Buffer.from(data));
      return true;
    },
    deleteBlob: async (name) => blobs.delete(name),
    listBlobs: async (prefix) => [...blobs.keys()].filter((name) => name.startsWith(prefix)).sort(),
  };
  return TokenKeyring.open(store, { load: async () => key, loadOrCreate: async () => key }, { create: true, follow: false });
}

/**
 * The token signing key kept in the store (SPEC §5: with etcd, "everything the data directory
 * holds lives there", the signing key included), so a token minted through one replica is
 * accepted by every other. Created with create-if-absent: replicas starting together on an empty
 * store end up with exactly one key, and an existing key is never replaced (tokens already issued
 * stay valid). The store seals it at rest (etcd-store.ts).
 */
import crypto from 'node:crypto';
import type { BlobStore } from '../ca/providers/builtin.js';
import type { InitialKey } from './initial-key.js';
import { SIGNING_KEY_BYTES } from './token.js';

export const SIGNING_KEY_BLOB = 'auth/token-signing.key';

export async function loadOrCreateStoredSigningKey(store: BlobStore): Promise<Buffer> {
  const existing = await store.getBlob(SIGNING_KEY_BLOB);
  if (existing) return checked(existing);
  await store.putBlob(SIGNING_KEY_BLOB, crypto.randomBytes(SIGNING_KEY_BYTES), { ifAbsent: true });
  // Whoever won the race, everyone uses what the store holds now.
  const winner = await store.getBlob(SIGNING_KEY_BLOB);
  if (!winner) throw new Error(`token signing key ${SIGNING_KEY_BLOB} vanished from the store right after it was written; check what else writes to the store`);
  return checked(winner);
}

function checked(key: Buffer): Buffer {
  if (key.length < SIGNING_KEY_BYTES) {
    throw new Error(`token signing key ${SIGNING_KEY_BLOB} in the store is shorter than ${SIGNING_KEY_BYTES} bytes; delete it to generate a new one (tokens already issued become invalid)`);
  }
  return key;
}

/** The initial key of the keyring (keyring.ts) kept in the store. */
export function storedInitialKey(store: BlobStore): InitialKey {
  return {
    load: async () => {
      const key = await store.getBlob(SIGNING_KEY_BLOB);
      return key ? checked(key) : undefined;
    },
    loadOrCreate: () => loadOrCreateStoredSigningKey(store),
  };
}

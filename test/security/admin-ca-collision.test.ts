/**
 * Security issue #9, hole 11: builtin CA blobs were named `ca/{mesh}.ca-builtin-{backend}.json`,
 * so mesh `a` with backend `b.ca-builtin-c` and mesh `a.ca-builtin-b` with backend `c` shared one
 * root key. Blobs are now keyed unambiguously; old blobs are still read where they are unambiguous.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BuiltinMtlsBackend } from '../../src/api/types.js';
import { createRootCa } from '../../src/ca/pki.js';
import { BuiltinCaProvider, builtinCaBlobName, legacyBuiltinCaBlobName } from '../../src/ca/providers/builtin.js';
import { FileStore } from '../../src/store/file-store.js';

function builtin(name: string): BuiltinMtlsBackend {
  return {
    name,
    type: 'builtin',
    mode: 'STRICT',
    dpCert: { rotation: { expiration: '1d', expirationSeconds: 86400 } },
    conf: { caCert: { RSAbits: 2048, expiration: '1y', expirationSeconds: 365 * 86400 } },
  };
}

describe('builtin CA storage keys', () => {
  let dir: string;
  let store: FileStore;
  const context = { resources: [], now: new Date() };

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-sec-ca-'));
    store = await FileStore.open(dir);
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives the colliding (mesh, backend) pairs two distinct roots, also after a restart', async () => {
    // given: the two pairs whose old blob names were the same
    expect(legacyBuiltinCaBlobName('a', 'b.ca-builtin-c')).toBe(legacyBuiltinCaBlobName('a.ca-builtin-b', 'c'));
    const provider = new BuiltinCaProvider(store);

    // when
    const first = await provider.initialize('a', builtin('b.ca-builtin-c'), context);
    const second = await provider.initialize('a.ca-builtin-b', builtin('c'), context);

    // then: two roots, two keys, each recorded for its own pair
    expect(second.id).not.toBe(first.id);
    expect(second.keyPem).not.toBe(first.keyPem);
    expect(builtinCaBlobName('a', 'b.ca-builtin-c')).not.toBe(builtinCaBlobName('a.ca-builtin-b', 'c'));
    const reopened = new BuiltinCaProvider(store);
    expect((await reopened.load('a', 'b.ca-builtin-c'))?.id).toBe(first.id);
    expect((await reopened.load('a.ca-builtin-b', 'c'))?.id).toBe(second.id);
  });

  it('keeps using an old-layout root for the pair recorded in it, and only for that pair', async () => {
    // given: a root written by the old layout for mesh "a", backend "b.ca-builtin-c"
    const root = await createRootCa({ commonName: 'old root', validitySeconds: 365 * 86400, uris: ['spiffe://a'] });
    const old = { format: 1, mesh: 'a', backend: 'b.ca-builtin-c', certPem: root.certPem, keyPem: root.keyPem, creationTime: '2026-01-01T00:00:00Z' };
    await store.putBlob(legacyBuiltinCaBlobName('a', 'b.ca-builtin-c'), JSON.stringify(old));
    const provider = new BuiltinCaProvider(store);

    // when
    const owner = await provider.initialize('a', builtin('b.ca-builtin-c'), context);
    const other = await provider.initialize('a.ca-builtin-b', builtin('c'), context);

    // then: the owner keeps its root (no proxy loses trust); the other pair gets its own
    expect(owner.certPem).toBe(root.certPem);
    expect(other.certPem).not.toBe(root.certPem);
    expect(other.keyPem).not.toBe(root.keyPem);
  });

  it('handles 253-character mesh and backend names', async () => {
    // given
    const long = (c: string): string => Array.from({ length: 4 }, () => c.repeat(63)).join('.').slice(0, 253);
    const provider = new BuiltinCaProvider(store);

    // when
    const ca = await provider.initialize(long('m'), builtin(long('b')), context);

    // then
    expect((await new BuiltinCaProvider(store).load(long('m'), long('b')))?.id).toBe(ca.id);
  });
});

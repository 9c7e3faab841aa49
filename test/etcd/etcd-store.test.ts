/**
 * What only the etcd store has (SPEC §5, issue #12): secrets sealed at rest, an outage (writes
 * fail naming the store, nothing half-applied, the last good state kept, catch-up afterwards),
 * and a watch whose history was compacted while the replica was cut off.
 */
import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RouteResource, SecretResource } from '../../src/api/types.js';
import { silentLogger } from '../../src/log/logger.js';
import { EtcdStore } from '../../src/store/etcd-store.js';
import { openStore } from '../../src/runtime/open-store.js';
import { freePort, startEtcd, startTcpGate, type TcpGate, type TestEtcd } from '../helpers/etcd.js';
import { waitFor } from '../helpers/wait.js';

const route = (name: string, host = `${name}.acme.org`): RouteResource => ({
  type: 'Route',
  name,
  mesh: 'default',
  host,
  routes: [{ prefix: '/', route: { service: 'shopping-cart' } }],
});

const PRIVATE = 'PRIVATE-KEY-MATERIAL-0123456789';
const secret: SecretResource = { type: 'Secret', name: 'my-tls', mesh: 'default', secretType: 'tls', cert: 'CERT', key: PRIVATE };

describe('EtcdStore', () => {
  let etcd: TestEtcd;
  let prefixNumber = 0;
  const stores: EtcdStore[] = [];
  const gates: TcpGate[] = [];
  const open = async (options: { endpoint?: string; prefix?: string; key?: Buffer } = {}): Promise<EtcdStore> => {
    const store = await EtcdStore.open(`etcd://${options.endpoint ?? etcd.endpoint}/${options.prefix ?? `t${prefixNumber}`}`, {
      encryptionKey: options.key ?? etcd.encryptionKey,
      tls: etcd.tls,
      callTimeoutMs: 2000,
    });
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    etcd = await startEtcd();
  }, 60_000);
  afterAll(async () => {
    await etcd.stop();
  });
  afterEach(async () => {
    prefixNumber++;
    for (const s of stores.splice(0)) await s.close();
    for (const g of gates.splice(0)) await g.close();
    if (!etcd.running()) await etcd.restart();
  });

  it('keeps private keys sealed in etcd: an etcd reader sees the certificate, never the key', async () => {
    // given
    const store = await open();
    // when
    await store.put(secret);
    await store.putBlob('token-signing.key', Buffer.from(PRIVATE));
    // then
    const raw = await etcd.client().getAll().prefix(`/t${prefixNumber}/`).strings();
    const all = Object.entries(raw);
    expect(all.map(([k]) => k).sort()).toEqual([`/t${prefixNumber}/blobs/token-signing.key`, `/t${prefixNumber}/resources/Secret/default/my-tls`]);
    for (const [, value] of all) expect(value).not.toContain(PRIVATE);
    expect(raw[`/t${prefixNumber}/resources/Secret/default/my-tls`]).toContain('"cert":"CERT"');
    expect((await store.getBlob('token-signing.key'))?.toString()).toBe(PRIVATE);
    expect((await store.get({ type: 'Secret', mesh: 'default', name: 'my-tls' }))?.resource).toEqual(secret);
  });

  it('refuses to open with another encryption key, naming the flag and the key', async () => {
    // given
    const first = await open();
    await first.put(secret);
    // when
    const wrong = open({ key: Buffer.alloc(32, 7) });
    // then
    await expect(wrong).rejects.toThrow(/resources\/Secret\/default\/my-tls: encrypted with store key [0-9a-f]{8}, but --store-encryption-key-file holds key [0-9a-f]{8}/);
  });

  it('a sealed value moved to another key does not decrypt', async () => {
    // given
    const store = await open();
    await store.putBlob('a', 'secret-a');
    const sealed = await etcd.client().get(`/t${prefixNumber}/blobs/a`).string();
    // when
    await etcd.client().put(`/t${prefixNumber}/blobs/b`).value(sealed!);
    // then
    await expect(store.getBlob('b')).rejects.toThrow(/blobs\/b: encrypted value fails authentication/);
  });

  it('--store etcd:// refuses to start without an encryption key file, or with a bad one, naming the flag', async () => {
    // given
    const base = { dataDir: etcd.dir, store: `${etcd.url}/t${prefixNumber}`, storeCaCert: etcd.files.ca, storeCert: etcd.files.cert, storeKey: etcd.files.key };
    const shortKey = `${etcd.dir}/short.key`;
    fs.writeFileSync(shortKey, 'c2hvcnQ=\n');
    // when / then
    await expect(openStore(base, silentLogger())).rejects.toThrow(/needs --store-encryption-key-file FILE/);
    await expect(openStore({ ...base, storeEncryptionKeyFile: shortKey }, silentLogger())).rejects.toThrow(/--store-encryption-key-file: ".*short.key" must hold a 32-byte key/);
    await expect(openStore({ ...base, storeEncryptionKeyFile: `${etcd.dir}/missing.key` }, silentLogger())).rejects.toThrow(/--store-encryption-key-file: cannot read ".*missing.key": ENOENT/);
  });

  it('refuses to open when etcd cannot be reached, naming the store', async () => {
    // given: a port nothing listens on
    const port = await freePort();
    // when
    const opening = open({ endpoint: `127.0.0.1:${port}` });
    // then
    await expect(opening).rejects.toThrow(new RegExp(`^etcd://127.0.0.1:${port}/t${prefixNumber}: unavailable: listing the resources failed .*check that etcd is running`));
  });

  it('etcd down: keeps the last good state, a write fails naming the store and is not half-applied; catches up when it returns', async () => {
    // given
    const writer = await open();
    const replica = await open();
    await writer.apply([{ op: 'put', resource: route('a') }]);
    await waitFor('replica sees a', () => replica.current().length === 1);
    // when
    await etcd.kill();
    const during = writer.apply([
      { op: 'put', resource: route('b') },
      { op: 'put', resource: route('c') },
    ]);
    // then
    await expect(during).rejects.toThrow(new RegExp(`^etcd://${etcd.endpoint}/t${prefixNumber}: unavailable: .*nothing was written`));
    expect(replica.current().map((s) => s.resource)).toEqual([route('a')]);
    await waitFor('replica reports the outage', () => replica.unavailable()?.startsWith(`etcd://${etcd.endpoint}/t${prefixNumber}: unavailable`));
    // when etcd returns
    await etcd.restart();
    await waitFor('a write after the outage', async () => (await writer.apply([{ op: 'put', resource: route('d') }]))[0]?.outcome === 'created', { timeoutMs: 30_000, intervalMs: 200 });
    // then
    await waitFor('replica catches up', () => replica.current().length === 2, { timeoutMs: 30_000 });
    expect(replica.current().map((s) => s.resource)).toEqual([route('a'), route('d')]);
    await waitFor('replica healthy again', () => replica.unavailable() === undefined, { timeoutMs: 30_000 });
  });

  it('relists when the history it would resume from was compacted while it was cut off', async () => {
    // given: a replica reaching etcd through a gate
    const gate = await startTcpGate(etcd.endpoint);
    gates.push(gate);
    const writer = await open();
    const replica = await open({ endpoint: gate.endpoint });
    await writer.apply([{ op: 'put', resource: route('a') }, { op: 'put', resource: route('b') }]);
    await waitFor('replica sees a and b', () => replica.current().length === 2);
    // when: cut off, changes happen and the history is compacted past them
    await gate.cut();
    await writer.apply([{ op: 'delete', ref: { type: 'Route', mesh: 'default', name: 'a' } }, { op: 'put', resource: route('b', 'changed.acme.org') }]);
    await writer.put(route('c'));
    await etcd.compact();
    await gate.restore();
    // then
    await waitFor('replica relisted', () => JSON.stringify(replica.current().map((s) => s.resource)) === JSON.stringify([route('b', 'changed.acme.org'), route('c')]), { timeoutMs: 30_000 });
    // and it keeps watching after the relist
    await writer.put(route('e'));
    await waitFor('replica sees e', () => replica.current().some((s) => s.resource.name === 'e'), { timeoutMs: 10_000 });
  });
});

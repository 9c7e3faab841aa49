/**
 * Token lifecycle (SPEC §2, as Kuma): tokens carry an id and a key id; `meshcp token revoke` and
 * `meshcp token rotate-signing-key` / `remove-signing-key` take effect on every replica without a
 * restart (the replicas follow the store), and the open xDS streams of a revoked token (or of a
 * removed or retired key) end. Through the real `serve` path: two replicas on etcd, and a data
 * directory server.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readTokenUnverified } from '../../src/auth/token.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { CLUSTER_TYPE } from '../../src/snapshot/types.js';
import { runCli } from '../cli/harness.js';
import { FakeEnvoy } from '../helpers/fake-envoy.js';
import { bufferLogger } from '../helpers/log-buffer.js';
import { waitFor } from '../helpers/wait.js';
import { startEtcdReplicas, type EtcdReplicas } from './store-replicas.js';

const RESOURCES = `type: Mesh
name: default
---
type: Dataplane
name: web-01
networking:
  address: 127.0.0.1
  inbound: [{ port: 8080, servicePort: 18080, tags: { kuma.io/service: web } }]
`;

describe('token revocation and signing-key rotation', () => {
  let env: EtcdReplicas;
  let prefix = 0;
  const clients: FakeEnvoy[] = [];

  /** A proxy stream for web-01 with `token`, once it is being served (its first CDS answered). */
  const connect = async (server: RunningServer, token: string): Promise<FakeEnvoy> => {
    const client = new FakeEnvoy({ address: server.xdsAddress, mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'default', token } }, autoAck: true });
    clients.push(client);
    client.subscribe(CLUSTER_TYPE, []);
    await client.nextOf(CLUSTER_TYPE, 20_000);
    return client;
  };

  /** The final status of a fresh stream with `token`: refused, or undefined when it is served. */
  const attempt = async (server: RunningServer, token: string): Promise<string | undefined> => {
    const client = new FakeEnvoy({ address: server.xdsAddress, mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'default', token } } });
    clients.push(client);
    client.subscribe(CLUSTER_TYPE, []);
    const outcome = await Promise.race([client.nextOf(CLUSTER_TYPE, 20_000).then(() => undefined), client.closed(20_000).then((s) => `${s.code}: ${s.details}`)]);
    client.close();
    return outcome;
  };

  const cli = async (args: readonly string[]): Promise<string> => {
    const run = await runCli(args);
    expect(run.stderr, args.join(' ')).toBe('');
    expect(run.code).toBe(0);
    return run.stdout.trim();
  };

  const twoReplicas = async (): Promise<[RunningServer, RunningServer]> => {
    prefix++;
    const a = await env.replica(`tokens-${prefix}`);
    const b = await env.replica(`tokens-${prefix}`);
    fs.writeFileSync(path.join(env.dir, 'resources.yaml'), RESOURCES);
    await cli(['apply', '-f', path.join(env.dir, 'resources.yaml'), '--server', a.adminUrl]);
    await waitFor('web-01 defined on B', () => b.sources.served()?.resources.some((r) => r.name === 'web-01'));
    return [a, b];
  };

  beforeAll(async () => {
    env = await startEtcdReplicas();
  }, 120_000);

  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });

  afterAll(async () => {
    await env?.stop();
  });

  it('revoking a token through one replica ends its open stream on the other, and refuses it everywhere', async () => {
    // given: two tokens for web-01 minted through replica A, each with its own id
    const [a, b] = await twoReplicas();
    const revoked = await cli(['token', 'generate', '--name', 'web-01', '--server', a.adminUrl]);
    const kept = await cli(['token', 'generate', '--name', 'web-01', '--server', a.adminUrl]);
    const revokedId = readTokenUnverified(revoked).claims?.jti;
    expect(revokedId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(readTokenUnverified(kept).claims?.jti).not.toBe(revokedId);
    // and: web-01 streaming from replica B with the first
    const open = await connect(b, revoked);
    const other = await connect(b, kept);
    const tokenFile = path.join(env.dir, 'revoked.token');
    fs.writeFileSync(tokenFile, revoked, { mode: 0o600 });
    // when: it is revoked through A, by token file
    expect(await cli(['token', 'revoke', '--token-file', tokenFile, '--server', a.adminUrl])).toBe(`token ${revokedId} revoked`);
    // then: its stream on B ends, naming the revocation; the other token's stream goes on
    const status = await open.closed(20_000);
    expect(status.code).toBe(16); // UNAUTHENTICATED
    expect(status.details).toContain(`token ${revokedId} was revoked at`);
    expect(await attempt(a, revoked)).toMatch(/^16: .*was revoked/);
    expect(await attempt(b, revoked)).toMatch(/^16: .*was revoked/);
    await other.barrier();
    expect(await attempt(a, kept)).toBeUndefined();
    // and: revoking by id, again, says so
    expect(await cli(['token', 'revoke', '--id', revokedId ?? '', '--server', b.adminUrl])).toBe(`token ${revokedId} was already revoked`);
  }, 120_000);

  it('rotating the signing key: the new key signs on every replica, the old one verifies until removed, then its streams end', async () => {
    // given: a token signed with the first key, streaming from B
    const [a, b] = await twoReplicas();
    const before = await cli(['token', 'generate', '--name', 'web-01', '--server', a.adminUrl]);
    const oldKid = readTokenUnverified(before).kid;
    expect(oldKid).toMatch(/^k-[0-9a-f]{16}$/);
    const open = await connect(b, before);
    // when: the key is rotated through A, with a grace period
    const rotated = await cli(['token', 'rotate-signing-key', '--grace', '1h', '--server', a.adminUrl]);
    const newKid = /new signing key (k-[0-9a-f]{16})/.exec(rotated)?.[1];
    expect(newKid).toBeDefined();
    expect(newKid).not.toBe(oldKid);
    // then: B signs with the new key without a restart, and both tokens are accepted on both replicas
    const after = await waitFor('B signing with the new key', async () => {
      const t = await cli(['token', 'generate', '--name', 'web-01', '--server', b.adminUrl]);
      return readTokenUnverified(t).kid === newKid ? t : undefined;
    });
    for (const server of [a, b]) {
      expect(await attempt(server, before)).toBeUndefined();
      expect(await attempt(server, after)).toBeUndefined();
    }
    const listed = await cli(['token', 'signing-keys', '--server', b.adminUrl]);
    expect(listed).toMatch(new RegExp(`${newKid}\\tsigns`));
    expect(listed).toMatch(new RegExp(`${oldKid}\\tverifies\\t-\\t\\d{4}-`));
    await open.barrier();
    // when: the old key is removed through B (the key that signs cannot be)
    const refused = await runCli(['token', 'remove-signing-key', newKid ?? '', '--server', b.adminUrl]);
    expect(refused.stderr).toContain(`key ${newKid} signs new tokens; rotate first`);
    await cli(['token', 'remove-signing-key', oldKid ?? '', '--server', b.adminUrl]);
    // then: the old token's stream on B ends, and the old token is refused by A
    const status = await open.closed(20_000);
    expect(status.details).toContain(`signed with key ${oldKid}, which was removed`);
    expect(await waitFor('A refusing the old key', async () => (await attempt(a, before)) ?? false)).toMatch(/which was removed/);
    expect(await attempt(a, after)).toBeUndefined();
  }, 120_000);

  it('a rotation without grace retires the old key at once: its streams end on every replica', async () => {
    // given
    const [a, b] = await twoReplicas();
    const before = await cli(['token', 'generate', '--name', 'web-01', '--server', a.adminUrl]);
    const onA = await connect(a, before);
    const onB = await connect(b, before);
    // when
    await cli(['token', 'rotate-signing-key', '--grace', '0s', '--server', a.adminUrl]);
    // then
    for (const client of [onA, onB]) expect((await client.closed(20_000)).details).toMatch(/signed with key k-[0-9a-f]{16}, retired at|its signing key retired at/);
    expect(await attempt(b, before)).toMatch(/retired at/);
  }, 120_000);

  it('a signing key deleted from etcd by hand is gone at once: its streams end, and the replicas agree on a new key', async () => {
    // given
    const [a, b] = await twoReplicas();
    const before = await cli(['token', 'generate', '--name', 'web-01', '--server', a.adminUrl]);
    const open = await connect(b, before);
    // when: someone deletes the key from etcd
    await env.etcd.client().delete().key(`/tokens-${prefix}/blobs/auth/token-signing.key`).exec();
    // then: the stream that presented a token it signed ends, without a restart
    expect((await open.closed(20_000)).details).toMatch(/signed with key k-[0-9a-f]{16}, which this control plane does not have|no token signing key verifies/);
    // and: new tokens are signed, by one key both replicas share
    const fresh = await waitFor('a token from the new key', async () => {
      const t = await runCli(['token', 'generate', '--name', 'web-01', '--server', a.adminUrl]);
      return t.code === 0 && readTokenUnverified(t.stdout.trim()).kid !== readTokenUnverified(before).kid ? t.stdout.trim() : undefined;
    });
    await waitFor('B accepting it', async () => (await attempt(b, fresh)) === undefined);
    expect(await attempt(a, before)).toBeDefined();
  }, 120_000);

  it('a data directory server: revoke and rotate through its admin API; offline changes are refused while it runs', async () => {
    // given
    const dataDir = path.join(env.dir, 'data-dir-server');
    const configFile = path.join(env.dir, 'dd-config.yaml');
    fs.writeFileSync(configFile, RESOURCES);
    const logs = bufferLogger();
    const server = await startServer({ config: [configFile], dataDir, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'token', xdsPlaintext: true }, logs.log);
    try {
      const token = await cli(['token', 'generate', '--name', 'web-01', '--server', server.adminUrl]);
      const open = await connect(server, token);
      // when: revoked by id
      await cli(['token', 'revoke', '--id', readTokenUnverified(token).claims?.jti ?? '', '--server', server.adminUrl]);
      // then
      expect((await open.closed(20_000)).details).toContain('was revoked');
      // and: a rotation signs offline tokens too (generate --data-dir reads the current key)
      await cli(['token', 'rotate-signing-key', '--server', server.adminUrl]);
      const offline = await cli(['token', 'generate', '--name', 'web-01', '--data-dir', dataDir]);
      expect(readTokenUnverified(offline).kid).toBe(readTokenUnverified(await cli(['token', 'generate', '--name', 'web-01', '--server', server.adminUrl])).kid);
      expect(await attempt(server, offline)).toBeUndefined();
      // and: changing the keys offline while the server holds the directory is refused, naming the way
      const refused = await runCli(['token', 'rotate-signing-key', '--data-dir', dataDir]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/is in use by another meshcp serve \(pid \d+.*make this change through it instead/);
      expect(logs.text()).not.toContain(token);
    } finally {
      await server.close();
    }
  }, 120_000);
});


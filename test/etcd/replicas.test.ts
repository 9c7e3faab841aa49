/**
 * Two `meshcp serve` replicas on one etcd (SPEC §5, issue #12), as a user runs them: mTLS to
 * etcd with client-certificate auth, the encryption key file, token auth on xDS. Each test uses
 * its own key prefix (`etcd://HOST:PORT/<prefix>`), so the tests share one etcd.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadOrCreateStoredSigningKey } from '../../src/auth/signing-key-store.js';
import { generateToken } from '../../src/auth/token.js';
import { createRootCa } from '../../src/ca/pki.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { createLogger, silentLogger } from '../../src/log/logger.js';
import { documentToResource } from '../../src/store/document.js';
import { EtcdStore } from '../../src/store/etcd-store.js';
import { CLUSTER_TYPE } from '../../src/snapshot/types.js';
import { BASE_RESOURCES, runCli } from '../cli/harness.js';
import { startEtcd, startTcpGate, type TcpGate, type TestEtcd, etcdStoreFlags } from '../helpers/etcd.js';
import { FakeEnvoy, namesOf, type ReceivedResponse } from '../helpers/fake-envoy.js';
import { waitFor } from '../helpers/wait.js';

const MESH = `type: Mesh
name: default
`;

const MTLS_MESH = `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends: [{ name: ca-1, type: builtin }]
`;

const dataplane = (name: string, port: number, service: string): string => `type: Dataplane
name: ${name}
mesh: default
networking:
  address: 127.0.0.1
  inbound: [{ port: ${port}, servicePort: ${port + 10000}, tags: { kuma.io/service: ${service}, kuma.io/protocol: http } }]
`;

describe('two replicas on one etcd', () => {
  let etcd: TestEtcd;
  let dir: string;
  let prefixNumber = 0;
  const servers: RunningServer[] = [];
  const clients: FakeEnvoy[] = [];
  const gates: TcpGate[] = [];

  /** A replica on this test's prefix; `endpoint` lets it reach etcd through a gate. */
  const replica = async (options: { endpoint?: string; tls?: boolean; statusLeaseSeconds?: number } = {}): Promise<RunningServer> => {
    const server = await startServer(
      {
        config: [],
        dataDir: path.join(dir, `unused-${servers.length}`),
        xdsAddress: '127.0.0.1:0',
        adminAddress: '127.0.0.1:0',
        auth: 'token',
        ...(options.tls ? {} : { xdsPlaintext: true }),
        ...etcdStoreFlags(etcd, `etcd://${options.endpoint ?? etcd.endpoint}/r${prefixNumber}`),
        ...(options.statusLeaseSeconds !== undefined ? { statusLeaseSeconds: options.statusLeaseSeconds } : {}),
      },
      process.env['DEBUG_REPLICAS'] ? createLogger({ level: 'debug', destination: process.stderr }) : silentLogger(),
    );
    servers.push(server);
    return server;
  };

  const apply = async (server: RunningServer, yaml: string): Promise<{ code: number; stdout: string; stderr: string }> => {
    const file = path.join(dir, `apply-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
    fs.writeFileSync(file, yaml);
    return runCli(['apply', '-f', file, '--server', server.adminUrl]);
  };

  const proxy = (server: RunningServer, name: string, token: string): FakeEnvoy => {
    const client = new FakeEnvoy({ address: server.xdsAddress, mode: 'sotw', node: { id: name, metadata: { mesh: 'default', token } } });
    clients.push(client);
    return client;
  };

  /** The first CDS answer holding `cluster` (an inbound's is `localhost:<servicePort>`), ACKing the ones before it. */
  const clustersWith = async (client: FakeEnvoy, cluster: string): Promise<ReceivedResponse> => {
    if (client.subscribedNames(CLUSTER_TYPE).length === 0 && !client.log.some((e) => e.dir === 'out' && e.request.typeUrl === CLUSTER_TYPE)) client.subscribe(CLUSTER_TYPE, []);
    let last = await client.nextOf(CLUSTER_TYPE, 15_000);
    while (!namesOf(last).includes(cluster)) {
      client.ack(last);
      last = await client.nextOf(CLUSTER_TYPE, 15_000);
    }
    return last;
  };

  /** `meshcp token generate --store …` as a user runs it; it prints to process.stdout. */
  const tokenFromCli = async (name: string): Promise<string> => {
    let printed = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed += chunk.toString();
      return true;
    });
    try {
      const run = await runCli([
        'token', 'generate', '--name', name, '--mesh', 'default',
        '--store', `${etcd.url}/r${prefixNumber}`, '--store-ca-cert', etcd.files.ca, '--store-cert', etcd.files.cert, '--store-key', etcd.files.key,
        '--store-encryption-key-file', etcd.files.encryptionKey,
      ]);
      expect(run.code, run.stderr).toBe(0);
      printed += run.stdout;
    } finally {
      spy.mockRestore();
    }
    return printed.trim();
  };

  beforeAll(async () => {
    etcd = await startEtcd();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-replicas-'));
  }, 60_000);
  afterAll(async () => {
    await etcd.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    prefixNumber++;
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) await s.close();
    for (const g of gates.splice(0)) await g.close();
    if (!etcd.running()) await etcd.restart();
  });

  it('apply through one is served by the other; a token minted through one is accepted by the other; same CDS version on both', async () => {
    // given
    const a = await replica();
    const b = await replica();
    // when
    const applied = await apply(a, `${MESH}---\n${dataplane('web-01', 8080, 'localhost:18080')}`);
    // then
    expect(applied.code, applied.stderr).toBe(0);
    // and: `meshcp token generate --store …` signs with the key the replicas share in etcd
    const token = await tokenFromCli('web-01');
    const [fromA, fromB] = await Promise.all([clustersWith(proxy(a, 'web-01', token), 'localhost:18080'), clustersWith(proxy(b, 'web-01', token), 'localhost:18080')]);
    expect(fromB.version).toBe(fromA.version);
    expect(fromB.resources).toEqual(fromA.resources);
    // and: `get` through B lists what was applied through A
    const listed = await runCli(['get', 'dataplanes', '-o', 'json', '--server', b.adminUrl]);
    expect(listed.stdout).toContain('web-01');
  }, 60_000);

  it('a token signed with another key is refused by both', async () => {
    // given
    const a = await replica();
    const b = await replica();
    await apply(a, `${MESH}---\n${dataplane('web-01', 8080, 'localhost:18080')}`);
    const forged = generateToken({ name: 'web-01', mesh: 'default', validForSeconds: 600 }, Buffer.alloc(32, 1));
    // when
    const refused = await Promise.all([a, b].map(async (server) => {
      const client = proxy(server, 'web-01', forged);
      client.subscribe(CLUSTER_TYPE, []);
      return client.closed(10_000);
    }));
    // then
    for (const status of refused) expect(status.details).toMatch(/token/i);
  }, 60_000);

  it('a cold start of two replicas on an empty store ends with one control-plane CA, one mesh CA and one signing key (10 runs)', async () => {
    for (let run = 0; run < 10; run++) {
      // given: a fresh prefix holding only a Mesh with a builtin CA
      prefixNumber++;
      const seed = await EtcdStore.open(`${etcd.url}/r${prefixNumber}`, { encryptionKey: etcd.encryptionKey, tls: etcd.tls });
      await seed.put(documentToResource(YAML.parse(MTLS_MESH), 'test'));
      await seed.close();
      // when: both start at once, xDS TLS on (so each needs the control-plane CA)
      const [a, b] = await Promise.all([replica({ tls: true }), replica({ tls: true })]);
      // then
      expect(a.xdsCaPem).toBeDefined();
      expect(b.xdsCaPem, `run ${run}`).toBe(a.xdsCaPem);
      const meshCa = (s: RunningServer): string | undefined => s.controlPlane.identities.builtinCas().find((ca) => ca.backend === 'ca-1')?.certPem;
      const [caA, caB] = await Promise.all([waitFor('mesh CA on A', () => meshCa(a)), waitFor('mesh CA on B', () => meshCa(b))]);
      expect(caB, `run ${run}`).toBe(caA);
      expect((await loadOrCreateStoredSigningKey(b.store)).equals(await loadOrCreateStoredSigningKey(a.store))).toBe(true);
      // and etcd holds exactly one of each: the signing key, the mesh CA, the control-plane CA
      const keys = (await etcd.client().getAll().prefix(`/r${prefixNumber}/blobs/`).keys()).map((k) => k.slice(`/r${prefixNumber}/blobs/`.length).split('/')[0]);
      expect(keys.sort(), `run ${run}`).toEqual(['auth', 'ca', 'control-plane']);
      for (const s of servers.splice(0)) await s.close();
    }
  }, 180_000);

  it('etcd killed under load: established config keeps being served, a write fails clearly and is not half-applied, /readyz says why, the next write lands on both', async () => {
    // given
    const a = await replica();
    const b = await replica();
    expect((await apply(a, `${MESH}---\n${dataplane('web-01', 8080, 'localhost:18080')}`)).code).toBe(0);
    const token = generateToken({ name: 'web-01', mesh: 'default', validForSeconds: 600 }, await loadOrCreateStoredSigningKey(a.store));
    const established = proxy(b, 'web-01', token);
    const before = await clustersWith(established, 'localhost:18080');
    // when
    await etcd.kill();
    const during = await apply(a, `${dataplane('web-02', 8081, 'localhost:18080')}---\n${dataplane('db-01', 8082, 'localhost:18082')}`);
    // then: the write fails naming the store, exit code non-zero
    expect(during.code).not.toBe(0);
    expect(during.stderr).toMatch(new RegExp(`etcd://${etcd.endpoint}/r${prefixNumber}: unavailable`));
    // and: 0 failed calls on established config: new proxies on both replicas get the same clusters
    for (let i = 0; i < 10; i++) {
      for (const server of [a, b]) {
        const fresh = await clustersWith(proxy(server, 'web-01', token), 'localhost:18080');
        expect(fresh.version).toBe(before.version);
      }
    }
    // and: /readyz says why
    const ready = await waitFor('readyz 503', async () => {
      const res = await fetch(`${b.adminUrl}/readyz`);
      return res.status === 503 ? res.text() : undefined;
    });
    expect(ready).toContain(`etcd://${etcd.endpoint}/r${prefixNumber}: unavailable`);
    // when etcd returns
    await etcd.restart();
    await waitFor('a write after the outage', async () => (await apply(b, dataplane('web-03', 8083, 'localhost:18080'))).code === 0, { timeoutMs: 30_000, intervalMs: 250 });
    // then: it lands on both, and nothing of the failed write appears
    for (const server of [a, b]) {
      await waitFor('web-03 on both', async () => (await runCli(['get', 'dataplanes', '-o', 'json', '--server', server.adminUrl])).stdout.includes('web-03'), { timeoutMs: 15_000 });
      const listed = (await runCli(['get', 'dataplanes', '-o', 'json', '--server', server.adminUrl])).stdout;
      expect(listed).not.toContain('web-02');
      expect(listed).not.toContain('db-01');
    }
    await waitFor('readyz 200', async () => (await fetch(`${b.adminUrl}/readyz`)).status === 200, { timeoutMs: 30_000 });
  }, 120_000);

  it('20 concurrent `route update --client-certificate-subject` split across both replicas keep all 20', async () => {
    // given: a route with a client CA, visible on both replicas
    const a = await replica();
    const b = await replica();
    const ca = await createRootCa({ commonName: 'Clients CA', validitySeconds: 86_400 });
    const caFile = path.join(dir, `clients-ca-${prefixNumber}.pem`);
    fs.writeFileSync(caFile, ca.certPem);
    expect((await apply(a, BASE_RESOURCES)).code).toBe(0);
    expect((await runCli(['secret', 'create', 'tls-ca', 'my-root-ca', '--cert', caFile, '--server', a.adminUrl])).code).toBe(0);
    const created = await runCli(['route', 'create', 'ecommerce', '--host', 'ecommerce.acme.org', '--client-ca-secret', 'my-root-ca', '--path-prefix', '/=shopping-cart', '--server', a.adminUrl]);
    expect(created.code, created.stderr).toBe(0);
    await waitFor('route on B', () => b.store.current().some((s) => s.resource.type === 'Route'));
    // when: 20 read-modify-writes at once, alternating replicas
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => runCli(['route', 'update', 'ecommerce', '--client-certificate-subject', `client-${i}.acme.org`, '--server', (i % 2 === 0 ? a : b).adminUrl])),
    );
    // then: every update succeeded and none was lost, as seen through either replica
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    const expected = Array.from({ length: 20 }, (_, i) => `client-${i}.acme.org`).sort();
    for (const server of [a, b]) {
      const subjects = await waitFor('all 20 subjects', async () => {
        const got = await runCli(['route', 'get', 'ecommerce', '-o', 'json', '--server', server.adminUrl]);
        const doc = JSON.parse(got.stdout) as { resource?: { validation?: { clientCertificate?: { subjectMatches?: { exact?: string }[] } } }; validation?: { clientCertificate?: { subjectMatches?: { exact?: string }[] } } };
        const matches = (doc.resource ?? doc).validation?.clientCertificate?.subjectMatches ?? [];
        return matches.length === 20 ? matches.map((m) => m.exact ?? '').sort() : undefined;
      }, { timeoutMs: 15_000 });
      expect(subjects).toEqual(expected);
    }
  }, 120_000);

  it('inspect dataplanes on either replica shows every proxy, Online where it is connected; a replica cut off from etcd loses its proxies when its lease expires', async () => {
    // given: web-01 connected to A, db-01 to B (B reaches etcd through a gate), 2 s status leases
    const gate = await startTcpGate(etcd.endpoint);
    gates.push(gate);
    const a = await replica({ statusLeaseSeconds: 2 });
    const b = await replica({ endpoint: gate.endpoint, statusLeaseSeconds: 2 });
    expect((await apply(a, `${MESH}---\n${dataplane('web-01', 8080, 'web')}---\n${dataplane('db-01', 8082, 'db')}`)).code).toBe(0);
    const key = await loadOrCreateStoredSigningKey(a.store);
    const token = (name: string): string => generateToken({ name, mesh: 'default', validForSeconds: 600 }, key);
    await waitFor('B has the dataplanes', () => b.store.current().length === 3);
    await clustersWith(proxy(a, 'web-01', token('web-01')), 'localhost:18080');
    await clustersWith(proxy(b, 'db-01', token('db-01')), 'localhost:18082');
    const statuses = async (server: RunningServer): Promise<Record<string, string>> => {
      const run = await runCli(['inspect', 'dataplanes', '-o', 'json', '--server', server.adminUrl]);
      const rows = JSON.parse(run.stdout) as { name: string; status: string }[];
      return Object.fromEntries(rows.map((r) => [r.name, r.status]));
    };
    // then: both replicas show both proxies Online
    for (const server of [a, b]) {
      await waitFor('both Online', async () => JSON.stringify(await statuses(server)) === JSON.stringify({ 'db-01': 'Online', 'web-01': 'Online' }), { timeoutMs: 10_000 });
    }
    // when: B is cut off from etcd (its proxy stays connected to it, but B can no longer renew its lease)
    await gate.cut();
    // then: once the lease expires, A shows db-01 Offline and web-01 still Online
    await waitFor('db-01 Offline on A', async () => JSON.stringify(await statuses(a)) === JSON.stringify({ 'db-01': 'Offline', 'web-01': 'Online' }), { timeoutMs: 15_000 });
    // and: B still shows its own proxy Online
    expect((await statuses(b))['db-01']).toBe('Online');
  }, 60_000);

  it('a replica cut off while the history is compacted relists and serves the new config', async () => {
    // given: B reaches etcd through a gate
    const gate = await startTcpGate(etcd.endpoint);
    gates.push(gate);
    const a = await replica();
    const b = await replica({ endpoint: gate.endpoint });
    expect((await apply(a, `${MESH}---\n${dataplane('web-01', 8080, 'localhost:18080')}`)).code).toBe(0);
    const token = generateToken({ name: 'web-01', mesh: 'default', validForSeconds: 600 }, await loadOrCreateStoredSigningKey(a.store));
    await clustersWith(proxy(b, 'web-01', token), 'localhost:18080');
    // when: B is cut off, A changes the config, etcd compacts the history
    await gate.cut();
    expect((await apply(a, `${dataplane('db-01', 8082, 'localhost:18082')}`)).code).toBe(0);
    await etcd.compact();
    await gate.restore();
    // then: B serves what A applied (a proxy of the new dataplane gets its cluster from B)
    const dbToken = generateToken({ name: 'db-01', mesh: 'default', validForSeconds: 600 }, await loadOrCreateStoredSigningKey(a.store));
    await waitFor('B relisted', () => b.store.current().some((s) => s.resource.name === 'db-01'), { timeoutMs: 30_000 });
    const fromB = await clustersWith(proxy(b, 'db-01', dbToken), 'localhost:18082');
    const fromA = await clustersWith(proxy(a, 'db-01', dbToken), 'localhost:18082');
    expect(fromB.version).toBe(fromA.version);
  }, 60_000);
});

/**
 * Proxy status in etcd does not grow with the fleet: a replica serving a few hundred proxies,
 * through their connects, ACKs, a config change everyone ACKs and their disconnects, makes at most
 * one status write per flush interval (store/etcd-status.ts), counted by etcd itself
 * (`etcd_server_proposals_committed_total` on its /metrics: every write is one proposal). Another
 * replica still shows every proxy Online, with its ACKs, then Offline.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import type { EtcdStore } from '../../src/store/etcd-store.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE } from '../../src/snapshot/types.js';
import { runCli } from '../cli/harness.js';
import { etcdCommittedWrites as committedWrites, startEtcd, type TestEtcd, etcdStoreFlags } from '../helpers/etcd.js';
import { FakeEnvoy, namesOf } from '../helpers/fake-envoy.js';
import { waitFor } from '../helpers/wait.js';

const PROXIES = 200;
const FLUSH_MS = 500;
/** Writes that are not proxy status and may fall in the window: the one apply of the change, a lease grant per replica and its revoke, and slack for etcd's own. */
const OTHER_WRITES = 8;

const dataplane = (name: string, port: number, service: string): string => `type: Dataplane
name: ${name}
mesh: default
networking:
  address: 127.0.0.1
  inbound: [{ port: ${port}, servicePort: ${port + 10000}, tags: { kuma.io/service: ${service}, kuma.io/protocol: http } }]
  outbound: [{ port: 10000, tags: { kuma.io/service: ext } }]
`;

/** The Service every proxy calls: a new endpoint changes every proxy's EDS. */
const ext = (endpoints: number): string => `type: Service
name: ext
mesh: default
endpoints: [${Array.from({ length: endpoints }, (_, i) => `{ address: 10.200.0.${i + 1}, port: 5432 }`).join(', ')}]
`;

interface Row {
  readonly name: string;
  readonly status: string;
  readonly totalUpdates: number;
}

describe('proxy status writes to etcd', () => {
  let etcd: TestEtcd;
  let dir: string;
  const servers: RunningServer[] = [];
  const clients: FakeEnvoy[] = [];

  beforeAll(async () => {
    etcd = await startEtcd();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-status-writes-'));
  }, 60_000);
  afterAll(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) await s.close();
    await etcd?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const replica = async (): Promise<RunningServer> => {
    const server = await startServer(
      {
        config: [],
        dataDir: path.join(dir, `unused-${servers.length}`),
        xdsAddress: '127.0.0.1:0',
        adminAddress: '127.0.0.1:0',
        auth: 'none',
        xdsPlaintext: true,
        ...etcdStoreFlags(etcd, `${etcd.url}/writes`),
        statusFlushIntervalMs: FLUSH_MS,
      },
      silentLogger(),
    );
    servers.push(server);
    return server;
  };

  const apply = async (server: RunningServer, yaml: string): Promise<void> => {
    const file = path.join(dir, `apply-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
    fs.writeFileSync(file, yaml);
    const run = await runCli(['apply', '-f', file, '--server', server.adminUrl]);
    expect(run.code, run.stderr).toBe(0);
  };

  const rowsOn = async (server: RunningServer): Promise<Row[]> => {
    const res = await fetch(`${server.adminUrl}/api/inspect/dataplanes?mesh=default`);
    return ((await res.json()) as { items: Row[] }).items;
  };

  /** The status rows in etcd (what every other replica reads): how many say the proxy ACKed the version it last received of `typeUrl`. */
  const ackedInEtcd = async (typeUrl: string, versions: ReadonlyMap<string, string>): Promise<number> => {
    const rows = await etcd.client().getAll().prefix('/writes/status/').strings();
    let acked = 0;
    for (const value of Object.values(rows)) {
      const record = JSON.parse(value) as { nodeId: string; types: [string, { lastAckedVersion?: string }][] };
      const version = versions.get(record.nodeId);
      if (version !== undefined && record.types.some(([url, t]) => url === typeUrl && t.lastAckedVersion === version)) acked++;
    }
    return acked;
  };
  const lastVersion = (client: FakeEnvoy, typeUrl: string): string | undefined => client.received.filter((r) => r.typeUrl === typeUrl).at(-1)?.version;

  it('hundreds of proxies connecting, ACKing a change and leaving cause at most one status write per flush interval; another replica shows them all', async () => {
    // given: replica A serves the proxies, replica B only reads their status
    const a = await replica();
    const b = await replica();
    const names = Array.from({ length: PROXIES }, (_, i) => `web-${String(i).padStart(3, '0')}`);
    await apply(a, ['type: Mesh\nname: default\n', ext(1), ...names.map((n, i) => dataplane(n, 20000 + i, 'web'))].join('---\n'));
    await waitFor('B has the resources', () => b.store.current().length === PROXIES + 2, { timeoutMs: 30_000 });
    const writesBefore = await committedWrites(etcd);
    const started = performance.now();

    // when: every proxy connects and ACKs its clusters, their endpoints and its listeners
    for (const name of names) {
      const client = new FakeEnvoy({
        address: a.xdsAddress,
        mode: 'sotw',
        node: { id: name, metadata: { mesh: 'default' } },
        autoAck: true,
        onResponse: (response, envoy) => {
          if (response.typeUrl === CLUSTER_TYPE && envoy.subscribedNames(ENDPOINT_TYPE).length === 0) envoy.subscribe(ENDPOINT_TYPE, namesOf(response));
        },
      });
      clients.push(client);
      client.subscribe(CLUSTER_TYPE, []);
      client.subscribe(LISTENER_TYPE, []);
    }
    // then: B shows every proxy Online
    await waitFor('B shows every proxy Online', async () => (await rowsOn(b)).filter((r) => r.status === 'Online').length === PROXIES, { timeoutMs: 120_000, intervalMs: 200 });

    await waitFor('every proxy has its endpoints', () => clients.every((c) => lastVersion(c, ENDPOINT_TYPE) !== undefined), { timeoutMs: 120_000, intervalMs: 100 });
    const before = new Map(clients.map((c) => [c.nodeId, lastVersion(c, ENDPOINT_TYPE)!]));

    // when: a change reaches every proxy (a new endpoint of the Service each calls) and each ACKs it
    await apply(a, ext(2));
    await waitFor('every proxy got the new endpoints', () => clients.every((c) => lastVersion(c, ENDPOINT_TYPE) !== before.get(c.nodeId)), { timeoutMs: 120_000, intervalMs: 100 });
    const after = new Map(clients.map((c) => [c.nodeId, lastVersion(c, ENDPOINT_TYPE)!]));
    // then: the ACK of that version reaches etcd for every proxy, so B (which reads these rows) shows it
    await waitFor('every ACK published', async () => (await ackedInEtcd(ENDPOINT_TYPE, after)) === PROXIES, { timeoutMs: 120_000, intervalMs: 200 });
    expect((await rowsOn(b)).filter((r) => r.name.startsWith('web-') && r.status === 'Online')).toHaveLength(PROXIES);

    // when: every proxy leaves
    for (const c of clients.splice(0)) c.close();
    // then: B shows every proxy Offline
    await waitFor('B shows every proxy Offline', async () => (await rowsOn(b)).filter((r) => r.name.startsWith('web-') && r.status === 'Offline').length === PROXIES, { timeoutMs: 120_000, intervalMs: 200 });
    const elapsedMs = performance.now() - started;
    const writes = (await committedWrites(etcd)) - writesBefore;

    // then: etcd committed at most one status write per flush interval over the whole run (plus the
    // few other writes), though each proxy changed several times: ~3 rows per proxy were written
    const bound = Math.ceil(elapsedMs / FLUSH_MS) + OTHER_WRITES;
    const counts = (a.store as EtcdStore).statusWrites();
    expect(counts.rows).toBeGreaterThanOrEqual(2 * PROXIES);
    expect(writes, `${writes} etcd writes in ${Math.round(elapsedMs)} ms (${counts.txns} status transactions carrying ${counts.rows} rows); bound ${bound}`).toBeLessThanOrEqual(bound);
    expect(counts.txns).toBeLessThanOrEqual(bound);
  }, 300_000);
});

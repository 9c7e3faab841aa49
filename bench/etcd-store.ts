/**
 * Benchmark of the etcd store (issue #12): `npm run build && node dist/bench/etcd-store.js`.
 *
 * 1. Apply-to-proxy latency: `meshcp apply` (admin API) of a change to a Dataplane until its
 *    connected proxy receives the CDS answer holding the new cluster. File store; etcd with the
 *    proxy on the replica applied to; etcd with the proxy on the other replica.
 * 2. Replica catch-up after a 1,000-resource change: one apply of 1,000 Dataplanes through
 *    replica A; time until A answers, until B's store holds them, until B serves them.
 *
 * etcd runs locally (test/helpers/etcd.ts: TLS with client certificates, --max-txn-ops 10000).
 * Prints one JSON document.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startServer, type RunningServer, type ServeOptions } from '../src/cli/serve.js';
import { silentLogger } from '../src/log/logger.js';
import { CLUSTER_TYPE } from '../src/snapshot/types.js';
import { startEtcd, type TestEtcd } from '../test/helpers/etcd.js';
import { FakeEnvoy, namesOf } from '../test/helpers/fake-envoy.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 30);
const BULK = Number(process.env['BENCH_BULK'] ?? 1000);

function dataplane(name: string, servicePort: number, service = 'web'): string {
  return `type: Dataplane
name: ${name}
mesh: default
networking:
  address: 127.0.0.1
  inbound: [{ port: 8080, servicePort: ${servicePort}, tags: { kuma.io/service: ${service}, kuma.io/protocol: http } }]
`;
}

async function apply(server: RunningServer, yaml: string): Promise<void> {
  const res = await fetch(`${server.adminUrl}/api/apply`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml });
  if (!res.ok) throw new Error(`apply: ${res.status} ${await res.text()}`);
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function summary(samples: number[]): { median: number; p90: number; max: number; n: number } {
  const s = [...samples].sort((a, b) => a - b);
  const r = (x: number): number => Math.round(x * 10) / 10;
  return { median: r(percentile(s, 50)), p90: r(percentile(s, 90)), max: r(s.at(-1) ?? NaN), n: s.length };
}

async function applyToProxy(writer: RunningServer, servedBy: RunningServer): Promise<ReturnType<typeof summary>> {
  await apply(writer, `type: Mesh\nname: default\n---\n${dataplane('web-01', 20000)}`);
  const proxy = new FakeEnvoy({ address: servedBy.xdsAddress, mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'default' } } });
  try {
    proxy.subscribe(CLUSTER_TYPE, []);
    const waitFor = async (cluster: string): Promise<void> => {
      for (;;) {
        const response = await proxy.nextOf(CLUSTER_TYPE, 30_000);
        proxy.ack(response);
        if (namesOf(response).includes(cluster)) return;
      }
    };
    await waitFor('localhost:20000');
    const samples: number[] = [];
    for (let i = 1; i <= ROUNDS; i++) {
      const start = performance.now();
      await apply(writer, dataplane('web-01', 20000 + i));
      await waitFor(`localhost:${20000 + i}`);
      samples.push(performance.now() - start);
    }
    return summary(samples);
  } finally {
    proxy.close();
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-bench-etcd-'));
  let etcd: TestEtcd | undefined;
  const servers: RunningServer[] = [];
  const serve = async (extra: Partial<ServeOptions>): Promise<RunningServer> => {
    const server = await startServer(
      { config: [], dataDir: path.join(dir, `data-${servers.length}`), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'none', xdsPlaintext: true, ...extra },
      silentLogger(),
    );
    servers.push(server);
    return server;
  };
  try {
    etcd = await startEtcd();
    const e = etcd;
    const etcdOptions = (prefix: string): Partial<ServeOptions> => ({
      store: `${e.url}/${prefix}`,
      storeCaCert: e.files.ca,
      storeCert: e.files.cert,
      storeKey: e.files.key,
      storeEncryptionKeyFile: e.files.encryptionKey,
    });
    const file = await serve({});
    const fileLatency = await applyToProxy(file, file);
    const a = await serve(etcdOptions('latency'));
    const b = await serve(etcdOptions('latency'));
    const etcdSame = await applyToProxy(a, a);
    const etcdOther = await applyToProxy(a, b);

    const bulkA = await serve(etcdOptions('bulk'));
    const bulkB = await serve(etcdOptions('bulk'));
    const bulkFile = await serve({});
    const docs = Array.from({ length: BULK }, (_, i) => dataplane(`dp-${String(i).padStart(4, '0')}`, 30000 + i, `svc-${i % 50}`)).join('---\n');
    // The admin API takes at most 1,000 documents per apply: the Mesh goes first, on its own.
    for (const s of [bulkFile, bulkA]) await apply(s, 'type: Mesh\nname: default\n');
    while ((bulkB.sources.served()?.resources.length ?? 0) < 1) await new Promise((resolve) => setTimeout(resolve, 2));
    const bulkYaml = docs;
    let start = performance.now();
    await apply(bulkFile, bulkYaml);
    const fileApplyMs = performance.now() - start;
    start = performance.now();
    // B is watched while A applies: each time is from the start of the apply.
    const until = async (done: () => boolean): Promise<number> => {
      while (!done()) await new Promise((resolve) => setTimeout(resolve, 1));
      return performance.now() - start;
    };
    const [applyMs, storeMs, servedMs] = await Promise.all([
      apply(bulkA, bulkYaml).then(() => performance.now() - start),
      until(() => bulkB.store.current().length >= BULK + 1),
      until(() => (bulkB.sources.served()?.resources.length ?? 0) >= BULK + 1),
    ]);
    const round = (x: number): number => Math.round(x);
    process.stdout.write(
      `${JSON.stringify(
        {
          machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
          applyToProxyMs: { fileStore: fileLatency, etcdSameReplica: etcdSame, etcdOtherReplica: etcdOther },
          bulk: {
            resources: BULK,
            fileStoreApplyMs: round(fileApplyMs),
            etcdApplyOnAMs: round(applyMs),
            etcdInStoreOfBMs: round(storeMs),
            etcdServedByBMs: round(servedMs),
          },
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    for (const s of servers) await s.close();
    await etcd?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

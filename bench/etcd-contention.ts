/**
 * Writes under contention on etcd (SPEC §5): `npm run build && node dist/bench/etcd-contention.js`.
 *
 * N concurrent `meshcp route update r1 --client-certificate-subject cI.acme.org` (in process,
 * through main()), alternating between two replicas on one etcd, for N = 20 and 100: the latency
 * of each writer from start to exit (median, p90, max), how many landed, how many gave up (naming
 * the conflict), how many failed otherwise, and how many of those were etcd3's circuit breaker
 * (a broken circuit shows as "unavailable … Breaker is open"): a compare-and-swap that fails is a
 * successful etcd call, so it should never count against the breaker.
 *
 * etcd runs locally (test/helpers/etcd.ts). Prints one JSON document.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createRootCa } from '../src/ca/pki.js';
import { startServer, type RunningServer } from '../src/cli/serve.js';
import { silentLogger } from '../src/log/logger.js';
import { BASE_RESOURCES, runCli } from '../test/cli/harness.js';
import { startEtcd, type TestEtcd, etcdStoreFlags } from '../test/helpers/etcd.js';

const SIZES = (process.env['BENCH_WRITERS'] ?? '20,100').split(',').map(Number);

function summary(samples: number[]): { median: number; p90: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
  const r = (x: number): number => Math.round(x);
  return { median: r(at(50)), p90: r(at(90)), max: r(s.at(-1) ?? NaN) };
}

async function replica(etcd: TestEtcd, dir: string, prefix: string): Promise<RunningServer> {
  return startServer(
    {
      config: [],
      dataDir: path.join(dir, `unused-${Math.random().toString(36).slice(2)}`),
      xdsAddress: '127.0.0.1:0',
      adminAddress: '127.0.0.1:0',
      auth: 'token',
      xdsPlaintext: true,
      ...etcdStoreFlags(etcd, `${etcd.url}/${prefix}`),
    },
    silentLogger(),
  );
}

async function round(etcd: TestEtcd, dir: string, writers: number): Promise<Record<string, unknown>> {
  const prefix = `contention-${writers}`;
  const [a, b] = [await replica(etcd, dir, prefix), await replica(etcd, dir, prefix)];
  try {
    const ca = await createRootCa({ commonName: 'Clients CA', validitySeconds: 86_400 });
    fs.writeFileSync(path.join(dir, 'ca.pem'), ca.certPem);
    fs.writeFileSync(path.join(dir, 'base.yaml'), BASE_RESOURCES);
    await runCli(['apply', '-f', path.join(dir, 'base.yaml'), '--server', a.adminUrl]);
    await runCli(['secret', 'create', 'tls-ca', 'my-root-ca', '--cert', path.join(dir, 'ca.pem'), '--server', a.adminUrl]);
    await runCli(['route', 'create', 'r1', '--host', 'ecommerce.acme.org', '--client-ca-secret', 'my-root-ca', '--path-prefix', '/=shopping-cart', '--server', a.adminUrl]);
    while (!b.store.current().some((s) => s.resource.type === 'Route')) await new Promise((r) => setTimeout(r, 20));
    const started = performance.now();
    const runs = await Promise.all(
      Array.from({ length: writers }, async (_, i) => {
        const run = await runCli(['route', 'update', 'r1', '--client-certificate-subject', `c${i}.acme.org`, '--server', (i % 2 === 0 ? a : b).adminUrl]);
        return { ...run, ms: performance.now() - started };
      }),
    );
    const got = JSON.parse((await runCli(['route', 'get', 'r1', '-o', 'json', '--server', a.adminUrl])).stdout) as { validation?: { clientCertificate?: { subjectMatches?: unknown[] } } };
    const landed = runs.filter((r) => r.code === 0).length;
    return {
      writers,
      latencyMs: summary(runs.map((r) => r.ms)),
      landed,
      stored: got.validation?.clientCertificate?.subjectMatches?.length ?? 0,
      gaveUpNamingTheConflict: runs.filter((r) => r.code !== 0 && /kept changing under this update/.test(r.stderr)).length,
      otherFailures: runs.filter((r) => r.code !== 0 && !/kept changing under this update/.test(r.stderr)).map((r) => r.stderr.trim().split('\n')[0]),
      brokenCircuit: runs.filter((r) => /Breaker is open|BrokenCircuit/i.test(r.stderr)).length,
    };
  } finally {
    await a.close();
    await b.close();
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-bench-contention-'));
  const etcd = await startEtcd();
  try {
    const results = [];
    for (const writers of SIZES) results.push(await round(etcd, dir, writers));
    process.stdout.write(`${JSON.stringify({ machine: { cpus: os.cpus().length, node: process.version }, results }, null, 2)}\n`);
  } finally {
    await etcd.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

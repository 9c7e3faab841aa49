/**
 * `npm run bench`: for each N, runs meshcp and the raw grpc-js baseline, each in a fresh
 * server process with a fresh process of N simulated Envoys, prints the results table and
 * writes BENCHMARKS.md and bench/results.json.
 *
 * Defaults: N = 1,000 and 5,000 (30 and 10 measured changes), 50 proxies per connection (the
 * figures issue #11 sets its goals on). Overrides: BENCH_PROXIES="100,1000", BENCH_ITERATIONS="100,30"
 * (per N), BENCH_PROXIES_PER_CONNECTION="50,1" (1 = one HTTP/2 connection per proxy, as real Envoys).
 */
import { fork } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChildLink, type ClientsCommand, type ClientsReply, type RecomputeDelta, type ServerCommand, type ServerReply } from './ipc.js';
import { measureIssuance } from './issuance.js';
import { type EtcdFigures, benchmarksMarkdown, machine, markdownTables, percentile, perProxyKiB, type BenchResults, type Implementation, type RunResult } from './report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/bench → the repository root. */
const repoRoot = path.resolve(here, '..', '..');

const SERVER_SCRIPTS: Readonly<Record<Implementation, string>> = {
  meshcp: path.join(here, 'meshcp-server.js'),
  baseline: path.join(here, 'baseline-server.js'),
};
const CLIENTS_SCRIPT = path.join(here, 'clients.js');

function numbers(value: string | undefined, fallback: readonly number[]): number[] {
  if (value === undefined || value.trim() === '') return [...fallback];
  return value.split(',').map((v) => {
    const n = Number(v.trim());
    if (!Number.isInteger(n) || n <= 0) throw new Error(`not a positive integer: "${v}"`);
    return n;
  });
}

const PROXY_COUNTS = numbers(process.env['BENCH_PROXIES'], [1000, 5000]);
const ITERATIONS = numbers(process.env['BENCH_ITERATIONS'], [30, 10]);
/**
 * 50 proxies per HTTP/2 connection keeps the load generator (one process, one core) off the
 * critical path; 1 per connection is what real Envoys do, and shows per-connection cost.
 */
const PER_CONNECTION = numbers(process.env['BENCH_PROXIES_PER_CONNECTION'], [50]);
/** Changes applied and fully ACKed before the measured ones, so JIT warm-up is not counted. */
const WARMUP_CHANGES = 2;

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function runOne(implementation: Implementation, proxies: number, iterations: number, perConnection: number): Promise<RunResult> {
  log(`\n== ${implementation}, N=${proxies}, ${perConnection} proxies per connection`);
  const server = new ChildLink<ServerCommand, ServerReply>(`${implementation} server`, fork(SERVER_SCRIPTS[implementation], [], { execArgv: ['--expose-gc', ...(process.env['BENCH_SERVER_NODE_ARGS']?.split(' ').filter(Boolean) ?? [])] }));
  const clients = new ChildLink<ClientsCommand, ClientsReply>('clients', fork(CLIENTS_SCRIPT, [], { execArgv: [] }));
  try {
    const ready = await server.request({ type: 'init', proxies }, 'ready', 60_000);
    await clients.expect('ready', 60_000);
    log(`  server on port ${ready.port}, RSS ${(ready.memory.rssBytes / 1024 ** 2).toFixed(0)} MiB before any proxy`);
    await server.request({ type: 'begin-initial' }, 'initial-started', 10_000);
    clients.send({ type: 'connect', address: `127.0.0.1:${ready.port}`, proxies, perConnection });
    const initial = await server.expect('initial-done', 200_000);
    log(`  initial config ACKed by all ${proxies} in ${initial.ms.toFixed(0)} ms`);
    const idle = await server.request({ type: 'measure-idle' }, 'idle', 30_000);
    const changeMs: number[] = [];
    const changeSyncMs: number[] = [];
    const pushedPerChange: RunResult['pushedPerChange'][number][] = [];
    const recomputePerChange: RecomputeDelta[] = [];
    const heapAfterChangeBytes: number[] = [];
    for (let iteration = 1; iteration <= WARMUP_CHANGES; iteration++) {
      const changed = await server.request({ type: 'change', iteration }, 'changed', 70_000);
      log(`  warm-up change ${iteration}/${WARMUP_CHANGES} (not counted): all ${proxies} ACKed in ${changed.ms.toFixed(1)} ms`);
    }
    for (let iteration = WARMUP_CHANGES + 1; iteration <= WARMUP_CHANGES + iterations; iteration++) {
      const changed = await server.request({ type: 'change', iteration }, 'changed', 70_000);
      changeMs.push(changed.ms);
      changeSyncMs.push(changed.syncMs);
      pushedPerChange.push(changed.pushed);
      if (changed.recompute) recomputePerChange.push(changed.recompute);
      heapAfterChangeBytes.push(changed.heapUsedBytes);
      log(`  change ${iteration - WARMUP_CHANGES}/${iterations}: all ${proxies} ACKed in ${changed.ms.toFixed(1)} ms (event loop busy ${changed.syncMs.toFixed(1)} ms)`);
    }
    const stats = (await clients.request({ type: 'stats' }, 'stats', 10_000)).stats;
    if (stats.streamErrors > 0) throw new Error(`${stats.streamErrors} client streams failed; last: ${stats.lastError}`);
    return {
      implementation,
      proxies,
      proxiesPerConnection: perConnection,
      initialMs: initial.ms,
      changeMs,
      changeSyncMs,
      pushedPerChange,
      ...(recomputePerChange.length > 0 ? { recomputePerChange } : {}),
      heapAfterChangeBytes,
      memoryBefore: ready.memory,
      memoryIdle: idle.memory,
      gcExposed: ready.gcExposed,
      clients: stats,
    };
  } finally {
    await server.stop({ type: 'stop' });
    await clients.stop({ type: 'stop' });
  }
}

/** The etcd store figures, from bench/etcd-store.js in its own process; undefined (with a note) when etcd is not installed. */
function etcdFigures(): EtcdFigures | undefined {
  try {
    execFileSync('etcd', ['--version'], { stdio: 'ignore' });
  } catch {
    log('  skipped: no etcd binary (apt-get install etcd-server)');
    return undefined;
  }
  const out = execFileSync(process.execPath, [path.join(here, 'etcd-store.js')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 });
  return JSON.parse(out) as EtcdFigures;
}

function utcDate(): string {
  try {
    return execFileSync('date', ['-u'], { encoding: 'utf8' }).trim();
  } catch {
    return new Date().toUTCString();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const date = utcDate();
  const loadBefore = os.loadavg()[0]!;
  if (loadBefore > 0.5) log(`note: 1-minute load average is ${loadBefore.toFixed(2)} before the bench starts; other processes will skew the figures`);
  const runs: RunResult[] = [];
  for (const perConnection of PER_CONNECTION) {
    for (const [i, proxies] of PROXY_COUNTS.entries()) {
      const iterations = ITERATIONS[Math.min(i, ITERATIONS.length - 1)]!;
      for (const implementation of ['baseline', 'meshcp'] as const) {
        const run = await runOne(implementation, proxies, iterations, perConnection);
        log(
          `  → p50 ${percentile(run.changeMs, 50).toFixed(1)} ms, p99 ${percentile(run.changeMs, 99).toFixed(1)} ms, ` +
            `RSS/proxy ${perProxyKiB(run, 'rssBytes').toFixed(1)} KiB`,
        );
        runs.push(run);
      }
    }
  }
  log('\n== etcd store (bench/etcd-store.ts; needs the etcd binary)');
  const etcd = etcdFigures();
  if (etcd) log(`  apply→proxy median: file ${etcd.applyToProxyMs.fileStore.median} ms, etcd same replica ${etcd.applyToProxyMs.etcdSameReplica.median} ms, other replica ${etcd.applyToProxyMs.etcdOtherReplica.median} ms`);
  log('\n== workload certificate issuance');
  const issuance = await measureIssuance(os.cpus().length);
  for (const r of issuance) log(`  ${r.caKey} CA: ${r.perSecond.toFixed(0)} certificates/s (openssl signs ${r.opensslSignPerSecond?.toFixed(0) ?? 'n/a'}/s)`);
  const results: BenchResults = { date, warmupChanges: WARMUP_CHANGES, loadAverage: { before: loadBefore, after: os.loadavg()[0]! }, machine: machine(), durationSeconds: (Date.now() - started) / 1000, runs, issuance, ...(etcd ? { etcd } : {}) };
  fs.writeFileSync(path.join(repoRoot, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(path.join(repoRoot, 'BENCHMARKS.md'), benchmarksMarkdown(results));
  process.stdout.write(`\n${markdownTables(results)}\n\nWritten: BENCHMARKS.md, bench/results.json (${results.durationSeconds.toFixed(0)} s)\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

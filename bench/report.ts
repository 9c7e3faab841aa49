/** Results: percentiles, the machine, the Markdown table and BENCHMARKS.md. */
import type { EnvoyFleetFigures } from './envoy-fleet.js';
import { envoyFleetSection } from './report-envoy.js';
import os from 'node:os';
import type { ClientStats, InitialRecompute, MemorySample, PushCounts, RecomputeDelta } from './ipc.js';
import type { IssuanceResult } from './issuance.js';
import type { SourceCheckResult } from './source-checks.js';
import type { Scenario } from './scenario.js';
import { goControlPlaneSection } from './report-go.js';

export type Implementation = 'meshcp' | 'baseline' | 'go-control-plane';

export interface RunResult {
  /** plain: no mTLS; mtls: builtin CA, STRICT, TrafficPermissions, SDS (bench/scenario.ts). */
  readonly scenario: Scenario;
  readonly implementation: Implementation;
  readonly proxies: number;
  readonly proxiesPerConnection: number;
  /** From the clients being told to connect until every proxy ACKed every type; in the mtls scenario this is the cold start. */
  readonly initialMs: number;
  /** Server start-up before any clock: warm-up; for the baseline also every response (and, mtls, every certificate) made ahead of time. */
  readonly prepareMs?: number;
  /** meshcp, mtls: workload certificates issued by the end of the initial config. */
  readonly certificatesIssued?: number;
  /** meshcp, mtls: ms into the cold start when every proxy had been sent its SDS response (its certificate issued and its config generated). */
  readonly allSecretsSentMs?: number;
  /** meshcp: proxy generations and resources encoded while the N proxies got their initial config. */
  readonly initialRecompute?: InitialRecompute;
  /** mtls: the builtin CA's key type (RSA unless BENCH_MTLS_CA_KEY=ECDSA). */
  readonly caKeyType?: 'RSA' | 'ECDSA';
  /** 1-minute load average when this run started and ended. */
  readonly loadAverage?: { readonly before: number; readonly after: number };
  /** Set when the run was kept from an earlier invocation (BENCH_MERGE): that invocation's date. */
  readonly fromEarlierRun?: string;
  readonly changeMs: readonly number[];
  /** How long applying each change kept the server's event loop busy. */
  readonly changeSyncMs: readonly number[];
  /** Write-family system calls of the server process during each measured change (/proc/PID/io syscw). */
  readonly writeSyscallsPerChange?: readonly number[];
  readonly pushedPerChange: readonly PushCounts[];
  /** meshcp: what each measured change recomputed (issue #11). */
  readonly recomputePerChange?: readonly RecomputeDelta[];
  /** Server JS heap right after each measured change was ACKed (growth would point at a leak). */
  readonly heapAfterChangeBytes: readonly number[];
  readonly memoryBefore: MemorySample;
  readonly memoryIdle: MemorySample;
  readonly gcExposed: boolean;
  readonly clients: ClientStats;
}

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
}

export interface BenchResults {
  readonly date: string;
  /** Changes applied before the measured ones, not counted. */
  readonly warmupChanges: number;
  /** 1-minute load average when the bench started and ended: other processes on the machine skew the figures. */
  readonly loadAverage: { readonly before: number; readonly after: number };
  readonly machine: Machine;
  readonly durationSeconds: number;
  readonly runs: readonly RunResult[];
  /** Workload certificate issuance rate per CA key type (issue #11). */
  readonly issuance?: readonly IssuanceResult[];
  /** The etcd store (issue #12): apply-to-proxy latency and replica catch-up, from bench/etcd-store.ts. */
  readonly etcd?: EtcdFigures;
  /** What checking one change costs in the sources, alone vs as a whole set (issue #11), from bench/source-checks.ts. */
  readonly sourceChecks?: readonly SourceCheckResult[];
  /** A fleet of real Envoys served by meshcp and by go-control-plane, from bench/envoy-fleet.ts. */
  readonly envoyFleet?: EnvoyFleetFigures;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.platform()} ${os.release()} (${os.arch()})`,
    node: process.version,
  };
}

/** Nearest-rank percentile. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export const perProxyKiB = (run: RunResult, field: 'rssBytes' | 'heapUsedBytes'): number => (run.memoryIdle[field] - run.memoryBefore[field]) / run.proxies / 1024;

interface Row {
  readonly proxies: number;
  readonly metric: string;
  readonly meshcp: number;
  readonly baseline: number;
  /** NaN when go-control-plane did not run for this N (runs from before it joined the bench). */
  readonly goControlPlane: number;
}

/** The meshcp and baseline runs of one (scenario, N, connection sharing); undefined unless both exist. */
function pairOf(runs: readonly RunResult[], scenario: Scenario, proxies: number, perConnection: number): { meshcp: RunResult; baseline: RunResult } | undefined {
  const of = (implementation: Implementation): RunResult | undefined =>
    runs.find((r) => r.scenario === scenario && r.proxies === proxies && r.proxiesPerConnection === perConnection && r.implementation === implementation);
  const meshcp = of('meshcp');
  const baseline = of('baseline');
  return meshcp && baseline ? { meshcp, baseline } : undefined;
}

/** Rows of one scenario's runs (one connection-sharing mode). */
function rows(runs: readonly RunResult[]): Row[] {
  const out: Row[] = [];
  const proxyCounts = [...new Set(runs.map((r) => r.proxies))];
  for (const proxies of proxyCounts) {
    const of = (implementation: Implementation): RunResult | undefined => runs.find((r) => r.proxies === proxies && r.implementation === implementation);
    const meshcp = of('meshcp');
    const baseline = of('baseline');
    const goControlPlane = of('go-control-plane');
    if (!meshcp || !baseline) continue;
    const k = meshcp.changeMs.length;
    const metric = (name: string, pick: (r: RunResult) => number): void => {
      out.push({ proxies, metric: name, meshcp: pick(meshcp), baseline: pick(baseline), goControlPlane: goControlPlane ? pick(goControlPlane) : Number.NaN });
    };
    metric(meshcp.scenario === 'mtls' ? 'mTLS cold start: connect, certificates, all 5 types ACKed by all (ms)' : 'initial config ACKed by all (ms)', (r) => r.initialMs);
    metric(`1 cluster changed → all ACKed, p50 (ms, ${k} runs)`, (r) => percentile(r.changeMs, 50));
    metric(`1 cluster changed → all ACKed, p99 (ms, ${k} runs)`, (r) => percentile(r.changeMs, 99));
    metric('RSS per idle connected proxy (KiB)', (r) => perProxyKiB(r, 'rssBytes'));
    metric('heap per idle connected proxy (KiB; Go heap for go-control-plane)', (r) => perProxyKiB(r, 'heapUsedBytes'));
  }
  return out;
}

export function format(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1);
}

export function ratio(meshcp: number, other: number, digits = 1): string {
  if (!Number.isFinite(meshcp) || !Number.isFinite(other) || other <= 0) return 'n/a';
  return `${(meshcp / other).toFixed(digits)}×`;
}

/** The runs grouped by how many proxies share one HTTP/2 connection, in run order. */
export function byConnectionSharing(results: BenchResults): [number, RunResult[]][] {
  const groups = new Map<number, RunResult[]>();
  for (const run of results.runs) {
    const group = groups.get(run.proxiesPerConnection) ?? [];
    group.push(run);
    groups.set(run.proxiesPerConnection, group);
  }
  return [...groups];
}

export function sharingTitle(perConnection: number): string {
  return perConnection === 1 ? 'One HTTP/2 connection per proxy (as real Envoys)' : `${perConnection} proxies per HTTP/2 connection`;
}

export function markdownTable(runs: readonly RunResult[]): string {
  const lines = ['| N | metric | meshcp | baseline (raw grpc-js) | meshcp / baseline | go-control-plane | meshcp / go-control-plane |', '|---:|---|---:|---:|---:|---:|---:|'];
  for (const row of rows(runs)) {
    lines.push(`| ${row.proxies} | ${row.metric} | ${format(row.meshcp)} | ${format(row.baseline)} | ${ratio(row.meshcp, row.baseline)} | ${format(row.goControlPlane)} | ${ratio(row.meshcp, row.goControlPlane, 2)} |`);
  }
  return lines.join('\n');
}

export function scenarioTitle(scenario: Scenario, runs: readonly RunResult[] = []): string {
  if (scenario === 'plain') return 'plain (no mTLS: CDS, EDS, LDS, RDS)';
  const key = runs.find((r) => r.scenario === 'mtls' && r.caKeyType)?.caKeyType ?? 'RSA';
  return `mTLS (builtin ${key === 'ECDSA' ? 'ECDSA P-256' : 'RSA-2048'} CA, STRICT, TrafficPermissions; CDS, EDS, LDS, RDS, SDS)`;
}

/** The scenarios present in `runs`, plain first. */
export function scenariosOf(runs: readonly RunResult[]): Scenario[] {
  const present = new Set(runs.map((r) => r.scenario));
  return (['plain', 'mtls'] as const).filter((s) => present.has(s));
}

export function markdownTables(results: BenchResults, heading = '###'): string {
  return byConnectionSharing(results)
    .flatMap(([perConnection, runs]) =>
      scenariosOf(runs).map((scenario) => {
        const ofScenario = runs.filter((r) => r.scenario === scenario);
        return `${heading} ${sharingTitle(perConnection)}, ${scenarioTitle(scenario, ofScenario)}\n\n${markdownTable(ofScenario)}`;
      }),
    )
    .join('\n\n');
}

/** The first measured change's recompute counters (every change of the scenario is alike). */
function recomputed(run: RunResult): string {
  const r = run.recomputePerChange?.[0];
  if (!r) return 'n/a';
  const identity = r.identityPatches !== undefined ? `, identity patches ${r.identityPatches}` : '';
  return `translations ${r.translations}, proxy generations ${r.proxyGenerations}, EDS patches ${r.endpointPatches}${identity}, resources encoded ${r.resourcesEncoded}`;
}

/** Pushes per change: the same for every measured change, or each distinct count with how often it occurred. */
function pushesPerChange(run: RunResult): string {
  const distinct = new Map<string, number>();
  for (const pushed of run.pushedPerChange) {
    const key = Object.entries(pushed)
      .map(([type, count]) => `${type} ${count}`)
      .join(', ');
    distinct.set(key, (distinct.get(key) ?? 0) + 1);
  }
  if (distinct.size <= 1) return [...distinct.keys()][0] ?? 'n/a';
  return [...distinct].map(([key, times]) => `${key} (×${times})`).join('; ');
}

/** How a Node server's idle RSS growth splits: V8 heap committed, external (Buffers), native rest. */
function growthSplit(run: RunResult): string {
  const { memoryBefore: before, memoryIdle: idle } = run;
  if (before.heapTotalBytes === undefined || idle.heapTotalBytes === undefined || before.externalBytes === undefined || idle.externalBytes === undefined) return '';
  const heap = idle.heapTotalBytes - before.heapTotalBytes;
  const external = idle.externalBytes - before.externalBytes;
  const native = idle.rssBytes - before.rssBytes - heap - external;
  const mib = (bytes: number): string => `${bytes >= 0 ? '+' : ''}${(bytes / 1024 ** 2).toFixed(0)}`;
  return ` (heap ${mib(heap)}, external ${mib(external)}, native ${mib(native)})`;
}

function detailTable(results: BenchResults): string {
  const lines = [
    '| scenario | N | proxies per connection | server | prepared before the clock (s) | change: event loop busy, p50 / max (ms) | responses pushed per change | server write syscalls per change, p50 | recomputed per change | server RSS before → idle (MiB) | client process RSS (MiB) | load average during the run |',
    '|---|---:|---:|---|---:|---:|---|---:|---|---:|---:|---:|',
  ];
  const mib = (bytes: number): string => (bytes / 1024 ** 2).toFixed(0);
  for (const run of results.runs) {
    const prepared = run.prepareMs !== undefined ? (run.prepareMs / 1000).toFixed(1) : 'n/a';
    const secrets = run.allSecretsSentMs !== undefined ? `; every proxy had its SDS response ${format(run.allSecretsSentMs)} ms into it` : '';
    const initial = run.initialRecompute ? `; initial config: proxy generations ${run.initialRecompute.proxyGenerations}, resources encoded ${run.initialRecompute.resourcesEncoded}` : '';
    const certificates = run.certificatesIssued !== undefined ? ` (${run.certificatesIssued} certificates issued in the cold start${secrets})` : '';
    const load = run.loadAverage ? `${run.loadAverage.before.toFixed(1)} → ${run.loadAverage.after.toFixed(1)}` : 'n/a';
    const earlier = run.fromEarlierRun ? ` (from the run of ${run.fromEarlierRun})` : '';
    lines.push(
      `| ${run.scenario} | ${run.proxies} | ${run.proxiesPerConnection} | ${run.implementation}${earlier} | ${prepared} | ${format(percentile(run.changeSyncMs, 50))} / ${format(Math.max(...run.changeSyncMs))} | ${pushesPerChange(run)} | ${run.writeSyscallsPerChange ? format(percentile(run.writeSyscallsPerChange, 50)) : 'n/a'} | ${recomputed(run)}${initial}${certificates} | ${mib(run.memoryBefore.rssBytes)} → ${mib(run.memoryIdle.rssBytes)}${growthSplit(run)} | ${mib(run.clients.rssBytes)} | ${load} |`,
    );
  }
  return lines.join('\n');
}

/** Where meshcp's change latency goes, from the largest N of the first connection-sharing mode, per scenario. */
function timeSplit(results: BenchResults): string {
  const [first] = byConnectionSharing(results);
  if (!first) return '';
  return scenariosOf(first[1])
    .map((scenario) => timeSplitOf(scenario, first))
    .filter((text) => text !== '')
    .join('\n\n');
}

function timeSplitOf(scenario: Scenario, first: [number, RunResult[]]): string {
  const runs = first[1].filter((r) => r.scenario === scenario);
  const meshcp = runs.filter((r) => r.implementation === 'meshcp').sort((a, b) => b.proxies - a.proxies)[0];
  const baseline = runs.find((r) => r.implementation === 'baseline' && r.proxies === meshcp?.proxies);
  if (!meshcp || !baseline) return '';
  const busy = percentile(meshcp.changeSyncMs, 50);
  const total = percentile(meshcp.changeMs, 50);
  return (
    `${scenario === 'mtls' ? 'mTLS scenario: w' : 'W'}ith N=${meshcp.proxies} and ${first[0] === 1 ? 'one connection per proxy' : `${first[0]} proxies per connection`}, a change takes ${format(total)} ms at p50. ` +
    `For ${format(busy)} ms of that, meshcp's event loop is busy inside \`next()\`: it translates the changed mesh (the endpoint fast path), swaps the one new ClusterLoadAssignment into each affected proxy's snapshot, and writes the EDS pushes. ` +
    `The remaining ${format(total - busy)} ms, delivery and ACKs, compares with the baseline's ${format(percentile(baseline.changeMs, 50))} ms.`
  );
}

interface GoalRow {
  readonly goal: string;
  readonly where: string;
  readonly measured: string;
  /** undefined: not measured in this run. */
  readonly met: boolean | undefined;
}

const CHANGE_RATIO_GOAL = 1.3;
const INITIAL_RATIO_GOAL = 1.3;
const MEMORY_RATIO_GOAL = 1.5;
const COLD_START_GOAL_MS = 8000;
const COLD_START_PROXIES = 5000;
const HELD_PROXIES = 10_000;
const ISSUANCE_GOALS: Readonly<Record<string, number>> = { 'rsa-2048': 3000, 'ecdsa-p256': 15_000 };

/** The runs the goals are judged on: 50 proxies per connection (issue #11), else the first connection-sharing mode. */
export function goalRuns(results: BenchResults): [number, RunResult[]] | undefined {
  const groups = byConnectionSharing(results);
  return groups.find(([perConnection]) => perConnection === 50) ?? groups[0];
}

/** Every issue #11 goal with the value measured in this run (ratios to the baseline of the same run). */
export function goals(results: BenchResults): GoalRow[] {
  const out: GoalRow[] = [];
  const group = goalRuns(results);
  const runs = group?.[1] ?? [];
  const perConnection = group?.[0] ?? 50;
  const ratioRow = (goal: string, limit: number, pick: (r: RunResult) => number, unit: string): void => {
    for (const scenario of scenariosOf(runs)) {
      for (const proxies of [...new Set(runs.filter((r) => r.scenario === scenario).map((r) => r.proxies))].sort((a, b) => a - b)) {
        const pair = pairOf(runs, scenario, proxies, perConnection);
        if (!pair) continue;
        const m = pick(pair.meshcp);
        const b = pick(pair.baseline);
        const r = m / b;
        out.push({ goal, where: `${scenario}, N=${proxies}`, measured: `${format(m)} ${unit} vs ${format(b)} ${unit}: ${Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a'}`, met: Number.isFinite(r) ? r <= limit : undefined });
      }
    }
  };
  ratioRow(`one changed cluster → all ACKed, p50 ≤ ${CHANGE_RATIO_GOAL}× baseline`, CHANGE_RATIO_GOAL, (r) => percentile(r.changeMs, 50), 'ms');
  ratioRow(`one changed cluster → all ACKed, p99 ≤ ${CHANGE_RATIO_GOAL}× baseline`, CHANGE_RATIO_GOAL, (r) => percentile(r.changeMs, 99), 'ms');
  ratioRow(`initial config ACKed by all ≤ ${INITIAL_RATIO_GOAL}× baseline`, INITIAL_RATIO_GOAL, (r) => r.initialMs, 'ms');
  const cold = pairOf(runs, 'mtls', COLD_START_PROXIES, perConnection)?.meshcp ?? runs.find((r) => r.scenario === 'mtls' && r.implementation === 'meshcp' && r.proxies === COLD_START_PROXIES);
  out.push({
    goal: `mTLS cold start: ${COLD_START_PROXIES.toLocaleString('en-US')} proxies connect, get certificates and ACK everything < ${COLD_START_GOAL_MS / 1000} s`,
    where: `mtls, N=${COLD_START_PROXIES}`,
    measured: cold ? `${format(cold.initialMs)} ms${cold.certificatesIssued !== undefined ? ` (${cold.certificatesIssued} certificates)` : ''}` : 'not run',
    met: cold ? cold.initialMs < COLD_START_GOAL_MS : undefined,
  });
  for (const [caKey, limit] of Object.entries(ISSUANCE_GOALS)) {
    const measured = results.issuance?.find((r) => r.caKey === caKey);
    out.push({
      goal: `issuance ≥ ${limit.toLocaleString('en-US')}/s with an ${caKey === 'rsa-2048' ? 'RSA-2048' : 'ECDSA P-256'} CA`,
      where: 'bench/issuance.ts',
      measured: measured ? `${format(measured.perSecond)} /s` : 'not run',
      met: measured ? measured.perSecond >= limit : undefined,
    });
  }
  ratioRow(`idle memory (RSS) per connected proxy ≤ ${MEMORY_RATIO_GOAL}× baseline`, MEMORY_RATIO_GOAL, (r) => perProxyKiB(r, 'rssBytes'), 'KiB');
  for (const scenario of scenariosOf(runs).length > 0 ? scenariosOf(runs) : (['plain'] as const)) {
    const pair = pairOf(runs, scenario, HELD_PROXIES, perConnection);
    const meshcp = pair?.meshcp ?? runs.find((r) => r.scenario === scenario && r.implementation === 'meshcp' && r.proxies === HELD_PROXIES);
    const perProxy = meshcp ? perProxyKiB(meshcp, 'rssBytes') : Number.NaN;
    const ratioText = meshcp && pair ? ` (${(perProxy / perProxyKiB(pair.baseline, 'rssBytes')).toFixed(2)}× baseline)` : '';
    out.push({
      goal: `${HELD_PROXIES.toLocaleString('en-US')} proxies held`,
      where: `${scenario}, N=${HELD_PROXIES}`,
      measured: meshcp
        ? `all ACKed in ${format(meshcp.initialMs)} ms, ${meshcp.changeMs.length} changes ACKed by all (p50 ${format(percentile(meshcp.changeMs, 50))} ms); RSS per idle proxy ${format(perProxy)} KiB${ratioText}`
        : 'not run (BENCH_PROXIES=10000, or npm run bench:10k)',
      met: meshcp ? meshcp.clients.streamErrors === 0 : undefined,
    });
  }
  return out;
}

function goalsSection(results: BenchResults): string {
  const group = goalRuns(results);
  const lines = ['| goal (issue #11) | scenario, N | measured: meshcp vs baseline | met |', '|---|---|---|---|'];
  for (const g of goals(results)) lines.push(`| ${g.goal} | ${g.where} | ${g.measured} | ${g.met === undefined ? 'not measured' : g.met ? 'met' : '**not met**'} |`);
  return `### Goals

Computed from this run, ${group ? (group[0] === 1 ? 'one connection per proxy' : `${group[0]} proxies per HTTP/2 connection`) : 'no runs'}; ratios are meshcp over the baseline measured in the same run. "Held" means every proxy ACKed its initial config and every measured change, with no stream error.

${lines.join('\n')}`;
}

interface LatencySummary {
  readonly median: number;
  readonly p90: number;
  readonly max: number;
  readonly n: number;
}

/** What bench/etcd-store.ts prints. */
export interface EtcdFigures {
  readonly applyToProxyMs: { readonly fileStore: LatencySummary; readonly etcdSameReplica: LatencySummary; readonly etcdOtherReplica: LatencySummary };
  readonly bulk: { readonly resources: number; readonly fileStoreApplyMs: number; readonly etcdApplyOnAMs: number; readonly etcdInStoreOfBMs: number; readonly etcdServedByBMs: number };
}

function etcdSection(results: BenchResults): string {
  const e = results.etcd;
  if (!e) return '';
  const row = (label: string, s: LatencySummary): string => `| ${label} | ${s.n} | ${format(s.median)} | ${format(s.p90)} | ${format(s.max)} |`;
  return `### etcd store and replicas

\`bench/etcd-store.ts\`, in its own process: a real etcd on 127.0.0.1 with client-certificate TLS, meshcp replicas in the bench process. Apply-to-proxy is \`POST /api/apply\` of a changed Dataplane until a connected proxy receives the CDS response holding the new cluster.

| apply → proxy has it (ms) | runs | median | p90 | max |
|---|---:|---:|---:|---:|
${row('file store (one process)', e.applyToProxyMs.fileStore)}
${row('etcd, proxy on the replica applied to', e.applyToProxyMs.etcdSameReplica)}
${row('etcd, proxy on the other replica', e.applyToProxyMs.etcdOtherReplica)}

Catch-up after one apply of ${e.bulk.resources} Dataplanes (ms from the start of the apply): file store apply ${format(e.bulk.fileStoreApplyMs)} (one fsync'd file each); etcd: the apply through replica A returns at ${format(e.bulk.etcdApplyOnAMs)}, replica B's store holds all of them at ${format(e.bulk.etcdInStoreOfBMs)} and B serves them at ${format(e.bulk.etcdServedByBMs)}.`;
}

function sourceChecksSection(results: BenchResults): string {
  if (!results.sourceChecks || results.sourceChecks.length === 0) return '';
  const rows = results.sourceChecks.map(
    (r) => `| ${r.scenario} | ${r.proxies} | ${r.resources} | ${r.aloneMs.toFixed(3)} | ${r.resourcesCheckedPerChange} | ${r.wholeSetMs.toFixed(2)} | ${(r.wholeSetMs / r.aloneMs).toFixed(0)}× |`,
  );
  return `### Checking a change in the sources

The store emits each batch as its puts and deletes, and \`ResourceSources\` checks a change on what it touches (\`validateChange\`) when nothing is rejected or pinned. Measured in the bench process on the scenario's resources (bench/source-checks.ts): the measured change (a new endpoint on \`ext\`) applied 200 times to the bench's in-memory store, from the store's event to the change passed on, against a whole-set check of the same set (\`recheck()\`), which is what every change cost before and what an error, a pin, a config reload that adds resources, a CA file re-check and the first change a minute after the last whole check still cost. CPU time per change, mean; the xDS figures above include the alone path.

| scenario | N | resources | alone (ms/change) | resources checked per change | whole set (ms) | whole set / alone |
|---|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}`;
}

function issuanceSection(results: BenchResults): string {
  if (!results.issuance || results.issuance.length === 0) return '';
  const optional = (n: number | undefined): string => (n !== undefined ? format(n) : 'n/a');
  const rows = results.issuance.map(
    (r) =>
      `| ${r.caKey} | ${r.certificates} | ${format(r.perSecond)} | ${optional(r.opensslSignPerSecond)} | ${r.opensslSignPerSecond !== undefined ? `${((100 * r.perSecond) / r.opensslSignPerSecond).toFixed(0)}%` : 'n/a'} | ${optional(r.keygenPerSecond)} | ${optional(r.eventLoopMaxDelayMs)} |`,
  );
  return `### Workload certificate issuance

SPIFFE SVIDs (fresh ECDSA P-256 leaf key each) issued concurrently through \`issueWorkloadIdentity\`, the identity manager's own path, in the bench process. The reference is \`openssl speed -multi <cores>\` for the CA's key type in the same run: one signature per certificate is the floor for signing alone. Every SVID also needs a fresh P-256 key pair, which \`openssl speed\` does not count; the "Node P-256 keygen / s" column is Node's own rate in the same run (async \`generateKeyPair\` to KeyObjects, all cores, no encoding). meshcp does not use OpenSSL's key encoders per certificate (with them, Node made only about 4,000 P-256 key pairs/s on both cores of this machine): worker threads, one per core, each take a raw key pair from a reused ECDH context, write its SPKI and PKCS#8 from fixed templates, assemble the certificate and sign it. With a P-256 CA, key generation costs about as much as the signature, so issuance stays well below the openssl sign rate; with RSA-2048 the signature dominates. The last column is the longest event-loop delay seen while the certificates were issued. Before issue #11 (\`@peculiar/x509\` per certificate) issuance was 82–101 certificates/s with an RSA-2048 CA.

| CA key | certificates | meshcp issued / s | openssl signs / s (all cores) | meshcp / openssl | Node P-256 keygen / s (all cores) | event loop max delay (ms) |
|---|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}`;
}

export function benchmarksMarkdown(results: BenchResults): string {
  const m = results.machine;
  const iterations = scenariosOf(results.runs)
    .map((scenario) => `${scenario}: ${[...new Set(results.runs.filter((r) => r.scenario === scenario).map((r) => `${r.changeMs.length} for N=${r.proxies}`))].join(', ')}`)
    .join('; ');
  const earlier = [...new Set(results.runs.flatMap((r) => (r.fromEarlierRun ? [r.fromEarlierRun] : [])))];
  const mergedNote = earlier.length > 0 ? `\n- Some runs were kept from an earlier invocation (${earlier.join(', ')}; \`BENCH_MERGE=1\`): the Details table marks them.` : '';
  const markdown = `# Benchmarks

To reproduce, run \`npm run bench\`. ${earlier.length > 0 ? `The last invocation (runs merged into earlier results) took about ${Math.max(1, Math.round(results.durationSeconds / 10)) * 10} s after compiling; it` : `It takes about ${Math.max(1, Math.round(results.durationSeconds / 10)) * 10} s after compiling, and`} rewrites this file and \`bench/results.json\` (the raw figures). \`npm run bench:10k\` then adds the N=10,000 runs of both scenarios to them (it runs only those, and keeps the rest).

- Date: ${results.date}
- CPU: ${m.cpu}, ${m.cores} cores
- Memory: ${m.memoryGiB} GiB
- OS: ${m.os}
- Node: ${m.node}
- Bench run time: ${results.durationSeconds.toFixed(0)} s
- 1-minute load average at start / end: ${results.loadAverage.before.toFixed(2)} / ${results.loadAverage.after.toFixed(2)}. Anything well above the bench's own load (about 2) means other processes shared the CPU; the Details table has it per run.${mergedNote}

## Results

The baseline is a plain grpc-js server on the same ADS method. It writes the same DiscoveryResponse bytes that meshcp sends, encoded ahead of time. It is the floor for "the same bytes over raw grpc-js streams", and the ratio column shows what meshcp costs on top of it. go-control-plane (the reference Go xDS server library) serves the same resources from its caches in the same run; "Against go-control-plane" below says how. Runs from before go-control-plane joined the bench show n/a in its columns.

${markdownTables(results)}

${goalsSection(results)}

${goControlPlaneSection(results)}

### Details

${detailTable(results)}

${timeSplit(results)}

${issuanceSection(results)}

${sourceChecksSection(results)}

${etcdSection(results)}

${envoyFleetSection(results.envoyFleet)}

## Method

- **Processes.** \`bench/run.ts\` forks one server process (meshcp, the baseline, or the driver of the go-control-plane server, whose own process holds the figures), run with \`--expose-gc\`. It forks a second process that holds all N simulated Envoys, so the server's figures leave out client memory and client CPU. Every (N, connection sharing, server) combination gets fresh processes. Everything runs on 127.0.0.1.
- **Scenarios** (\`bench/scenario.ts\`). There are N Dataplanes \`dp-0..dp-(N-1)\` in mesh \`default\`. Each one serves \`svc-(i % 50)\` over HTTP, and calls three neighbouring HTTP services and the external TCP Service \`ext\`. So every proxy holds 5 clusters (4 EDS and its local app), 4 ClusterLoadAssignments, 5 listeners and 3 route configurations. In the **plain** scenario the mesh has no mTLS, and each proxy ACKs CDS, EDS, LDS and RDS. In the **mtls** scenario the Mesh has a builtin CA backend (${scenarioTitle('mtls', results.runs).includes('ECDSA') ? 'ECDSA P-256 root, \`BENCH_MTLS_CA_KEY=ECDSA\`' : 'RSA-2048 root, the Kuma default; \`BENCH_MTLS_CA_KEY=ECDSA\` picks P-256'}) in STRICT mode, and 50 TrafficPermissions, one per service, allow exactly its three callers (default deny for the rest). Each proxy then also gets its own workload certificate (a SPIFFE SVID issued by meshcp when the proxy connects) and the mesh trust bundle over SDS; its mesh clusters carry an UpstreamTlsContext and its inbound listener a DownstreamTlsContext (with RBAC) that name those two secrets, and it ACKs CDS, EDS, LDS, RDS and SDS. No token authentication in either scenario: the bench measures xDS and issuance.
- **Simulated Envoy** (\`bench/clients.ts\`). Each one opens an ADS SotW stream and subscribes to CDS and LDS as a wildcard. It subscribes EDS to the EDS clusters it receives, RDS to the route names in its HTTP connection managers, and SDS to the secret names in the TLS transport sockets of its clusters and listeners (as Envoy does while it warms them). These subscriptions are sent before the response that triggered them is ACKed. It ACKs every response with the same type_url, version_info and nonce, and with the names it subscribes to. Only the first request carries the node, with \`mesh\` metadata as a Struct (\`set_node_on_first_message_only\`).
- **Connections.** Two modes run. In one, 50 proxies share each HTTP/2 connection, which keeps the single-core load generator off the critical path. In the other, every proxy has its own connection, as real Envoys do. The second mode shows per-connection cost, but the client process does much more work there.
- **Initial config.** All N proxies start at once, as after a control-plane restart. The clock runs in the server process. It starts just before the clients are told to connect and stops when the last proxy has ACKed every type (four, or five with SDS). For meshcp, meshcp's own status events give this: one \`ack\` per proxy per type, emitted when meshcp processes the ACK. The baseline counts ACKs the same way. Both sides warm up first (proto loading, protobufjs codec generation, one proxy's config), so the clock does not include that.
- **mTLS cold start.** In the mtls scenario the initial config is the cold start: the builtin CA already exists (meshcp generates it at start-up, before the clock, as a restarted control plane finds it in its store), and the N proxies connect at once to a server that holds no workload certificate. meshcp issues one per proxy as its stream arrives and sends a proxy its config once its certificate is ready; the clock stops when the last proxy has ACKed all five types. The Details table shows how many certificates meshcp issued by then, and when every proxy had been sent its SDS response (its certificate issued and its config generated; the rest is delivery and ACKs). The baseline made every certificate and every response before its clock (the "prepared before the clock" column), so its figure is delivery only, and the ratio shows what issuance and generation add on top of it.
- **N = 10,000** runs only when \`BENCH_PROXIES\` lists it (\`npm run bench:10k\` runs both scenarios at 10,000 and merges them into the existing results; \`BENCH_MERGE=1\`). At 50 proxies per connection that is 200 HTTP/2 connections and 10,000 streams in the client process.
- **One changed cluster.** Each iteration adds a fresh endpoint to the \`ext\` Service. This changes one ClusterLoadAssignment, and since every proxy calls \`ext\`, all N proxies must receive and ACK a new EDS response. The clock starts just before \`BehaviorSubject.next(resources)\` for meshcp, or just before the broadcast loop for the baseline. It stops when the server has processed the EDS ACK for the pushed version from every proxy. Each iteration starts only after the previous one is fully ACKed. ${results.warmupChanges} warm-up changes run first and are not counted. The "responses pushed per change" column checks that only EDS was pushed.
- **Iterations:** ${iterations}. Percentiles use the nearest rank, so with fewer than 100 iterations p99 is the maximum.
- **RSS per idle proxy.** The server idles 12 s (\`BENCH_SETTLE_MS\`) with a full GC (\`global.gc\`) every second, then reads \`process.memoryUsage()\`, at two points: after start-up and warm-up, before any client connects, and once all N proxies have ACKed their initial config and are idle. The figure is (idle − before) / N. Both servers settle the same way: right after a burst V8's young generation is still grown (about 18 MiB after 1,000 cold starts) and meshcp's certificate worker threads (about 20 MB, mtls) stop only after 10 s idle; earlier runs (before 2026-11-30 11:00 UTC) sampled 0.3 s after the burst and counted both. The JS heap is shown too, because RSS includes allocator slack and moves in coarse steps. For the two Node servers the Details table splits the RSS growth from before to idle into the V8 heap committed (\`heapTotal\`, used or not), external memory (Buffers: encoded resources, response bytes) and the native rest (HTTP/2 sessions, sockets, code, allocator slack). Fixed costs, such as encoded shared clusters and JIT code, are spread over N, so a smaller N reads higher per proxy.

## Caveats

- The machine is small (${m.cores} cores), and the simulated Envoys run on it too. The client process competes with the server for CPU, most of all with one connection per proxy. This affects meshcp and the baseline alike.
- The baseline does all its preparation before its clock starts: translation, generation and encoding of the exact bytes, built with meshcp's own generate and snapshot code. It also holds those responses before its "before" memory sample, so its per-proxy memory is transport and stream state only. meshcp's per-proxy memory also includes its session, snapshot, status entry and encoded resources.
- meshcp applies a change synchronously inside \`next()\`. Since issue #11 it translates only the changed mesh (here the endpoint fast path: no proxy is regenerated, one ClusterLoadAssignment is encoded and swapped into each affected proxy's snapshot), then writes the pushes; the "recomputed per change" column shows it. What remains of the gap is per-proxy work that touches each proxy's own objects (its snapshot, session and status row: mostly cache misses, not computation), the extra GC marking of a live heap about twice the baseline's, and the writes; the "event loop busy" column shows the synchronous part.
- In the plain scenario there is no SDS and no certificate issuance: it covers the xDS path only. In the mtls scenario the baseline's certificates come from the same CA code as meshcp's, but it issues them before its clock and holds their responses before its "before" memory sample; meshcp's per-proxy memory also includes each proxy's certificate and key. A measured change touches only \`ext\`, so it issues no certificate in either server.
`;
  // Sections without figures (no issuance or etcd run) leave blank lines behind.
  return markdown.replace(/\n{3,}/g, '\n\n');
}

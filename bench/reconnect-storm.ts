/**
 * The reconnect storm: `node dist/bench/reconnect-storm.js` (run.ts runs it; BENCH_SKIP_STORM=1 leaves it out).
 *
 * N simulated Envoys (clients.ts, plain scenario) hold ADS streams over TLS to a server. The server
 * is killed (SIGKILL) and started again on the same port and store; every proxy reconnects at once
 * (each retries with jitter, 100 ms doubling to 1 s). Measured in the clients process: from the
 * new server's spawn until every proxy has ACKed every type (CDS, EDS, LDS, RDS) on its new stream.
 *
 * - meshcp: the built `meshcp serve` (dist/src/cli/main.js), `--auth none`, xDS over TLS with a
 *   certificate of this run's CA (`--xds-tls-cert`), its resources in etcd (`--store etcd://…`,
 *   the etcd of test/helpers/etcd.ts) or, without the etcd binary or with BENCH_STORM_STORE=file,
 *   in its data directory. Restarted with the same flags.
 * - baseline: bench/baseline-server.ts over TLS with the same certificate, on the same port;
 *   restarted the same way, it prepares its responses again before it listens.
 *
 * With etcd, etcd's committed writes (`etcd_server_proposals_committed_total`) are read around
 * three windows: idle with N proxies connected, a change every proxy ACKs, and the storm.
 *
 * BENCH_STORM_PROXIES (default 1000), BENCH_STORM_PROXIES_PER_CONNECTION (default 50).
 * Prints one JSON document (ReconnectStormFigures).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createRootCa, issueCertificate } from '../src/ca/pki.js';
import { EtcdStore } from '../src/store/etcd-store.js';
import { FileStore } from '../src/store/file-store.js';
import type { Store } from '../src/store/store.js';
import { etcdCommittedWrites, freePort, startEtcd, type TestEtcd } from '../test/helpers/etcd.js';
import { ChildLink, type ClientsCommand, type ClientsReply, type ServerCommand, type ServerReply } from './ipc.js';
import { ENDPOINT_TYPE, benchTypes } from './protocol.js';
import type { ReconnectStormFigures, StormRun } from './reconnect-storm-report.js';
import { externalService, staticResources } from './scenario.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.resolve(here, '..', 'src', 'cli', 'main.js');
const PROXIES = Number(process.env['BENCH_STORM_PROXIES'] ?? 1000);
const PER_CONNECTION = Number(process.env['BENCH_STORM_PROXIES_PER_CONNECTION'] ?? 50);
const IDLE_WINDOW_MS = 5000;
const TYPES = benchTypes('plain');

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

interface Tls {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** A running server: `kill` is SIGKILL, as a crash, and resolves once it has exited. */
interface Server {
  kill(): Promise<void>;
}

interface Setup {
  readonly dir: string;
  readonly tls: Tls;
  readonly etcd?: TestEtcd;
}

async function tlsMaterial(): Promise<Tls> {
  const ca = await createRootCa({ commonName: 'reconnect storm CA', validitySeconds: 24 * 3600 });
  const server = await issueCertificate({ issuer: ca, commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server', validitySeconds: 24 * 3600 });
  return { caPem: ca.certPem, certPem: server.certPem, keyPem: server.keyPem };
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function killed(child: ChildProcess): Promise<void> {
  const done = exited(child);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await done;
}

async function startBaseline(port: number, tls: Tls): Promise<Server> {
  const link = new ChildLink<ServerCommand, ServerReply>('baseline server', fork(path.join(here, 'baseline-server.js'), [], { execArgv: [] }));
  await link.request({ type: 'init', proxies: PROXIES, scenario: 'plain', port, tls: { certPem: tls.certPem, keyPem: tls.keyPem } }, 'ready', 300_000);
  return { kill: () => killed(link.child) };
}

/** etcd's committed writes (raft proposals) so far; undefined without etcd. */
async function etcdWrites(etcd: TestEtcd | undefined): Promise<number | undefined> {
  return etcd ? etcdCommittedWrites(etcd) : undefined;
}

const STORE_PATH = 'storm';

async function openStore(setup: Setup): Promise<Store> {
  if (!setup.etcd) return FileStore.open(path.join(setup.dir, 'data'), {});
  return EtcdStore.open(`${setup.etcd.url}/${STORE_PATH}`, { encryptionKey: setup.etcd.encryptionKey, tls: setup.etcd.tls });
}

/** The scenario's resources, written to the store before meshcp first starts (in batches under etcd's --max-txn-ops). */
async function seed(setup: Setup): Promise<void> {
  const store = await openStore(setup);
  const resources = [...staticResources(PROXIES, 'plain'), externalService(0)];
  for (let i = 0; i < resources.length; i += 1000) await store.apply(resources.slice(i, i + 1000).map((resource) => ({ op: 'put' as const, resource })));
  await store.close();
}

async function startMeshcp(setup: Setup, port: number, run: number): Promise<Server> {
  const { dir, tls, etcd } = setup;
  fs.writeFileSync(path.join(dir, 'xds.pem'), tls.certPem);
  fs.writeFileSync(path.join(dir, 'xds-key.pem'), tls.keyPem, { mode: 0o600 });
  const adminPort = await freePort();
  const args = [
    MAIN, 'serve',
    '--data-dir', path.join(dir, 'data'),
    '--xds-address', `127.0.0.1:${port}`,
    '--admin-address', `127.0.0.1:${adminPort}`,
    '--auth', 'none',
    '--xds-tls-cert', path.join(dir, 'xds.pem'),
    '--xds-tls-key', path.join(dir, 'xds-key.pem'),
    ...(etcd ? ['--store', `${etcd.url}/${STORE_PATH}`, '--store-ca-cert', etcd.files.ca, '--store-cert', etcd.files.cert, '--store-key', etcd.files.key, '--store-encryption-key-file', etcd.files.encryptionKey] : []),
  ];
  const out = fs.openSync(path.join(dir, `meshcp-${run}.log`), 'w');
  const child = spawn(process.execPath, args, { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const deadline = performance.now() + 300_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`meshcp serve exited (${child.exitCode}); see ${path.join(dir, `meshcp-${run}.log`)}`);
    if (performance.now() > deadline) throw new Error('meshcp serve not ready within 300 s');
    const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { kill: () => killed(child) };
}

async function stormRun(implementation: 'baseline' | 'meshcp', setup: Setup): Promise<StormRun> {
  log(`\n== reconnect storm: ${implementation}, N=${PROXIES} over TLS, ${PER_CONNECTION} proxies per connection${implementation === 'meshcp' ? `, ${setup.etcd ? 'etcd' : 'file'} store` : ''}`);
  const port = await freePort();
  let starts = 0;
  const start = (): Promise<Server> => (implementation === 'baseline' ? startBaseline(port, setup.tls) : startMeshcp(setup, port, ++starts));
  const clients = new ChildLink<ClientsCommand, ClientsReply>('clients', fork(path.join(here, 'clients.js'), [], { execArgv: [] }));
  let server: Server | undefined;
  try {
    await clients.expect('ready', 60_000);
    server = await start();
    await clients.request({ type: 'mark', types: TYPES }, 'marked', 10_000);
    clients.send({ type: 'connect', address: `127.0.0.1:${port}`, proxies: PROXIES, perConnection: PER_CONNECTION, tls: { caPem: setup.tls.caPem, serverName: 'localhost' }, reconnect: true });
    const initial = await clients.request({ type: 'await-acked' }, 'acked', 600_000);
    log(`  initial config ACKed by all ${PROXIES} in ${initial.ms.toFixed(0)} ms`);
    const figures: { -readonly [K in keyof StormRun]: StormRun[K] } = { implementation, proxies: PROXIES, proxiesPerConnection: PER_CONNECTION, initialMs: initial.ms, restartReadyMs: 0, reconnectMs: 0 };
    if (implementation === 'meshcp' && setup.etcd) {
      // Idle with N connected, once the status of the initial ACKs is written: nothing should be.
      await new Promise((resolve) => setTimeout(resolve, IDLE_WINDOW_MS));
      const idleFrom = await etcdWrites(setup.etcd);
      const idleStarted = performance.now();
      await new Promise((resolve) => setTimeout(resolve, IDLE_WINDOW_MS));
      const idleWrites = (await etcdWrites(setup.etcd))! - idleFrom!;
      // A change every proxy ACKs (one more endpoint of the Service each calls).
      const store = await openStore(setup);
      await clients.request({ type: 'mark', types: [ENDPOINT_TYPE] }, 'marked', 10_000);
      const changeFrom = await etcdWrites(setup.etcd);
      const changeStarted = performance.now();
      await store.apply([{ op: 'put', resource: externalService(1) }]);
      const change = await clients.request({ type: 'await-acked' }, 'acked', 300_000);
      // Until the status of every ACK is written, as far as the replica's flush goes: a few intervals more.
      await new Promise((resolve) => setTimeout(resolve, IDLE_WINDOW_MS));
      const changeWrites = (await etcdWrites(setup.etcd))! - changeFrom!;
      const changeSeconds = (performance.now() - changeStarted) / 1000;
      await store.close();
      figures.etcd = { idleWritesPerSecond: idleWrites / ((changeStarted - idleStarted) / 1000), changeAckedMs: change.ms, changeWrites, changeWritesPerSecond: changeWrites / changeSeconds, stormWrites: 0, stormWritesPerSecond: 0 };
      log(`  etcd writes: idle ${figures.etcd.idleWritesPerSecond.toFixed(1)}/s; a change ACKed by all in ${change.ms.toFixed(0)} ms, ${changeWrites} writes in ${changeSeconds.toFixed(1)} s`);
    }
    // The storm: kill, then start again on the same port and store; every proxy reconnects.
    await server.kill();
    server = undefined;
    await clients.request({ type: 'mark', types: TYPES }, 'marked', 10_000);
    const stormFrom = await etcdWrites(setup.etcd);
    const spawned = performance.now();
    server = await start();
    const storm = await clients.request({ type: 'await-acked' }, 'acked', 600_000);
    figures.restartReadyMs = storm.firstResponseMs;
    figures.reconnectMs = storm.ms;
    log(`  restarted: first response ${storm.firstResponseMs.toFixed(0)} ms after the restart, all ${PROXIES} ACKed every type again at ${storm.ms.toFixed(0)} ms`);
    if (figures.etcd) {
      await new Promise((resolve) => setTimeout(resolve, IDLE_WINDOW_MS));
      const stormWrites = (await etcdWrites(setup.etcd))! - stormFrom!;
      figures.etcd = { ...figures.etcd, stormWrites, stormWritesPerSecond: stormWrites / ((performance.now() - spawned) / 1000) };
      log(`  etcd writes from the restart until ${IDLE_WINDOW_MS / 1000} s after the last ACK: ${stormWrites} (${figures.etcd.stormWritesPerSecond.toFixed(1)}/s)`);
    }
    const stats = (await clients.request({ type: 'stats' }, 'stats', 10_000)).stats;
    figures.streams = stats.streams;
    return figures;
  } finally {
    await server?.kill();
    await clients.stop({ type: 'stop' });
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-storm-'));
  let etcd: TestEtcd | undefined;
  try {
    const wantEtcd = (process.env['BENCH_STORM_STORE'] ?? 'etcd') === 'etcd';
    let haveEtcd = false;
    try {
      await new Promise<void>((resolve, reject) => spawn('etcd', ['--version'], { stdio: 'ignore' }).on('exit', (code) => (code === 0 ? resolve() : reject(new Error('etcd')))).on('error', reject));
      haveEtcd = true;
    } catch {
      log('  no etcd binary: meshcp runs on its data directory (file store), and no etcd writes are measured');
    }
    if (wantEtcd && haveEtcd) etcd = await startEtcd();
    const setup: Setup = { dir, tls: await tlsMaterial(), ...(etcd ? { etcd } : {}) };
    await seed(setup);
    const runs = [await stormRun('baseline', setup), await stormRun('meshcp', setup)];
    const figures: ReconnectStormFigures = { store: etcd ? 'etcd' : 'file', runs };
    process.stdout.write(`${JSON.stringify(figures)}\n`);
  } finally {
    await etcd?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`reconnect storm failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

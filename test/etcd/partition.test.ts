/**
 * Partitions with real network namespaces (SPEC §5): etcd, two `meshcp serve` replicas and a
 * client host each get a namespace of their own, joined by two bridges in a hub namespace: a store
 * network (etcd and the replicas) and a proxy network (the replicas and the client). A link is cut
 * by taking the hub's end of its veth down: packets are dropped, no reset is sent, as with a cable.
 * Every address lives in a namespace this test creates, and all of them go in afterAll.
 *
 * - One replica cut off from etcd keeps serving its last good config (also to a new proxy),
 *   refuses writes with a clear error, reports not-ready on /readyz, and catches up when healed.
 * - A proxy (`meshcp agent` listing both replicas) whose link to its replica is cut fails over to
 *   the other replica, which issues it a new certificate.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const TAG = `mcp${process.pid % 100_000}`;
const NS = { hub: `${TAG}-hub`, etcd: `${TAG}-etcd`, r1: `${TAG}-r1`, r2: `${TAG}-r2`, client: `${TAG}-cl` } as const;
const ETCD_IP = '10.213.1.1';
const STORE_IP = { r1: '10.213.1.11', r2: '10.213.1.12' } as const;
const PROXY_IP = { r1: '10.213.2.11', r2: '10.213.2.12', client: '10.213.2.100' } as const;

const RESOURCES = `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends: [{ name: ca-1, type: builtin, conf: { caCert: { keyType: ECDSA } } }]
${['web-01', 'web-02']
  .map(
    (name, i) => `---
type: Dataplane
name: ${name}
networking:
  address: ${PROXY_IP.client}
  inbound: [{ port: ${8080 + i}, servicePort: ${18080 + i}, tags: { kuma.io/service: web } }]
`,
  )
  .join('')}`;

function ip(...args: string[]): void {
  const run = spawnSync('ip', args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`ip ${args.join(' ')}: ${run.stderr.trim()}`);
}

/** A veth from the hub's `bridge` to `ns`, named `hubEnd` there and `nsEnd` in `ns`, with `address`. */
function link(bridge: string, hubEnd: string, ns: string, nsEnd: string, address: string): void {
  ip('-n', NS.hub, 'link', 'add', hubEnd, 'type', 'veth', 'peer', 'name', nsEnd, 'netns', ns);
  ip('-n', NS.hub, 'link', 'set', hubEnd, 'master', bridge, 'up');
  ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', nsEnd);
  ip('-n', ns, 'link', 'set', nsEnd, 'up');
}

interface Proc {
  readonly child: ChildProcess;
  output(): string;
}

const procs: Proc[] = [];

/** `CMD…` inside namespace `ns`, in its own process group (stopped by pid in afterAll). */
function inNs(ns: string, args: readonly string[]): Proc {
  const child = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const proc = { child, output: () => output };
  procs.push(proc);
  return proc;
}

/** Runs `CMD…` in `ns` to completion (asynchronously: servers run in other processes, but keep the event loop free anyway). */
function runInNs(ns: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const meshcp = (ns: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => runInNs(ns, [process.execPath, CLI, ...args]);
const readyz = async (ns: string): Promise<string> => (await runInNs(ns, ['curl', '-s', '-w', ' %{http_code}', 'http://127.0.0.1:5681/readyz'])).stdout.replace(/\s+/g, ' ').trim();

describe('partitions between etcd, two replicas and a proxy (network namespaces)', () => {
  let dir: string;
  let web: Awaited<ReturnType<typeof agent>>;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-partition-'));
    // given: the hosts and the two networks
    for (const ns of Object.values(NS)) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    for (const bridge of ['brs', 'brp']) {
      ip('-n', NS.hub, 'link', 'add', bridge, 'type', 'bridge');
      ip('-n', NS.hub, 'link', 'set', bridge, 'up');
    }
    link('brs', 's-etcd', NS.etcd, 'eth-s', ETCD_IP);
    link('brs', 's-r1', NS.r1, 'eth-s', STORE_IP.r1);
    link('brs', 's-r2', NS.r2, 'eth-s', STORE_IP.r2);
    link('brp', 'p-r1', NS.r1, 'eth-p', PROXY_IP.r1);
    link('brp', 'p-r2', NS.r2, 'eth-p', PROXY_IP.r2);
    link('brp', 'p-cl', NS.client, 'eth-p', PROXY_IP.client);
    // and: etcd on the store network, TLS with client certificates
    const ca = await createRootCa({ commonName: 'partition etcd CA', validitySeconds: 86_400 });
    const server = await issueCertificate({ issuer: ca, commonName: 'etcd', ipAddresses: [ETCD_IP], usage: 'both', validitySeconds: 86_400 });
    const client = await issueCertificate({ issuer: ca, commonName: 'meshcp', usage: 'client', validitySeconds: 86_400 });
    const file = (name: string, content: string | Buffer): string => {
      fs.writeFileSync(path.join(dir, name), content, { mode: 0o600 });
      return path.join(dir, name);
    };
    file('ca.pem', ca.certPem);
    file('server.pem', server.certPem);
    file('server-key.pem', server.keyPem);
    file('client.pem', client.certPem);
    file('client-key.pem', client.keyPem);
    file('store.key', `${crypto.randomBytes(32).toString('base64')}\n`);
    fs.writeFileSync(path.join(dir, 'resources.yaml'), RESOURCES);
    const etcd = inNs(NS.etcd, [
      'etcd', '--name', 'part', '--data-dir', path.join(dir, 'etcd-data'),
      '--listen-client-urls', `https://${ETCD_IP}:2379`, '--advertise-client-urls', `https://${ETCD_IP}:2379`,
      '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380', '--initial-cluster', 'part=http://127.0.0.1:2380',
      '--client-cert-auth', '--trusted-ca-file', path.join(dir, 'ca.pem'), '--cert-file', path.join(dir, 'server.pem'), '--key-file', path.join(dir, 'server-key.pem'),
      '--logger', 'zap', '--log-level', 'info',
    ]);
    await waitFor('etcd serving', () => etcd.output().includes('serving client traffic securely') || (etcd.child.exitCode !== null && Promise.reject(new Error(etcd.output()))), { timeoutMs: 30_000 });
    // and: a replica in each of r1, r2: xDS on the proxy network, admin on its own loopback
    for (const name of ['r1', 'r2'] as const) {
      const replica = inNs(NS[name], [
        process.execPath, CLI, 'serve', '--data-dir', path.join(dir, `data-${name}`), '--store', `etcd://${ETCD_IP}:2379/part`,
        '--store-ca-cert', path.join(dir, 'ca.pem'), '--store-cert', path.join(dir, 'client.pem'), '--store-key', path.join(dir, 'client-key.pem'),
        '--store-encryption-key-file', path.join(dir, 'store.key'), '--xds-address', '0.0.0.0:5678', '--admin-address', '127.0.0.1:5681', '--xds-plaintext',
      ]);
      await waitFor(`replica ${name} serving`, () => replica.output().includes('meshcp is serving') || (replica.child.exitCode !== null && Promise.reject(new Error(replica.output()))), { timeoutMs: 60_000 });
    }
    const applied = await meshcp(NS.r1, ['apply', '-f', path.join(dir, 'resources.yaml'), '--server', 'http://127.0.0.1:5681']);
    if (applied.code !== 0) throw new Error(applied.stderr);
    // and: web-01's agent (listing r1, then r2) served by r1: r1 has its mesh CA in hand
    web = await agent('web-01', [PROXY_IP.r1, PROXY_IP.r2]);
  }, 180_000);

  afterAll(async () => {
    // PARTITION_LOGS=FILE keeps every process's output, to read a failure.
    if (process.env['PARTITION_LOGS']) fs.writeFileSync(process.env['PARTITION_LOGS'], procs.map((p) => `=== ${p.child.spawnargs.slice(0, 8).join(' ')}\n${p.output()}`).join('\n'));
    for (const { child } of procs) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    await Promise.all(procs.map(({ child }) => (child.exitCode !== null || child.signalCode !== null ? undefined : new Promise((resolve) => child.once('exit', resolve)))));
    for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** `meshcp agent` for `name` in the client namespace; resolves once it wrote its certificate, with its files and log. */
  async function agent(name: string, replicas: readonly string[]): Promise<{ serial: () => string | undefined; log: () => string }> {
    const token = await meshcp(NS.r1, ['token', 'generate', '--name', name, '--server', 'http://127.0.0.1:5681']);
    if (token.code !== 0) throw new Error(token.stderr);
    const tokenFile = path.join(dir, `${name}.token`);
    fs.writeFileSync(tokenFile, token.stdout.trim(), { mode: 0o600 });
    const certDir = path.join(dir, `certs-${name}`);
    const proc = inNs(NS.client, [process.execPath, CLI, 'agent', '--name', name, '--token-file', tokenFile, '--cert-dir', certDir, '--xds-plaintext', ...replicas.flatMap((r) => ['--xds-address', `${r}:5678`])]);
    const serial = (): string | undefined => {
      try {
        return new crypto.X509Certificate(fs.readFileSync(path.join(certDir, 'cert.pem'))).serialNumber;
      } catch {
        return undefined;
      }
    };
    await waitFor(`${name}'s certificate`, () => serial() !== undefined || (proc.child.exitCode !== null && Promise.reject(new Error(proc.output()))), { timeoutMs: 30_000 }).catch((err: unknown) => {
      throw new Error(`${String(err)}; agent log: ${proc.output().slice(-1500)}`);
    });
    return { serial, log: proc.output };
  }

  it('a replica cut off from etcd serves its last good config, refuses writes, is not ready, and catches up when healed', async () => {
    // given: both replicas ready
    expect(await readyz(NS.r1)).toBe('ready 200');
    // when: r1's link to etcd is cut
    ip('-n', NS.hub, 'link', 'set', 's-r1', 'down');
    try {
      // then: r1 says it is not ready, naming the store
      const notReady = await waitFor('r1 not ready', async () => {
        const answer = await readyz(NS.r1);
        return answer.endsWith(' 503') ? answer : undefined;
      }, { timeoutMs: 30_000, intervalMs: 200 });
      expect(notReady).toMatch(new RegExp(`^not ready: etcd://${ETCD_IP.replace(/\./g, '\\.')}:2379/part: unavailable`));
      // and: a write through r1 fails with a clear error, and writes nothing
      fs.writeFileSync(path.join(dir, 'svc.yaml'), 'type: Service\nname: during-cut\nendpoints: [{ address: 10.213.2.100, port: 9000 }]\n');
      const refused = await meshcp(NS.r1, ['apply', '-f', path.join(dir, 'svc.yaml'), '--server', 'http://127.0.0.1:5681']);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/etcd:\/\/10\.213\.1\.1:2379\/part: unavailable: .*(nothing was written|retry when etcd is reachable)/);
      // and: r1 keeps serving its last good config, also to a proxy that connects now (a certificate issued from its CA)
      const fresh = await agent('web-02', [PROXY_IP.r1]);
      expect(fresh.serial()).toBeDefined();
      // and: meanwhile a change goes through r2
      fs.writeFileSync(path.join(dir, 'svc2.yaml'), 'type: Service\nname: while-cut\nendpoints: [{ address: 10.213.2.100, port: 9001 }]\n');
      const viaR2 = await meshcp(NS.r2, ['apply', '-f', path.join(dir, 'svc2.yaml'), '--server', 'http://127.0.0.1:5681']);
      expect(viaR2.code, viaR2.stderr).toBe(0);
      const onR1 = await meshcp(NS.r1, ['get', 'services', '-o', 'json', '--server', 'http://127.0.0.1:5681']);
      expect(onR1.stdout).not.toContain('while-cut');
    } finally {
      // when: the link heals
      ip('-n', NS.hub, 'link', 'set', 's-r1', 'up');
    }
    // then: r1 is ready again and has caught up
    await waitFor('r1 ready again', async () => (await readyz(NS.r1)) === 'ready 200', { timeoutMs: 60_000, intervalMs: 200 });
    await waitFor('r1 caught up', async () => (await meshcp(NS.r1, ['get', 'services', '-o', 'json', '--server', 'http://127.0.0.1:5681'])).stdout.includes('while-cut'), { timeoutMs: 60_000, intervalMs: 200 });
  }, 240_000);

  it('a proxy whose link to its replica is cut fails over to the other replica', async () => {
    // given: web-01's agent listing r1 then r2, on r1 (beforeAll)
    const first = web.serial();
    expect(web.log()).not.toMatch(/switching to the next --xds-address/);
    // when: the link between the client host and r1 is cut (r1 itself keeps running)
    ip('-n', NS.hub, 'link', 'set', 'p-r1', 'down');
    try {
      // then: the agent moves to r2, which issues it a new certificate
      await waitFor('a certificate from r2', () => web.serial() !== undefined && web.serial() !== first, { timeoutMs: 60_000, intervalMs: 200 });
      expect(web.log()).toMatch(new RegExp(`"from":"${PROXY_IP.r1.replace(/\./g, '\\.')}:5678","to":"${PROXY_IP.r2.replace(/\./g, '\\.')}:5678"[^\\n]*switching to the next --xds-address`));
    } finally {
      ip('-n', NS.hub, 'link', 'set', 'p-r1', 'up');
    }
  }, 120_000);
});

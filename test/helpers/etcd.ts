/**
 * A real etcd for tests (issue #12): started on free 127.0.0.1 ports in a temporary directory,
 * TLS with client-certificate auth (certificates made with meshcp's own pki.ts), stopped by the
 * caller. Readiness is a health probe with a deadline, never a fixed sleep.
 *
 * Also a TCP gate: a pass-through proxy in front of etcd that a test can cut and restore, to
 * partition one replica from etcd while the others keep talking to it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';
import type { EtcdTls } from '../../src/store/etcd-store.js';
import { waitFor } from './wait.js';

export interface EtcdFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** A 32-byte base64 key for `--store-encryption-key-file`. */
  readonly encryptionKey: string;
}

export interface TestEtcd {
  /** `127.0.0.1:PORT` */
  readonly endpoint: string;
  /** `etcd://127.0.0.1:PORT` */
  readonly url: string;
  /** Client TLS material (a client certificate etcd trusts). */
  readonly tls: EtcdTls;
  readonly files: EtcdFiles;
  readonly encryptionKey: Buffer;
  readonly dir: string;
  /** Whether the etcd process is running. */
  running(): boolean;
  /** SIGKILL, as a crash; resolves when the process has exited. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data directory; resolves once healthy. */
  restart(): Promise<void>;
  /** Compacts the history up to the current revision (physically); returns that revision. */
  compact(): Promise<number>;
  /** A client for assertions and set-up (closed by stop()). */
  client(): Etcd3;
  /** Kills etcd and removes its directory. */
  stop(): Promise<void>;
}

/** The `meshcp serve` store flags for `store` on this etcd: mTLS to it and the sealing key. */
export function etcdStoreFlags(etcd: TestEtcd, store: string): { store: string; storeCaCert: string; storeCert: string; storeKey: string; storeEncryptionKeyFile: string } {
  return { store, storeCaCert: etcd.files.ca, storeCert: etcd.files.cert, storeKey: etcd.files.key, storeEncryptionKeyFile: etcd.files.encryptionKey };
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function makeCertificates(dir: string): Promise<{ files: EtcdFiles; tls: EtcdTls; encryptionKey: Buffer }> {
  const ca = await createRootCa({ commonName: 'test etcd CA', validitySeconds: 24 * 3600 });
  const server = await issueCertificate({ issuer: ca, commonName: 'etcd', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'both', validitySeconds: 24 * 3600 });
  const client = await issueCertificate({ issuer: ca, commonName: 'meshcp', usage: 'client', validitySeconds: 24 * 3600 });
  const encryptionKey = crypto.randomBytes(32);
  const files: EtcdFiles = {
    ca: path.join(dir, 'ca.pem'),
    cert: path.join(dir, 'client.pem'),
    key: path.join(dir, 'client-key.pem'),
    encryptionKey: path.join(dir, 'encryption.key'),
  };
  fs.writeFileSync(files.ca, ca.certPem);
  fs.writeFileSync(files.cert, client.certPem);
  fs.writeFileSync(files.key, client.keyPem, { mode: 0o600 });
  fs.writeFileSync(files.encryptionKey, `${encryptionKey.toString('base64')}\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'server.pem'), server.certPem);
  fs.writeFileSync(path.join(dir, 'server-key.pem'), server.keyPem, { mode: 0o600 });
  return { files, tls: { caPem: Buffer.from(ca.certPem), certPem: Buffer.from(client.certPem), keyPem: Buffer.from(client.keyPem) }, encryptionKey };
}

/** Starts etcd with `--client-cert-auth`; large --max-txn-ops so a 1,000-resource apply is one transaction. */
export async function startEtcd(): Promise<TestEtcd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-etcd-'));
  const { files, tls, encryptionKey } = await makeCertificates(dir);
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `127.0.0.1:${clientPort}`;
  const args = [
    '--name', 'test',
    '--data-dir', path.join(dir, 'data'),
    '--listen-client-urls', `https://${endpoint}`,
    '--advertise-client-urls', `https://${endpoint}`,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `test=http://127.0.0.1:${peerPort}`,
    '--client-cert-auth',
    '--trusted-ca-file', files.ca,
    '--cert-file', path.join(dir, 'server.pem'),
    '--key-file', path.join(dir, 'server-key.pem'),
    '--max-txn-ops', '10000',
    '--max-request-bytes', String(32 * 1024 * 1024),
    '--logger', 'zap',
    '--log-level', 'error',
  ];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = '';
  const clients: Etcd3[] = [];
  const newClient = (): Etcd3 => {
    const c = new Etcd3({
      hosts: `https://${endpoint}`,
      credentials: { rootCertificate: tls.caPem, certChain: tls.certPem!, privateKey: tls.keyPem! },
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 2000 }),
    });
    clients.push(c);
    return c;
  };
  const probe = newClient();

  const launch = async (): Promise<void> => {
    output = '';
    const proc = spawn('etcd', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const failed = exited.then(() => {
      throw new Error(`etcd exited during start: ${output.slice(-2000)}`);
    });
    // A fresh probe client each start: the old one may sit behind an open circuit breaker.
    const health = newClient();
    await Promise.race([waitFor('etcd healthy', async () => (await health.maintenance.status()).version !== '', { timeoutMs: 30_000, intervalMs: 50 }), failed]);
    failed.catch(() => undefined);
  };
  const kill = async (): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    child = undefined;
  };
  await launch();
  return {
    endpoint,
    url: `etcd://${endpoint}`,
    tls,
    files,
    encryptionKey,
    dir,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    kill,
    restart: launch,
    compact: async () => {
      const c = newClient();
      const revision = Number((await c.maintenance.status()).header.revision);
      await c.kv.compact({ revision: String(revision), physical: true });
      return revision;
    },
    client: () => probe,
    stop: async () => {
      await kill();
      for (const c of clients) c.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A TCP pass-through to `target` that can be cut (every connection dropped, new ones refused) and restored, on the same port. */
export interface TcpGate {
  readonly endpoint: string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpGate(target: string): Promise<TcpGate> {
  const [targetHost, targetPort] = target.split(':') as [string, string];
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const open = async (): Promise<void> => {
    const s = net.createServer((inbound) => {
      const outbound = net.connect(Number(targetPort), targetHost);
      sockets.add(inbound);
      sockets.add(outbound);
      inbound.pipe(outbound);
      outbound.pipe(inbound);
      const drop = (): void => {
        inbound.destroy();
        outbound.destroy();
        sockets.delete(inbound);
        sockets.delete(outbound);
      };
      inbound.on('error', drop).on('close', drop);
      outbound.on('error', drop).on('close', drop);
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', resolve);
    });
    server = s;
  };
  const shut = async (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await open();
  return { endpoint: `127.0.0.1:${port}`, cut: shut, restore: open, close: shut };
}

/** etcd's count of committed writes (raft proposals), from its /metrics on the client port. */
export async function etcdCommittedWrites(etcd: TestEtcd): Promise<number> {
  const body = await new Promise<string>((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', port: Number(etcd.endpoint.split(':')[1]), path: '/metrics', ca: etcd.tls.caPem, cert: etcd.tls.certPem, key: etcd.tls.keyPem, servername: 'localhost', timeout: 10_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(text));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
  });
  const line = body.split('\n').find((l) => l.startsWith('etcd_server_proposals_committed_total '));
  if (!line) throw new Error('etcd /metrics has no etcd_server_proposals_committed_total');
  return Number(line.split(' ')[1]);
}

/**
 * docker-compose.etcd.yml and envoy/init-etcd.sh (issue #12): everything short of running Docker.
 * Both init phases run for real with this build of meshcp, and etcd runs for real with the compose
 * file's own flags (client-certificate auth, the certificates init made); then the compose file,
 * the replicas' flags, the certificates, the tokens and the Envoy bootstraps must agree, and both
 * replicas, started with the compose flags on that etcd, serve a proxy its config with the token
 * and the TLS check its bootstrap carries.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigPaths } from '../../src/api/load-files.js';
import { loadOrCreateStoredSigningKey } from '../../src/auth/signing-key-store.js';
import { verifyToken } from '../helpers/verify-token.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { EtcdStore } from '../../src/store/etcd-store.js';
import { CLUSTER_TYPE } from '../../src/snapshot/types.js';
import { get, validateBootstrap } from '../helpers/envoy-bootstrap.js';
import { parseDuration } from '../../src/api/duration.js';
import { envoyVolumes, expectOnlyItsOwnBootstrap, expectSharedVolumeHoldsNoCaKey, mounts } from './proxy-volumes.js';
import { freePort } from '../helpers/etcd.js';
import { FakeEnvoy } from '../helpers/fake-envoy.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');

type Service = {
  image?: string;
  build?: string;
  command?: string[];
  volumes?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test?: string[] };
  depends_on?: Record<string, { condition: string }>;
  network_mode?: string;
  networks?: { mesh?: { ipv4_address?: string } };
};

const compose = YAML.parse(fs.readFileSync(path.join(ROOT, 'docker-compose.etcd.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const flag = (command: readonly string[] | undefined, name: string): string | undefined => {
  const i = command?.indexOf(name) ?? -1;
  return i >= 0 ? command?.[i + 1] : undefined;
};
const replicas = Object.entries(services).filter(([, s]) => s.command?.[0] === 'serve');
const envoys = Object.entries(services).filter(([, s]) => s.image?.startsWith('envoyproxy/envoy:'));
/** `host:port` as the proxies dial each replica: its compose name and the port of its --xds-address. */
const replicaAddresses = replicas.map(([name, s]) => `${name}:${flag(s.command, '--xds-address')?.split(':').pop()}`);

let out: string;
/** The volumes other than the shared one: the proxies' and the init-only CA keys. */
let aside: string;
let etcdChild: ChildProcess | undefined;
let etcdEndpoint: string;
/** A path of the compose file's /shared volume, in this test's output directory. */
const shared = (file: string | undefined): string => {
  if (!file?.startsWith('/shared/')) throw new Error(`not under /shared: ${file}`);
  return path.join(out, file.slice('/shared/'.length));
};
/** The compose replica's --store URL, pointed at the local etcd. */
const localStore = (url: string | undefined): string => (url ?? '').replace('etcd:2379', etcdEndpoint);

/** An init phase as compose runs it; asynchronous, so this worker's event loop (and vitest's RPC) keeps running. */
async function runInit(phase: 'pki' | 'tokens', env: Record<string, string>): Promise<void> {
  const service = services[phase === 'pki' ? 'init-pki' : 'init-tokens'];
  expect(service?.entrypoint).toEqual(['sh', '/app/envoy/init-etcd.sh', phase]);
  const run = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const child = spawn('sh', [path.join(ROOT, 'envoy/init-etcd.sh'), phase], {
      env: { ...process.env, ...service?.environment, MESHCP: `${process.execPath} ${CLI}`, OUT: out, CA_KEYS: path.join(aside, 'ca-keys'), PROXIES: path.join(aside, 'proxies'), ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    });
  });
  if (run.status !== 0) throw new Error(`envoy/init-etcd.sh ${phase} failed (${run.status}): ${run.stderr}`);
}

beforeAll(async () => {
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-compose-etcd-'));
  aside = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-compose-etcd-volumes-'));
  // given: the pki phase, as the init-pki service runs it
  await runInit('pki', {});
  // and: etcd with the compose file's command, its paths and ports mapped here
  const command = services['etcd']?.command ?? [];
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  etcdEndpoint = `127.0.0.1:${clientPort}`;
  const args = command.slice(1).map((arg) => {
    if (arg.startsWith('/shared/')) return shared(arg);
    if (arg === '/etcd-data') return path.join(aside, 'etcd-data');
    if (arg === 'https://0.0.0.0:2379' || arg === 'https://etcd:2379') return `https://${etcdEndpoint}`;
    return arg;
  });
  args.push('--listen-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-cluster', `default=http://127.0.0.1:${peerPort}`);
  let output = '';
  const child = spawn('etcd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  etcdChild = child;
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  // and: healthy, asked as the compose healthcheck asks (its CA and client certificate)
  const check = services['etcd']?.healthcheck?.test ?? [];
  const option = (name: string): string => shared(check.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1));
  const probe = new Etcd3({
    hosts: `https://${etcdEndpoint}`,
    credentials: { rootCertificate: fs.readFileSync(option('--cacert')), certChain: fs.readFileSync(option('--cert')), privateKey: fs.readFileSync(option('--key')) },
    defaultCallOptions: () => ({ deadline: Date.now() + 2000 }),
  });
  try {
    await waitFor('etcd healthy with the compose certificates', async () => {
      if (child.exitCode !== null) throw new Error(`etcd exited: ${output.slice(-2000)}`);
      return (await probe.maintenance.status()).version !== '';
    }, { timeoutMs: 30_000, intervalMs: 100 });
  } finally {
    probe.close();
  }
  // and: the tokens phase, against that etcd
  await runInit('tokens', { STORE: localStore(services['init-tokens']?.environment?.['STORE']) });
}, 180_000);

afterAll(async () => {
  if (etcdChild && etcdChild.exitCode === null) {
    const exited = new Promise((resolve) => etcdChild!.once('exit', resolve));
    etcdChild.kill('SIGKILL');
    await exited;
  }
  if (out) fs.rmSync(out, { recursive: true, force: true });
  if (aside) fs.rmSync(aside, { recursive: true, force: true });
});

describe('docker-compose etcd variant', () => {
  it('runs etcd, two meshcp replicas on it and the demo services, in dependency order', () => {
    expect(Object.keys(services).sort()).toEqual(['backend', 'backend-sidecar', 'edge', 'etcd', 'init-pki', 'init-tokens', 'meshcp-1', 'meshcp-2', 'web', 'web-sidecar']);
    expect(replicas.map(([name]) => name)).toEqual(['meshcp-1', 'meshcp-2']);
    expect(services['etcd']?.depends_on?.['init-pki']?.condition).toBe('service_completed_successfully');
    expect(services['init-tokens']?.depends_on?.['etcd']?.condition).toBe('service_healthy');
    for (const [name, replica] of replicas) {
      expect(replica.depends_on?.['etcd']?.condition, name).toBe('service_healthy');
      expect(replica.depends_on?.['init-tokens']?.condition, name).toBe('service_completed_successfully');
    }
    for (const [name, envoy] of envoys) {
      expect(Object.keys(envoy.depends_on ?? {}).sort(), name).toEqual(['init-tokens', 'meshcp-1', 'meshcp-2']);
    }
    // the init phases and the bootstraps agree on where the replicas are
    expect(services['init-tokens']?.environment?.['XDS_ADDRESSES']?.split(',')).toEqual(replicaAddresses);
    expect(services['init-pki']?.environment?.['XDS_ADDRESSES']).toBe(services['init-tokens']?.environment?.['XDS_ADDRESSES']);
  });

  it('makes etcd require client certificates from the CA init made; meshcp\'s client certificate and etcd\'s server certificate fit', () => {
    // given: etcd's command
    const command = services['etcd']?.command ?? [];
    expect(command).toContain('--client-cert-auth');
    const ca = new crypto.X509Certificate(fs.readFileSync(shared(flag(command, '--trusted-ca-file'))));
    const server = new crypto.X509Certificate(fs.readFileSync(shared(flag(command, '--cert-file'))));
    // then: the server certificate names etcd as the replicas dial it, and signs with its key
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkHost(new URL(flag(command, '--advertise-client-urls') ?? '').hostname)).toBe('etcd');
    expect(server.checkPrivateKey(crypto.createPrivateKey(fs.readFileSync(shared(flag(command, '--key-file')))))).toBe(true);
    // and: each replica's client certificate is from that CA, for client auth, with its key
    for (const [name, replica] of replicas) {
      const cert = new crypto.X509Certificate(fs.readFileSync(shared(flag(replica.command, '--store-cert'))));
      expect(cert.verify(ca.publicKey), name).toBe(true);
      expect(cert.keyUsage ?? [], name).toContain('1.3.6.1.5.5.7.3.2');
      expect(cert.checkPrivateKey(crypto.createPrivateKey(fs.readFileSync(shared(flag(replica.command, '--store-key')))))).toBe(true);
      expect(fs.readFileSync(shared(flag(replica.command, '--store-ca-cert')), 'utf8')).toBe(ca.toString());
    }
  });

  it('gives both replicas the same store, encryption key and resources; each serves xDS with a certificate for its own name from the CA the bootstraps trust', async () => {
    const storeFlags = ['--store', '--store-ca-cert', '--store-cert', '--store-key', '--store-encryption-key-file', '--admin-address'];
    const [first, second] = replicas.map(([, s]) => s.command ?? []);
    for (const f of storeFlags) expect(flag(second, f), f).toBe(flag(first, f));
    expect(flag(first, '--store')).toBe('etcd://etcd:2379');
    expect(Buffer.from(fs.readFileSync(shared(flag(first, '--store-encryption-key-file')), 'utf8').trim(), 'base64')).toHaveLength(32);
    expect(first.filter((_, i) => first[i - 1] === '--config')).toEqual(second.filter((_, i) => second[i - 1] === '--config'));
    const xdsCa = new crypto.X509Certificate(fs.readFileSync(path.join(out, 'certs/xds-ca.crt')));
    for (const [name, replica] of replicas) {
      const cert = new crypto.X509Certificate(fs.readFileSync(shared(flag(replica.command, '--xds-tls-cert'))));
      expect(cert.checkHost(name), name).toBe(name);
      expect(cert.verify(xdsCa.publicKey), name).toBe(true);
      expect(cert.checkPrivateKey(crypto.createPrivateKey(fs.readFileSync(shared(flag(replica.command, '--xds-tls-key')))))).toBe(true);
    }
    // and: the resources the replicas load validate, with the compose network's addresses
    const loaded = await loadConfigPaths([path.join(ROOT, 'envoy/meshcp'), path.join(out, 'config')]);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded));
    for (const dp of loaded.value.filter((r) => r.type === 'Dataplane')) expect(services[dp.name]?.networks?.mesh?.ipv4_address, dp.name).toBe(dp.networking.address);
  });

  it('gives every Envoy a bootstrap listing both replicas, each with its own TLS name check, and a token signed with the key in etcd', async () => {
    // given: the signing key the replicas share, read from etcd as a replica would
    const command = replicas[0]![1].command;
    const store = await EtcdStore.open(localStore(flag(command, '--store')), {
      encryptionKey: Buffer.from(fs.readFileSync(shared(flag(command, '--store-encryption-key-file')), 'utf8').trim(), 'base64'),
      tls: { caPem: fs.readFileSync(shared(flag(command, '--store-ca-cert'))), certPem: fs.readFileSync(shared(flag(command, '--store-cert'))), keyPem: fs.readFileSync(shared(flag(command, '--store-key'))) },
    });
    const signingKey = await loadOrCreateStoredSigningKey(store);
    await store.close();
    const xdsCa = fs.readFileSync(path.join(out, 'certs/xds-ca.crt'), 'utf8');
    expect(envoys.map(([name]) => name).sort()).toEqual(['backend-sidecar', 'edge', 'web-sidecar']);
    for (const { name, bootstrap: file } of envoyVolumes(services, 'init-tokens', path.join(aside, 'proxies'))) {
      // when: the bootstrap its command names, in its own volume
      const bootstrap = YAML.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
      // then: accepted by Envoy, both replicas with per-endpoint TLS for the name dialled there
      expect(validateBootstrap(bootstrap), name).toEqual({ ok: true });
      const cluster = get(bootstrap, 'static_resources', 'clusters', 0) as Record<string, unknown>;
      const endpoints = get(cluster, 'load_assignment', 'endpoints', 0, 'lb_endpoints') as Record<string, unknown>[];
      const dialled = endpoints.map((e) => get(e, 'endpoint', 'address', 'socket_address') as { address: string; port_value: number });
      expect(dialled.map((a) => `${a.address}:${a.port_value}`), name).toEqual(replicaAddresses);
      const matches = cluster['transport_socket_matches'] as { match: { xds_address: string }; transport_socket: unknown }[];
      for (const address of replicaAddresses) {
        const host = address.split(':')[0];
        const context = get(matches.find((m) => m.match.xds_address === address), 'transport_socket', 'typed_config');
        expect(context, `${name} → ${address}`).toMatchObject({
          sni: host,
          common_tls_context: { validation_context: { trusted_ca: { inline_string: xdsCa }, match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: host } }] } },
        });
      }
      const proxy = name.replace(/-sidecar$/, '');
      expect(get(bootstrap, 'node', 'id')).toBe(proxy);
      const token = verifyToken(String(get(bootstrap, 'node', 'metadata', 'token')), signingKey);
      expect(token.ok && token.claims.name, name).toBe(proxy);
    }
  });

  it('gives each Envoy only its own volume: its bootstrap with its own short-lived token, owner-only for the Envoy user; CA keys stay with init', () => {
    // given
    const envoyList = envoyVolumes(services, 'init-tokens', path.join(aside, 'proxies'));
    expect(envoyList.map((e) => e.proxy).sort()).toEqual(['backend', 'edge', 'web']);
    const env = services['init-tokens']?.environment ?? {};
    const validity = parseDuration(env['TOKEN_VALIDITY'] ?? '') ?? Infinity;
    expect(validity).toBeLessThanOrEqual(24 * 3600);
    // then
    for (const envoy of envoyList) expectOnlyItsOwnBootstrap(envoy, Number(env['ENVOY_UID']), validity);
    for (const [name, service] of Object.entries(services)) {
      for (const m of mounts(service)) {
        if (envoyList.some((e) => e.volume === m.source)) expect([...envoyList.map((e) => e.name), 'init-tokens'], `${name} mounts ${m.source}`).toContain(name);
        if (m.source === 'shared' && name !== 'init-pki') expect(m.readOnly, `${name} mounts shared read-only`).toBe(true);
      }
    }
    expect(fs.existsSync(path.join(out, 'tokens'))).toBe(false);
    expectSharedVolumeHoldsNoCaKey(out);
    expect(fs.readdirSync(path.join(aside, 'ca-keys')).sort()).toEqual(['etcd-ca.key', 'my-root-ca.key', 'xds-ca.key']);
    expect(Object.entries(services).filter(([, s]) => mounts(s).some((m) => m.source === 'ca-keys')).map(([n]) => n)).toEqual(['init-pki']);
  });

  it('starts both replicas with the compose flags on that etcd; each serves web its config over TLS for its own name, with web\'s init token, at the same version', async () => {
    // given: the replicas as compose starts them (paths and the etcd address mapped here; xDS and admin on free loopback ports)
    const running: RunningServer[] = [];
    const clients: FakeEnvoy[] = [];
    try {
      for (const [, replica] of replicas) {
        const command = replica.command ?? [];
        const local = (name: string): string => shared(flag(command, name));
        running.push(
          await startServer(
            {
              config: command.filter((_, i) => command[i - 1] === '--config').map((p) => (p === '/app/envoy/meshcp' ? path.join(ROOT, 'envoy/meshcp') : shared(p))),
              dataDir: path.join(out, 'unused'),
              xdsAddress: '127.0.0.1:0',
              adminAddress: '127.0.0.1:0',
              auth: 'token',
              store: localStore(flag(command, '--store')),
              storeCaCert: local('--store-ca-cert'),
              storeCert: local('--store-cert'),
              storeKey: local('--store-key'),
              storeEncryptionKeyFile: local('--store-encryption-key-file'),
              xdsTlsCert: local('--xds-tls-cert'),
              xdsTlsKey: local('--xds-tls-key'),
            },
            silentLogger(),
          ),
        );
      }
      // when: web connects to each, checking the server's name as its bootstrap does
      const webBootstrap = envoyVolumes(services, 'init-tokens', path.join(aside, 'proxies')).find((e) => e.proxy === 'web')?.bootstrap ?? '';
      const token = String(get(YAML.parse(fs.readFileSync(webBootstrap, 'utf8')), 'node', 'metadata', 'token'));
      const versions: string[] = [];
      for (const [i, [name]] of replicas.entries()) {
        const client = new FakeEnvoy({
          address: running[i]!.xdsAddress,
          mode: 'sotw',
          node: { id: 'web', metadata: { mesh: 'default', token } },
          credentials: grpc.credentials.createSsl(fs.readFileSync(path.join(out, 'certs/xds-ca.crt'))),
          channelOptions: { 'grpc.ssl_target_name_override': name, 'grpc.default_authority': name },
        });
        clients.push(client);
        client.subscribe(CLUSTER_TYPE, []);
        const clusters = await client.nextOf(CLUSTER_TYPE, 20_000);
        // then
        expect(clusters.resources.length, name).toBeGreaterThan(0);
        versions.push(clusters.version);
      }
      expect(versions[1]).toBe(versions[0]);
    } finally {
      for (const c of clients) c.close();
      for (const s of running) await s.close();
    }
  }, 60_000);
});

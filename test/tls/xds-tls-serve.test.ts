/**
 * SPEC §2 "xDS is TLS by default": `meshcp serve` serves xDS over TLS with a certificate issued
 * from its control-plane CA (kept in the data directory), publishes that CA at GET /api/xds-ca,
 * rotates the certificate without a restart, and serves plaintext only when asked to, loudly.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_PLANE_CA_BLOB, XdsServingCertificate, loadOrCreateControlPlaneCa } from '../../src/ca/control-plane-ca.js';
import { MemoryBlobStore } from '../../src/ca/providers/builtin.js';
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';
import { startServer, type RunningServer, type ServeOptions } from '../../src/cli/serve.js';
import { LISTENER_TYPE } from '../../src/snapshot/types.js';
import { FakeEnvoy } from '../helpers/fake-envoy.js';
import { bufferLogger } from '../helpers/log-buffer.js';

const CONFIG = `type: Service
name: backend
endpoints: [{ address: 127.0.0.1, port: 9001 }]
---
type: Dataplane
name: web-01
networking:
  address: 127.0.0.1
  outbound: [{ port: 10001, tags: { kuma.io/service: backend } }]
`;

/** The certificate the xDS server presents to a TLS client that trusts `ca` (verification on). */
function peerCertificate(address: string, ca: string, servername = 'localhost'): Promise<tls.DetailedPeerCertificate> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, ca, servername, ALPNProtocols: ['h2'] }, () => {
      const cert = socket.getPeerCertificate(true);
      socket.destroy();
      resolve(cert);
    });
    socket.once('error', reject);
  });
}

async function xdsCa(server: RunningServer): Promise<Response> {
  return fetch(`${server.adminUrl}/api/xds-ca`);
}

function listenerClient(address: string, credentials?: grpc.ChannelCredentials, servername?: string): FakeEnvoy {
  return new FakeEnvoy({
    address,
    mode: 'sotw',
    node: { id: 'web-01', metadata: { mesh: 'default' } },
    ...(credentials ? { credentials } : {}),
    ...(servername ? { channelOptions: { 'grpc.ssl_target_name_override': servername } } : {}),
  });
}

describe('meshcp serve: xDS over TLS by default', () => {
  let dir: string;
  let options: ServeOptions;
  let server: RunningServer;
  const logs = bufferLogger();
  const clients: FakeEnvoy[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-xds-tls-'));
    fs.writeFileSync(path.join(dir, 'config.yaml'), CONFIG);
    options = {
      config: [path.join(dir, 'config.yaml')],
      dataDir: path.join(dir, 'data'),
      xdsAddress: '127.0.0.1:0',
      adminAddress: '127.0.0.1:0',
      auth: 'none',
      xdsHostname: ['xds.mesh.internal', '10.1.2.3'],
    };
    server = await startServer(options, logs.log);
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });

  afterAll(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('publishes the control-plane CA certificate, and never a key, at GET /api/xds-ca', async () => {
    // given the server started with defaults (no --xds-plaintext)
    // when the CA is fetched from the admin API
    const res = await xdsCa(server);
    const pem = await res.text();

    // then it is the CA certificate kept in the data directory, and nothing else
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-pem-file');
    expect(pem).toBe(server.xdsCaPem);
    expect(pem).not.toMatch(/PRIVATE KEY/);
    const ca = new crypto.X509Certificate(pem);
    expect(ca.ca).toBe(true);
    const stored = JSON.parse((await server.store.getBlob(CONTROL_PLANE_CA_BLOB))!.toString('utf8')) as { certPem: string };
    expect(stored.certPem).toBe(pem);
  });

  it('refuses a plaintext client', async () => {
    // given a client that speaks plaintext gRPC
    const plain = listenerClient(server.xdsAddress);
    clients.push(plain);

    // when it asks for listeners
    plain.subscribe(LISTENER_TYPE, []);

    // then the stream fails: there is no plaintext xDS
    const status = await plain.closed(10_000);
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('serves a TLS client that trusts the CA from GET /api/xds-ca, and refuses one that trusts another CA', async () => {
    // given the CA fetched from the admin API, and an unrelated CA
    const ca = await (await xdsCa(server)).text();
    const other = await createRootCa({ commonName: 'someone else', validitySeconds: 3600 });

    // when a client trusting each asks for listeners
    const trusted = listenerClient(server.xdsAddress, grpc.credentials.createSsl(Buffer.from(ca)));
    const untrusted = listenerClient(server.xdsAddress, grpc.credentials.createSsl(Buffer.from(other.certPem)));
    clients.push(trusted, untrusted);
    trusted.subscribe(LISTENER_TYPE, []);
    untrusted.subscribe(LISTENER_TYPE, []);

    // then the first gets its listeners over TLS, the second cannot verify the server
    const response = await trusted.nextOf(LISTENER_TYPE, 10_000);
    expect(response.resources.length).toBeGreaterThan(0);
    expect((await untrusted.closed(10_000)).code).toBe(grpc.status.UNAVAILABLE);
  });

  it('presents a certificate for localhost, 127.0.0.1 and each --xds-hostname, signed by the CA', async () => {
    // given the published CA
    const ca = await (await xdsCa(server)).text();

    // when a TLS client connects under each name
    const cert = await peerCertificate(server.xdsAddress, ca);
    const byHostname = await peerCertificate(server.xdsAddress, ca, 'xds.mesh.internal');

    // then the SANs are exactly those names, and verification succeeded (tls.connect would fail otherwise)
    const sans = (cert.subjectaltname ?? '').split(', ').sort();
    expect(sans).toEqual(['DNS:localhost', 'DNS:xds.mesh.internal', 'IP Address:10.1.2.3', 'IP Address:127.0.0.1'].sort());
    expect(byHostname.serialNumber).toBe(cert.serialNumber);
    expect(new crypto.X509Certificate(cert.raw).verify(new crypto.X509Certificate(ca).publicKey)).toBe(true);
  });

  it('rotates the serving certificate without restarting: new connections get the new one', async () => {
    // given the certificate served now
    const ca = await (await xdsCa(server)).text();
    const before = await peerCertificate(server.xdsAddress, ca);
    const serving = server.xdsServingCertificate!;

    // when it is rotated (what the 4/5-of-lifetime timer does)
    const rotated = await serving.rotate();

    // then a new connection is served the new certificate, and xDS still works over it
    const after = await peerCertificate(server.xdsAddress, ca);
    expect(after.serialNumber.toLowerCase().replace(/^0+/, '')).toBe(rotated.serialHex.replace(/^0+/, ''));
    expect(after.serialNumber).not.toBe(before.serialNumber);
    const client = listenerClient(server.xdsAddress, grpc.credentials.createSsl(Buffer.from(ca)));
    clients.push(client);
    client.subscribe(LISTENER_TYPE, []);
    expect((await client.nextOf(LISTENER_TYPE, 10_000)).resources.length).toBeGreaterThan(0);
    expect(logs.text()).toContain('rotated the xDS serving certificate');
  });

  it('never logs a private key', () => {
    // given everything the server logged so far (issuance, rotation, connections)
    // then no key material is in it
    expect(logs.text()).not.toMatch(/PRIVATE KEY/);
  });

  it('keeps the control-plane CA across a restart on the same data directory', async () => {
    // given the CA served before the restart
    const before = await (await xdsCa(server)).text();

    // when the server restarts on the same data directory
    await server.close();
    server = await startServer(options, logs.log);

    // then it serves the same CA, and a client holding it still connects
    expect(await (await xdsCa(server)).text()).toBe(before);
    const client = listenerClient(server.xdsAddress, grpc.credentials.createSsl(Buffer.from(before)));
    clients.push(client);
    client.subscribe(LISTENER_TYPE, []);
    expect((await client.nextOf(LISTENER_TYPE, 10_000)).resources.length).toBeGreaterThan(0);
  });
});

describe('the xDS serving certificate', () => {
  it('is re-issued at 4/5 of its lifetime, by its timer', async () => {
    // given a serving certificate valid 1000 s on a timer the test fires by hand
    const ca = await loadOrCreateControlPlaneCa(new MemoryBlobStore());
    const timers: { fn: () => void; ms: number }[] = [];
    const serving = new XdsServingCertificate({ ca, validitySeconds: 1000, setTimer: (fn, ms) => (timers.push({ fn, ms }), () => undefined) });
    const first = await serving.start();

    // when the scheduled timer fires
    expect(timers).toHaveLength(1);
    const updates: string[] = [];
    serving.addIdentityCertificateListener((u) => updates.push(u?.certificate.toString() ?? 'null'));
    timers[0]!.fn();
    await new Promise<void>((resolve) => {
      const check = (): void => (serving.rotationCount() === 1 ? resolve() : void setImmediate(check));
      check();
    });

    // then it was scheduled at 4/5 of the lifetime, a new certificate replaced the first, listeners got it, and the next rotation is scheduled
    expect(timers[0]!.ms).toBeGreaterThanOrEqual(799_000);
    expect(timers[0]!.ms).toBeLessThanOrEqual(801_000);
    expect(serving.certificate()!.serialHex).not.toBe(first.serialHex);
    expect(updates.at(-1)).toBe(serving.certificate()!.certPem);
    expect(timers).toHaveLength(2);
    serving.close();
  });

  it('comes from one CA per store: a second load returns the stored one', async () => {
    // given a store that already holds a control-plane CA
    const store = new MemoryBlobStore();
    const first = await loadOrCreateControlPlaneCa(store);

    // when it is loaded again
    const second = await loadOrCreateControlPlaneCa(store);

    // then it is the same CA
    expect(second.certPem).toBe(first.certPem);
  });
});

describe('meshcp serve: --xds-plaintext and --xds-tls-cert', () => {
  let dir: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-xds-tls-opts-'));
    fs.writeFileSync(path.join(dir, 'config.yaml'), CONFIG);
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const base = (name: string): ServeOptions => ({
    config: [path.join(dir, 'config.yaml')],
    dataDir: path.join(dir, name),
    xdsAddress: '127.0.0.1:0',
    adminAddress: '127.0.0.1:0',
    auth: 'none',
  });

  it('--xds-plaintext serves plaintext, says so loudly, and has no CA to publish', async () => {
    // given a server started with --xds-plaintext
    const logs = bufferLogger();
    const server = await startServer({ ...base('plain'), xdsPlaintext: true }, logs.log);
    const client = listenerClient(server.xdsAddress);
    try {
      // when a plaintext client asks for listeners
      client.subscribe(LISTENER_TYPE, []);

      // then it is served, the start was logged as a warning, and /api/xds-ca says why there is no CA
      expect((await client.nextOf(LISTENER_TYPE, 10_000)).resources.length).toBeGreaterThan(0);
      const warning = logs.text().split('\n').find((l) => l.includes('--xds-plaintext'));
      expect(JSON.parse(warning!).level).toBe(40);
      const res = await xdsCa(server);
      expect(res.status).toBe(404);
      expect(await res.text()).toContain('--xds-plaintext');
      expect(server.xdsCaPem).toBeUndefined();
    } finally {
      client.close();
      await server.close();
    }
  });

  it('--xds-tls-cert/--xds-tls-key serve the user certificate', async () => {
    // given a user CA and a server certificate for localhost written to files
    const ca = await createRootCa({ commonName: 'user ca', validitySeconds: 3600 });
    const leaf = await issueCertificate({ issuer: ca, dnsNames: ['localhost'], usage: 'server', validitySeconds: 3600 });
    fs.writeFileSync(path.join(dir, 'xds.crt'), leaf.certPem);
    fs.writeFileSync(path.join(dir, 'xds.key'), leaf.keyPem);

    // when the server starts with them
    const server = await startServer({ ...base('files'), xdsTlsCert: path.join(dir, 'xds.crt'), xdsTlsKey: path.join(dir, 'xds.key') }, bufferLogger().log);
    try {
      // then a client trusting the user CA is served that certificate, and /api/xds-ca points to --xds-ca-cert
      await expect.poll(async () => (await peerCertificate(server.xdsAddress, ca.certPem).catch(() => undefined))?.serialNumber.toLowerCase(), { timeout: 10_000 }).toContain(
        leaf.serialHex.replace(/^0+/, ''),
      );
      const res = await xdsCa(server);
      expect(res.status).toBe(404);
      expect(await res.text()).toContain('--xds-ca-cert FILE');
    } finally {
      await server.close();
    }
  });

  it('refuses a key that does not match --xds-tls-cert, naming the file', async () => {
    // given a certificate and someone else's key
    const ca = await createRootCa({ commonName: 'user ca', validitySeconds: 3600 });
    const a = await issueCertificate({ issuer: ca, dnsNames: ['localhost'], usage: 'server', validitySeconds: 3600 });
    const b = await issueCertificate({ issuer: ca, dnsNames: ['localhost'], usage: 'server', validitySeconds: 3600 });
    fs.writeFileSync(path.join(dir, 'a.crt'), a.certPem);
    fs.writeFileSync(path.join(dir, 'b.key'), b.keyPem);

    // when the server starts with them
    const start = startServer({ ...base('mismatch'), xdsTlsCert: path.join(dir, 'a.crt'), xdsTlsKey: path.join(dir, 'b.key') }, bufferLogger().log);

    // then it refuses, naming the key file
    await expect(start).rejects.toThrow(/--xds-tls-key ".*b\.key" does not match/);
  });
});

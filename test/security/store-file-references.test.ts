/**
 * Stored documents hold content, never paths (SPEC §3 serve): a record written into etcd (or the
 * data directory) by hand with `certFile`/`keyFile`/`file:` must not make meshcp read its own disk
 * and hand the key to a gateway over SDS. A bad record is reported and skipped, and one unreadable
 * record stops no replica from starting.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { SECRET_TYPE } from '../../src/snapshot/types.js';
import { runCli } from '../cli/harness.js';
import { FakeEnvoy, namesOf } from '../helpers/fake-envoy.js';
import { bufferLogger } from '../helpers/log-buffer.js';
import { waitFor } from '../helpers/wait.js';
import { startEtcdReplicas, type EtcdReplicas } from './store-replicas.js';

const PREFIX = 'filerefs';
const STOLEN = 'cert:default:stolen';

describe('stored documents never make the server read files', () => {
  let env: EtcdReplicas;
  let keyFile: string;
  let certFile: string;
  let keyPem: string;
  let caPem: string;
  const clients: FakeEnvoy[] = [];

  /** The resources around the planted secret: a gateway whose route serves it. */
  const plant = async (put: (key: string, resource: unknown) => Promise<void>): Promise<void> => {
    await put('Mesh/default', { type: 'Mesh', name: 'default' });
    await put('Gateway/default/edge', { type: 'Gateway', name: 'edge', mesh: 'default', listeners: [{ port: 8443 }] });
    await put('Service/default/shop', { type: 'Service', name: 'shop', mesh: 'default', endpoints: [{ address: '127.0.0.1', port: 9001 }] });
    await put('Route/default/r', { type: 'Route', name: 'r', mesh: 'default', gateway: 'edge', host: 'shop.acme.org', tls: { serverCertificate: { name: 'stolen' } }, routes: [{ prefix: '/', route: { service: 'shop' } }] });
    // The attack: a Secret whose stored record names files on the server's disk.
    await put('Secret/default/stolen', { type: 'Secret', name: 'stolen', mesh: 'default', secretType: 'tls', certFile, keyFile });
    // And a provided CA naming files, in another mesh.
    await put('Mesh/files', { type: 'Mesh', name: 'files', mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'provided', conf: { cert: { file: certFile }, key: { file: keyFile } } }] } });
  };

  /** What the gateway `edge` gets when it asks for the planted secret over SDS, with a valid token. */
  const edgeAsksForTheKey = async (server: RunningServer): Promise<string> => {
    const generated = await runCli(['token', 'generate', '--name', 'edge', '--server', server.adminUrl]);
    expect(generated.stderr).toBe('');
    const token = generated.stdout.trim();
    const client = new FakeEnvoy({ address: server.xdsAddress, mode: 'sotw', node: { id: 'edge', metadata: { mesh: 'default', token } } });
    clients.push(client);
    client.subscribe(SECRET_TYPE, [STOLEN]);
    const response = await client.nextOf(SECRET_TYPE, 20_000);
    return JSON.stringify(response.resources.map((r) => r.value)) + namesOf(response).join(',');
  };

  beforeAll(async () => {
    env = await startEtcdReplicas();
    const ca = await createRootCa({ commonName: 'server-side CA', validitySeconds: 86_400 });
    const leaf = await issueCertificate({ issuer: ca, commonName: 'shop.acme.org', dnsNames: ['shop.acme.org'], usage: 'server', validitySeconds: 86_400 });
    keyPem = leaf.keyPem;
    caPem = ca.certPem;
    // Files only the server's own user can read: what the attacker wants meshcp to leak.
    certFile = path.join(env.dir, 'server-only.crt');
    keyFile = path.join(env.dir, 'server-only.key');
    fs.writeFileSync(certFile, leaf.certPem);
    fs.writeFileSync(keyFile, leaf.keyPem, { mode: 0o600 });
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await env?.stop();
  });

  it('etcd: two replicas start over file references and an unreadable record, skip them, and never serve the key', async () => {
    // given: records planted in etcd by hand, and one that is not even JSON
    await plant((key, resource) => env.putRecord(PREFIX, key, resource));
    await env.etcd.client().put(`/${PREFIX}/resources/Service/default/garbage`).value('{not json');
    const logs = [bufferLogger(), bufferLogger()];
    // when: two replicas start on that store
    const replicas = [await env.replica(PREFIX, logs[0]?.log), await env.replica(PREFIX, logs[1]?.log)];
    // then: both serve the rest; the planted secret, the Mesh naming files and the garbage are skipped
    for (const [i, server] of replicas.entries()) {
      const served = server.sources.served()?.resources.map((r) => `${r.type}/${r.name}`).sort();
      expect(served).toEqual(['Gateway/edge', 'Mesh/default', 'Service/shop']);
      const problems = [...(server.store.problems?.().values() ?? [])].map((p) => p.key).sort();
      expect(problems).toEqual(['Mesh/files', 'Secret/default/stolen', 'Service/default/garbage']);
      const text = logs[i]?.text() ?? '';
      expect(text).toMatch(/Secret\/default\/stolen.*keyFile: file references are not accepted[^\n]*does not validate; it is skipped/);
      expect(text).toMatch(/Mesh\/files.*file: file references are not accepted/);
      expect(text).toMatch(/garbage.*not a meshcp store record/);
      expect(text).not.toMatch(/PRIVATE KEY/);
      // and: the gateway asking for the secret gets nothing of the server's key
      const got = await edgeAsksForTheKey(server);
      expect(got).not.toContain('PRIVATE KEY');
      expect(got).not.toContain(keyPem.split('\n')[1]);
    }
  });

  it('etcd: a record rewritten with a file reference later is held at its last good version', async () => {
    // given: a replica serving a valid stored CA secret
    const prefix = `${PREFIX}-held`;
    const server = await env.replica(prefix);
    await env.putRecord(prefix, 'Secret/default/ca', { type: 'Secret', name: 'ca', mesh: 'default', secretType: 'tls-ca', cert: caPem });
    await waitFor('ca served', () => server.sources.served()?.resources.some((r) => r.name === 'ca'));
    // when: someone rewrites it to name a file on the server's disk
    await env.putRecord(prefix, 'Secret/default/ca', { type: 'Secret', name: 'ca', mesh: 'default', secretType: 'tls-ca', certFile: keyFile });
    // then: the last good version keeps being served, and the resource shows why
    await waitFor('problem reported', () => server.store.problems?.().get(`/${prefix}/resources/Secret/default/ca`));
    expect(server.sources.pinned().get('Secret/default/ca')?.errors[0]).toMatch(/^the stored record does not validate: .*certFile: file references are not accepted/);
    expect(server.sources.served()?.resources.find((r) => r.name === 'ca')).toMatchObject({ cert: caPem });
  });

  it('data directory: a record planted with keyFile is skipped, not read, and the server starts', async () => {
    // given: a data directory whose stored Secret names the server's key file
    const dataDir = path.join(env.dir, 'planted-data');
    const write = async (key: string, resource: unknown): Promise<void> => {
      const [type, a, b] = key.split('/');
      const dirs: Record<string, string> = { Gateway: 'gateways', Service: 'services', Route: 'routes', Secret: 'secrets' };
      const file = type === 'Mesh' ? path.join(dataDir, 'meshes', `${a}.yaml`) : path.join(dataDir, 'resources', a ?? '', dirs[type ?? ''] ?? '', `${b}.yaml`);
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      fs.writeFileSync(file, YAML.stringify({ creationTime: new Date().toISOString(), resource }), { mode: 0o600 });
    };
    fs.mkdirSync(dataDir, { mode: 0o700 });
    await plant(write);
    const logs = bufferLogger();
    // when
    const server = await startServer({ config: [], dataDir, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'token', xdsPlaintext: true }, logs.log);
    try {
      // then
      expect(server.sources.served()?.resources.map((r) => `${r.type}/${r.name}`).sort()).toEqual(['Gateway/edge', 'Mesh/default', 'Service/shop']);
      expect(logs.text()).toMatch(/secrets\/stolen\.yaml[^\n]*keyFile: file references are not accepted/);
      const got = await edgeAsksForTheKey(server);
      expect(got).not.toContain('PRIVATE KEY');
    } finally {
      await server.close();
    }
  });
});

import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ResourceApi } from '../../src/admin/resource-api.js';
import { AdminServer } from '../../src/admin/server.js';
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';
import { FileConfigSource } from '../../src/sources/config-files.js';
import { silentLogger } from '../../src/log/logger.js';
import { ResourceSources } from '../../src/sources/resource-sources.js';
import { FileStore } from '../../src/store/file-store.js';
import { writeTestPki, type TestPki } from '../cli/certs.js';
import { BASE_RESOURCES, startHarness, type Harness } from '../cli/harness.js';

interface Reply {
  status: number;
  text: string;
  json: Record<string, unknown>;
}

/** Every response body of a test, to assert that no private key ever leaves the server. */
const responses: string[] = [];

async function call(base: string, method: string, urlPath: string, body?: string, contentType = 'application/yaml'): Promise<Reply> {
  const res = await fetch(`${base}${urlPath}`, { method, ...(body !== undefined ? { body, headers: { 'content-type': contentType } } : {}) });
  const text = await res.text();
  responses.push(text);
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // plain text endpoints
  }
  return { status: res.status, text, json };
}

function secretsYaml(pki: TestPki): string {
  return `type: Secret
name: my-root-ca
secretType: tls-ca
cert: ${JSON.stringify(pki.pem.caCert)}
---
type: Secret
name: my-tls-cert
secretType: tls
cert: ${JSON.stringify(pki.pem.leafCert)}
key: ${JSON.stringify(pki.pem.leafKey)}
`;
}

const ROUTE = `type: Route
name: my-route
host: ecommerce.acme.org
tls:
  clientValidationCa: { name: my-root-ca }
  serverCertificate: { name: my-tls-cert }
routes:
- prefix: /
  route: { service: shopping-cart }
`;

describe('admin API', () => {
  let h: Harness;
  let pki: TestPki;
  let api: (method: string, urlPath: string, body?: string, contentType?: string) => Promise<Reply>;

  beforeEach(async () => {
    h = await startHarness({ configYaml: 'type: Service\nname: config-owned\nendpoints: [{ address: 127.0.0.1, port: 9100 }]\n' });
    pki = await writeTestPki(path.join(h.dir, 'pki'));
    api = (method, urlPath, body, contentType) => call(h.url, method, urlPath, body, contentType);
  });

  afterEach(async () => {
    await h.stop();
  });

  afterAll(() => {
    for (const text of responses) expect(text).not.toContain('PRIVATE KEY');
  });

  it('answers health and readiness', async () => {
    // when
    const health = await api('GET', '/healthz');
    const ready = await api('GET', '/readyz');
    // then
    expect([health.status, ready.status]).toEqual([200, 200]);
  });

  it('applies a multi-document batch, then lists and gets what it applied', async () => {
    // given
    const batch = [BASE_RESOURCES, secretsYaml(pki), ROUTE].join('---\n');
    // when
    const applied = await api('POST', '/api/apply', batch);
    // then
    expect(applied.status).toBe(200);
    expect(applied.json['applied']).toEqual([
      { type: 'Gateway', mesh: 'default', name: 'edge', outcome: 'created' },
      { type: 'Service', mesh: 'default', name: 'shopping-cart', outcome: 'created' },
      { type: 'Secret', mesh: 'default', name: 'my-root-ca', outcome: 'created' },
      { type: 'Secret', mesh: 'default', name: 'my-tls-cert', outcome: 'created' },
      { type: 'Route', mesh: 'default', name: 'my-route', outcome: 'created' },
    ]);
    const routes = await api('GET', '/api/routes?mesh=default');
    expect(routes.json['total']).toBe(1);
    const one = await api('GET', '/api/Route/my-route');
    expect(one.json['resource']).toMatchObject({ type: 'Route', name: 'my-route', mesh: 'default', host: 'ecommerce.acme.org' });
    expect(one.json['origin']).toBe('api');
    expect(typeof one.json['creationTime']).toBe('string');
    const again = await api('PUT', '/api/apply', ROUTE);
    expect(again.json['applied']).toEqual([{ type: 'Route', mesh: 'default', name: 'my-route', outcome: 'unchanged' }]);
  });

  it('shows secrets with type, fingerprint and expiry, never the key', async () => {
    // given
    await api('POST', '/api/apply', secretsYaml(pki));
    // when
    const list = await api('GET', '/api/secrets');
    const one = await api('GET', '/api/secret/my-tls-cert');
    // then
    expect(list.text).not.toContain('PRIVATE KEY');
    expect(one.text).not.toContain('PRIVATE KEY');
    expect(one.json['resource']).toEqual({ type: 'Secret', name: 'my-tls-cert', mesh: 'default', secretType: 'tls' });
    expect(one.json['secret']).toMatchObject({ secretType: 'tls', certificates: 1, fingerprintSha256: expect.any(String), notAfter: expect.any(String), expiresInDays: 89 });
  });

  it('changes nothing when one document of a batch is invalid', async () => {
    // given
    await api('POST', '/api/apply', BASE_RESOURCES);
    const before = h.snapshotDataDir();
    const bad = ROUTE.replace('routes:', 'validation:\n  clientCertificate:\n    subjectMatches:\n    - regex: "(?=x)"\nroutes:');
    // when
    const res = await api('POST', '/api/apply?file=batch.yaml', [secretsYaml(pki), BASE_RESOURCES.replace('9001', '9002'), bad].join('---\n'));
    // then
    expect(res.status).toBe(400);
    expect(res.json['errors']).toEqual([expect.stringMatching(/^batch\.yaml#5 Route\/my-route: validation\.clientCertificate\.subjectMatches\[0\]\.regex: invalid RE2 syntax/)]);
    expect(h.snapshotDataDir()).toEqual(before);
    expect((await api('GET', '/api/secrets')).json['total']).toBe(0);
  });

  it('changes nothing when the batch breaks a reference, and names the document', async () => {
    // given
    await api('POST', '/api/apply', BASE_RESOURCES);
    const before = h.snapshotDataDir();
    // when: the route names secrets the batch does not create
    const res = await api('POST', '/api/apply?file=route.yaml', ROUTE);
    // then
    expect(res.status).toBe(400);
    expect(res.json['errors']).toEqual([
      'route.yaml#1 Route/my-route: tls.clientValidationCa.name: secret "my-root-ca" not found in mesh "default"',
      'route.yaml#1 Route/my-route: tls.serverCertificate.name: secret "my-tls-cert" not found in mesh "default"',
    ]);
    expect(h.snapshotDataDir()).toEqual(before);
  });

  it('refuses secret material that does not check out', async () => {
    // given
    const expired = `type: Secret\nname: old\nsecretType: tls-ca\ncert: ${JSON.stringify(pki.pem.expiredCaCert)}\n`;
    // when
    const res = await api('POST', '/api/apply', expired);
    // then
    expect(res.status).toBe(400);
    expect(res.json['errors']).toEqual([expect.stringMatching(/^Secret\/old: cert: certificate .* expired on /)]);
  });

  it('does not read files named in a request', async () => {
    // given
    const body = `type: Secret\nname: sneaky\nsecretType: tls-ca\ncertFile: /etc/passwd\n`;
    // when
    const res = await api('POST', '/api/apply', body);
    // then
    expect(res.status).toBe(400);
    expect(res.json['errors']).toEqual(['Secret/sneaky: certFile: the admin API does not read files: inline the PEM as "cert" (meshcp apply -f does this for you)']);
  });

  it('refuses to change or delete a resource that a config file owns', async () => {
    // when
    const applied = await api('POST', '/api/apply', 'type: Service\nname: config-owned\nendpoints: []\n');
    const deleted = await api('DELETE', '/api/services/config-owned');
    // then
    expect(applied.status).toBe(400);
    expect(applied.json['errors']).toEqual([expect.stringMatching(/^Service\/config-owned: Service\/config-owned in mesh "default" is defined in the --config files \(.*\), which own it; change it there$/)]);
    expect(deleted.status).toBe(409);
    expect((await api('GET', '/api/services/config-owned')).json['origin']).toBe('config');
  });

  it('deletes, but not what something still references', async () => {
    // given
    await api('POST', '/api/apply', [BASE_RESOURCES, secretsYaml(pki), ROUTE].join('---\n'));
    // when
    const referenced = await api('DELETE', '/api/secrets/my-root-ca');
    const route = await api('DELETE', '/api/routes/my-route?mesh=default');
    const secret = await api('DELETE', '/api/secrets/my-root-ca');
    const missing = await api('DELETE', '/api/secrets/my-root-ca');
    // then
    expect(referenced.status).toBe(409);
    expect(referenced.json['errors']).toEqual(['cannot delete Secret/my-root-ca in mesh "default": Route/my-route: tls.clientValidationCa.name: secret "my-root-ca" not found in mesh "default"']);
    expect([route.status, secret.status, missing.status]).toEqual([200, 200, 404]);
  });

  it('supports create and update modes and dry runs', async () => {
    // given
    await api('POST', '/api/apply', BASE_RESOURCES);
    // when
    const dry = await api('POST', '/api/apply?dryRun=true', 'type: Gateway\nname: edge-2\nlisteners: [{ port: 9443 }]\n');
    const create = await api('POST', '/api/apply?mode=create', BASE_RESOURCES);
    const update = await api('POST', '/api/apply?mode=update', 'type: Gateway\nname: nope\nlisteners: [{ port: 9443 }]\n');
    // then
    expect(dry.json).toMatchObject({ dryRun: true, applied: [{ name: 'edge-2', outcome: 'created' }] });
    expect((await api('GET', '/api/gateways')).json['total']).toBe(1);
    expect(create.json['errors']).toEqual(['#1 Gateway/edge: Gateway/edge in mesh "default" already exists', '#2 Service/shopping-cart: Service/shopping-cart in mesh "default" already exists']);
    expect(update.json['errors']).toEqual(['Gateway/nope: Gateway/nope in mesh "default" not found']);
  });

  it('answers unknown types and paths with JSON errors', async () => {
    // when
    const type = await api('GET', '/api/rootes');
    const other = await api('GET', '/nope');
    const method = await api('PATCH', '/api/routes');
    // then
    expect(type.status).toBe(404);
    expect(type.json['errors']).toEqual([expect.stringContaining('unknown resource type "rootes"')]);
    expect(other.status).toBe(404);
    expect(method.status).toBe(405);
  });

  it('takes a files envelope and names each file in errors', async () => {
    // given
    const files = { files: [{ name: 'base.yaml', content: BASE_RESOURCES }, { name: 'route.yaml', content: ROUTE.replace('host:', 'hots:') }] };
    // when
    const res = await api('POST', '/api/apply', JSON.stringify(files), 'application/vnd.meshcp.files+json');
    // then
    expect(res.status).toBe(400);
    expect(res.json['errors']).toEqual(expect.arrayContaining(['route.yaml#1 Route/my-route: hots: unknown field "hots", did you mean "host"?']));
  });
});

describe('admin API over mTLS', () => {
  let dir: string;
  let server: AdminServer;
  let store: FileStore;
  let port: number;
  let ca: { certPem: string; keyPem: string };
  let client: { certPem: string; keyPem: string };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-admin-tls-'));
    ca = await createRootCa({ commonName: 'admin CA', validitySeconds: 86_400 });
    const serverCert = await issueCertificate({ issuer: ca, commonName: 'localhost', dnsNames: ['localhost'], usage: 'server', validitySeconds: 86_400 });
    client = await issueCertificate({ issuer: ca, commonName: 'operator', usage: 'client', validitySeconds: 86_400 });
    store = await FileStore.open(path.join(dir, 'data'));
    const config = new FileConfigSource([], silentLogger());
    await config.start();
    const sources = new ResourceSources(config, store, silentLogger());
    sources.start();
    server = new AdminServer({
      api: new ResourceApi({ store, sources }),
      log: silentLogger(),
      isReady: () => true,
      tls: { cert: serverCert.certPem, key: serverCert.keyPem, clientCa: ca.certPem },
    });
    port = (await server.listen('127.0.0.1:0')).port;
  });

  afterAll(async () => {
    await server.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function get(options: https.RequestOptions): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, path: '/api/routes', servername: 'localhost', ca: ca.certPem, ...options }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('serves a client with a certificate from the client CA', async () => {
    // when / then
    expect(await get({ cert: client.certPem, key: client.keyPem })).toBe(200);
  });

  it('refuses a client without a certificate', async () => {
    // when / then
    await expect(get({})).rejects.toThrow();
  });
});

/**
 * Who gets which secret (SPEC §2), through the real `serve` path with token auth, proved with
 * a raw ADS client: a Route's server key only reaches the gateway serving that route, a
 * workload identity only the proxy it was issued to, a CA key nobody. Every refusal is logged,
 * and no log line holds a private key.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, loadOrCreateSigningKey } from '../../src/auth/token.js';
import { certificateInfo } from '../../src/ca/cert-info.js';
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { SECRET_TYPE } from '../../src/snapshot/types.js';
import { FakeEnvoy, namesOf } from '../helpers/fake-envoy.js';
import { bufferLogger } from '../helpers/log-buffer.js';
import { waitFor } from '../helpers/wait.js';

const ROUTE_KEY = 'cert:default:my-tls-cert';
const IDENTITY = 'identity-cert:default';
const CA_KEY = 'default.ca-builtin-key-ca-1';

function config(pem: { ca: string; cert: string; key: string }): string {
  const indent = (text: string): string => text.trim().split('\n').map((l) => `  ${l}`).join('\n');
  return `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends: [{ name: ca-1, type: builtin }]
---
type: Dataplane
name: web-01
networking:
  address: 127.0.0.1
  inbound: [{ port: 8080, servicePort: 18080, tags: { kuma.io/service: web, kuma.io/protocol: http } }]
---
type: Dataplane
name: backend-01
networking:
  address: 127.0.0.1
  inbound: [{ port: 8081, servicePort: 18081, tags: { kuma.io/service: backend, kuma.io/protocol: http } }]
---
type: Gateway
name: edge
listeners: [{ port: 8443 }]
---
type: Gateway
name: other-edge
listeners: [{ port: 9443 }]
---
type: Secret
name: my-root-ca
secretType: tls-ca
cert: |
${indent(pem.ca)}
---
type: Secret
name: my-tls-cert
secretType: tls
cert: |
${indent(pem.cert)}
key: |
${indent(pem.key)}
---
type: Route
name: my-route
gateway: edge
host: ecommerce.acme.org
tls:
  clientValidationCa: { name: my-root-ca }
  serverCertificate: { name: my-tls-cert }
routes: [{ prefix: /, route: { service: web } }]
`;
}

describe('secrets over SDS, by proxy identity', () => {
  let dir: string;
  let server: RunningServer;
  let signingKey: Buffer;
  const logs = bufferLogger();
  const clients: FakeEnvoy[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-isolation-'));
    const ca = await createRootCa({ commonName: 'Edge Root', validitySeconds: 86_400 * 30 });
    const leaf = await issueCertificate({ issuer: ca, commonName: 'ecommerce.acme.org', dnsNames: ['ecommerce.acme.org'], usage: 'server', validitySeconds: 86_400 * 30 });
    fs.writeFileSync(path.join(dir, 'config.yaml'), config({ ca: ca.certPem, cert: leaf.certPem, key: leaf.keyPem }));
    server = await startServer(
      { config: [path.join(dir, 'config.yaml')], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'token', xdsPlaintext: true },
      logs.log,
    );
    signingKey = await loadOrCreateSigningKey(path.join(dir, 'data'));
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A raw ADS client authenticated as `name` (a valid token for it), asking for `secrets`. */
  async function fetchSecrets(name: string, secrets: string[]): Promise<Map<string, Record<string, unknown>>> {
    const token = generateToken({ name, mesh: 'default', validForSeconds: 600 }, signingKey);
    const client = new FakeEnvoy({ address: server.xdsAddress, mode: 'sotw', node: { id: name, metadata: { mesh: 'default', token } } });
    clients.push(client);
    client.subscribe(SECRET_TYPE, secrets);
    // The identity is issued when the proxy connects: wait until the answer holds what it will get.
    const expected = secrets.filter((s) => s === IDENTITY || (name === 'edge' && s === ROUTE_KEY));
    let last = await client.nextOf(SECRET_TYPE);
    await waitFor(`${name}'s secrets`, async () => {
      while (!expected.every((s) => namesOf(last).includes(s))) {
        client.ack(last);
        last = await client.nextOf(SECRET_TYPE);
      }
      return true;
    });
    return new Map(last.resources.map((r) => [r.name, r.value]));
  }

  it("gives the route's server key to the gateway serving the route", async () => {
    const secrets = await fetchSecrets('edge', [ROUTE_KEY]);
    expect([...secrets.keys()]).toEqual([ROUTE_KEY]);
    expect(JSON.stringify(secrets.get(ROUTE_KEY))).toMatch(/PRIVATE KEY/);
  });

  it('refuses the route key, the CA key and nothing else to a dataplane, whose identity is its own', async () => {
    // when: web-01 asks for its identity, the route's server key and the CA key
    const secrets = await fetchSecrets('web-01', [IDENTITY, ROUTE_KEY, CA_KEY]);
    // then: it gets its own identity only: a certificate for spiffe://default/web
    expect([...secrets.keys()]).toEqual([IDENTITY]);
    const chain = String((secrets.get(IDENTITY)?.['tls_certificate'] as { certificate_chain: { inline_string: string } }).certificate_chain.inline_string);
    expect(certificateInfo(chain).uris).toEqual(['spiffe://default/web']);
    // and: the refusals are logged in one line, naming node, mesh and secrets
    await waitFor('refusals logged', () => logs.text().includes(`"${ROUTE_KEY}"`) && logs.text().includes(`"${CA_KEY}"`));
    expect(logs.text()).toMatch(new RegExp(`"node":"web-01","mesh":"default","count":2,"secrets":\\["${ROUTE_KEY}","${CA_KEY}"\\][^\\n]*secret\\(s\\) refused`));
  });

  it("refuses another gateway the route's server key", async () => {
    const secrets = await fetchSecrets('other-edge', [ROUTE_KEY]);
    expect(secrets.size).toBe(0);
  });

  it('never logs a private key', () => {
    expect(logs.text().length).toBeGreaterThan(0);
    expect(logs.text()).not.toMatch(/PRIVATE KEY/);
  });
});

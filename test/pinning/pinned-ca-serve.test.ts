/**
 * Issue #11: "a bad resource is pinned with its error and held at its last good version; the rest
 * of the config keeps flowing". Through the real `meshcp serve` path, with raw ADS clients: mesh A
 * signs with a provided CA read from files outside the --config directory (so only meshcp's CA
 * file watch can notice them), mesh B is applied through the admin API.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRootCa, type CaMaterial } from '../../src/ca/pki.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { LISTENER_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { runCli } from '../cli/harness.js';
import { FakeEnvoy } from '../helpers/fake-envoy.js';
import { bufferLogger } from '../helpers/log-buffer.js';
import { waitFor } from '../helpers/wait.js';

const YEAR_S = 365 * 86_400;
const BUNDLE = 'mesh-ca:mesh-a';
const IDENTITY = 'identity-cert:mesh-a';

function meshAYaml(caDir: string, outbounds: readonly number[]): string {
  return `type: Mesh
name: mesh-a
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: provided
    conf:
      cert: { file: ${path.join(caDir, 'a.pem')} }
      key: { file: ${path.join(caDir, 'a.key')} }
---
type: Dataplane
name: a-1
mesh: mesh-a
networking:
  address: 127.0.0.1
  inbound: [{ port: 8080, servicePort: 18080, tags: { kuma.io/service: web-a, kuma.io/protocol: http } }]
  outbound: [${outbounds.map((p) => `{ port: ${p}, tags: { kuma.io/service: web-a } }`).join(', ')}]
`;
}

function meshBYaml(outbounds: readonly number[]): string {
  return `type: Mesh
name: mesh-b
---
type: Dataplane
name: b-1
mesh: mesh-b
networking:
  address: 127.0.0.1
  inbound: [{ port: 9080, servicePort: 19080, tags: { kuma.io/service: web-b, kuma.io/protocol: http } }]
  outbound: [${outbounds.map((p) => `{ port: ${p}, tags: { kuma.io/service: web-b } }`).join(', ')}]
`;
}

/** Replaces a file the way an editor or cert-manager does: a new inode renamed into place. */
function replaceFile(file: string, content: string): void {
  fs.writeFileSync(`${file}.tmp`, content);
  fs.renameSync(`${file}.tmp`, file);
}

function secretPem(client: FakeEnvoy, name: string): { bundle?: string; chain?: string } {
  const value = client.state.get(SECRET_TYPE)?.get(name)?.value;
  if (!value) return {};
  const text = (v: unknown): string | undefined => (v as { inline_string?: string } | undefined)?.inline_string;
  const validation = value['validation_context'] as { trusted_ca?: unknown } | undefined;
  const tls = value['tls_certificate'] as { certificate_chain?: unknown } | undefined;
  return { bundle: text(validation?.trusted_ca), chain: text(tls?.certificate_chain) };
}

function listenerNames(client: FakeEnvoy): string[] {
  return [...(client.state.get(LISTENER_TYPE)?.keys() ?? [])].sort();
}

/** Whether the leaf (first certificate) of `chainPem` was signed by `ca`. */
function issuedBy(chainPem: string | undefined, ca: CaMaterial): boolean {
  const leafPem = chainPem?.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)?.[0];
  if (!leafPem) return false;
  return new crypto.X509Certificate(leafPem).verify(new crypto.X509Certificate(ca.certPem).publicKey);
}

describe('a provided CA file that turns bad on disk (issue #11)', () => {
  let dir: string;
  let caDir: string;
  let configFile: string;
  let server: RunningServer;
  let caA1: CaMaterial;
  let caA2: CaMaterial;
  let logs: ReturnType<typeof bufferLogger>;
  const clients: FakeEnvoy[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-pinning-'));
    caDir = path.join(dir, 'cas');
    fs.mkdirSync(caDir);
    fs.mkdirSync(path.join(dir, 'config'));
    configFile = path.join(dir, 'config', 'mesh-a.yaml');
    caA1 = await createRootCa({ commonName: 'Mesh A CA 1', validitySeconds: YEAR_S });
    caA2 = await createRootCa({ commonName: 'Mesh A CA 2', validitySeconds: YEAR_S });
    fs.writeFileSync(path.join(caDir, 'a.pem'), caA1.certPem);
    fs.writeFileSync(path.join(caDir, 'a.key'), caA1.keyPem);
    fs.writeFileSync(configFile, meshAYaml(caDir, [10001]));
    logs = bufferLogger();
    server = await startServer(
      { config: [path.join(dir, 'config')], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'none', xdsPlaintext: true },
      logs.log,
    );
  }, 60_000);

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const cli = (args: readonly string[], stdin?: string): ReturnType<typeof runCli> => runCli([...args, '--server', server.adminUrl], stdin);

  function connect(name: string, mesh: string, secrets: readonly string[]): FakeEnvoy {
    const client = new FakeEnvoy({ address: server.xdsAddress, mode: 'sotw', node: { id: name, metadata: { mesh } }, autoAck: true });
    clients.push(client);
    client.subscribe(LISTENER_TYPE, []);
    if (secrets.length > 0) client.subscribe(SECRET_TYPE, secrets);
    return client;
  }

  it('keeps serving the last good CA to mesh A, shows its error once, lets every other change through, and lifts the pin when the file is fixed', async () => {
    // given: a-1 holds a certificate from CA 1; mesh B (through the API) has b-1 connected
    expect((await cli(['apply', '-f', '-'], meshBYaml([20001]))).code).toBe(0);
    const a1 = connect('a-1', 'mesh-a', [IDENTITY, BUNDLE]);
    const b1 = connect('b-1', 'mesh-b', []);
    await waitFor('a-1 certificate from CA 1', () => issuedBy(secretPem(a1, IDENTITY).chain, caA1));
    await waitFor('b-1 listeners', () => listenerNames(b1).includes('outbound:127.0.0.1:20001'));
    const goodBundle = secretPem(a1, BUNDLE).bundle;
    const goodChain = secretPem(a1, IDENTITY).chain;
    expect(goodBundle).toContain(caA1.certPem.trim());

    // when: mesh A's CA file is rewritten on disk into garbage (no resource changes)
    replaceFile(path.join(caDir, 'a.pem'), 'this is not a certificate\n');

    // then: Mesh/mesh-a is pinned with its error, noticed by the CA file watch alone
    const pin = await waitFor('Mesh/mesh-a pinned', () => server.sources.pinned().get('Mesh/mesh-a'));
    expect(pin.errors.join('\n')).toMatch(/^Mesh\/mesh-a: mtls\.backends\[0\]\.conf\.cert/);
    expect(server.sources.lastErrors).toEqual([]);
    const table = await cli(['get', 'meshes']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^PINNED: Mesh\/mesh-a: served at its last good version since \S+: Mesh\/mesh-a: mtls\.backends\[0\]\.conf\.cert/m);
    expect(table.stdout).not.toMatch(/PINNED: Mesh\/mesh-b/);
    const api = (await (await fetch(`${server.adminUrl}/api/meshes/mesh-a`)).json()) as { pinned?: { errors: string[] } };
    expect(api.pinned?.errors).toEqual(pin.errors);

    // when: unrelated changes: a Dataplane of mesh B through the API, and a config edit of mesh A's Dataplane
    const applied = await cli(['apply', '-f', '-'], meshBYaml([20001, 20002]));
    const loads = server.config.loads;
    replaceFile(configFile, meshAYaml(caDir, [10001, 10002]));
    await waitFor('config reload', () => server.config.loads > loads);

    // then: both reach their proxies, and mesh A keeps its last good CA material
    expect(applied.code).toBe(0);
    expect(applied.stderr).toContain('Mesh/mesh-a is pinned at its last good version');
    expect(applied.stderr).not.toContain('--config');
    await waitFor('b-1 gets its new outbound', () => listenerNames(b1).includes('outbound:127.0.0.1:20002'));
    await waitFor('a-1 gets its new outbound', () => listenerNames(a1).includes('outbound:127.0.0.1:10002'));
    expect(server.sources.pinned().has('Mesh/mesh-a')).toBe(true);
    expect(secretPem(a1, BUNDLE).bundle).toBe(goodBundle);
    expect(secretPem(a1, IDENTITY).chain).toBe(goodChain);
    expect(server.controlPlane.identities.trustBundle('mesh-a')).toBe(goodBundle);
    // and: the pin was logged once, over all those merges; the CA error line too
    expect(server.sources.merges).toBeGreaterThanOrEqual(4);
    expect(logs.text().split('\n').filter((l) => l.includes('no longer validates although it did not change'))).toHaveLength(1);
    expect(logs.text().split('\n').filter((l) => l.includes('"pinned":true')).length).toBe(pin.errors.length);
    expect(logs.text()).not.toMatch(/cannot resolve the mesh CA/);

    // when: the files are fixed, with a new CA (the key first: until the certificate follows they do not match)
    replaceFile(path.join(caDir, 'a.key'), caA2.keyPem);
    replaceFile(path.join(caDir, 'a.pem'), caA2.certPem);

    // then: the pin lifts, the error is gone, and the new CA flows to a-1 (trust first, then its certificate)
    await waitFor('pin lifted', () => !server.sources.pinned().has('Mesh/mesh-a'));
    expect((await cli(['get', 'meshes'])).stdout).not.toContain('PINNED');
    await waitFor('CA 2 in a-1 trust bundle', () => secretPem(a1, BUNDLE).bundle?.includes(caA2.certPem.trim()));
    await waitFor('a-1 certificate from CA 2', () => issuedBy(secretPem(a1, IDENTITY).chain, caA2), { timeoutMs: 30_000 });
    expect(logs.text()).toMatch(/Mesh\/mesh-a validates again: its pin is lifted/);
    for (const line of logs.text().split('\n')) expect(line).not.toContain('PRIVATE KEY');
  }, 60_000);

  it('checks a change to the pinned Mesh itself normally: rejected whole while its CA file is bad', async () => {
    // given: mesh A pinned
    replaceFile(path.join(caDir, 'a.pem'), 'garbage\n');
    await waitFor('Mesh/mesh-a pinned', () => server.sources.pinned().get('Mesh/mesh-a'));
    const served = server.sources.served()?.resources;
    // when: one config edit changes Mesh/mesh-a (mode) and a-1 (a new outbound)
    const before = server.config.loads;
    replaceFile(configFile, meshAYaml(caDir, [10001, 10002]).replace('type: provided', 'type: provided\n    mode: PERMISSIVE'));
    await waitFor('reload', () => server.config.loads > before);
    // then: the whole edit is rejected (SPEC §3), naming the field, and the last good set is still served
    expect(server.sources.lastErrors.join('\n')).toMatch(/^Mesh\/mesh-a: mtls\.backends\[0\]\.conf\.cert/);
    expect(server.sources.served()?.resources).toBe(served);
    expect(server.sources.pinned().has('Mesh/mesh-a')).toBe(true);
    // when: the file is fixed
    replaceFile(path.join(caDir, 'a.pem'), caA1.certPem);
    // then: the retried edit is accepted as a whole, and the pin lifts
    await waitFor('edit accepted', () => server.sources.lastErrors.length === 0 && !server.sources.pinned().has('Mesh/mesh-a'));
    const mesh = server.sources.served()?.resources.find((r) => r.type === 'Mesh' && r.name === 'mesh-a');
    expect(mesh).toMatchObject({ mtls: { backends: [{ mode: 'PERMISSIVE' }] } });
  }, 60_000);
});

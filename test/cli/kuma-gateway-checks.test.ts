/**
 * Issue #13 "what cert check says is what the gateway does": a subject matcher the gateway
 * cannot carry is refused when applied, with the reason; and the gateway warnings reach the user
 * on `apply` (stderr) and in the `serve` log (once per distinct warning).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/cli/serve.js';
import { bufferLogger } from '../helpers/log-buffer.js';
import { waitFor } from '../helpers/wait.js';
import { writeTestPki, type TestPki } from './certs.js';
import { BASE_RESOURCES, runCli, startHarness, type Harness } from './harness.js';

function routeYaml(name: string, host: string, extra = '', mesh = 'default'): string {
  return `type: Route
name: ${name}
mesh: ${mesh}
host: ${host}
${extra}routes:
- prefix: /
  route: { service: shopping-cart }
`;
}

let harness: Harness;

describe('gateway checks on apply', () => {
  let h: Harness;
  let pki: TestPki;

  beforeAll(async () => {
    h = await startHarness({ configYaml: BASE_RESOURCES });
    harness = h;
    pki = await writeTestPki(h.dir);
    const secrets = await h.cli(['apply', '-f', '-'], `type: Secret\nname: clients\nsecretType: tls-ca\ncert: |\n${indent(pki.pem.caCert)}---\ntype: Secret\nname: client-cert\nsecretType: tls\ncert: |\n${indent(pki.pem.leafCert)}key: |\n${indent(pki.pem.leafKey)}`);
    expect(secrets.code, secrets.stderr).toBe(0);
  });

  afterAll(async () => {
    await h.stop();
  });

  it('refuses a regex the gateway cannot carry (\\b), naming the file, the field and why', async () => {
    // given
    const file = path.join(h.dir, 'route.yaml');
    fs.writeFileSync(file, routeYaml('r1', 'shop.acme.org', "tls:\n  clientValidationCa: { name: clients }\nvalidation:\n  clientCertificate:\n    subjectMatches:\n    - regex: '\\bclient.*'\n"));
    // when
    const run = await h.cli(['apply', '-f', file]);
    // then
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(
      `Error: ${file}#1 Route/r1: validation.clientCertificate.subjectMatches[0].regex: cannot be enforced by the gateway: \\b has no equivalent on a single certificate name; the regex is matched against the whole CN or DNS SAN, so drop the construct (e.g. '\\bclient.*' → 'client.*')`,
    );
    expect((await h.cli(['get', 'routes'])).stdout).not.toContain('r1');
  });

  it('warns that a route without a server certificate is served with one the mesh CA issues, naming a command that prints that CA before any gateway connects', async () => {
    // given: no proxy has connected to this server
    // when
    const run = await h.cli(['apply', '-f', '-'], routeYaml('issued', 'issued.acme.org'));
    // then
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/^Warning: <stdin>#1 Route\/issued: no tls\.serverCertificate: issued\.acme\.org is served with a certificate issued by the mesh CA, which is not publicly trusted; clients must be given that CA \(meshcp get mesh default -o pem\), or set tls\.serverCertificate\n$/);
    // and the command works as printed, and gives the same CA again
    const first = await runHint(run.stderr);
    expect(first).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
    expect(await runHint(run.stderr)).toBe(first);
    // and it is the gateway CA, which Kuma users also find under its secret name
    expect((await h.cli(['get', 'secret', 'default.ca-builtin-cert-gateway-ca', '-o', 'pem'])).stdout).toBe(first);
  });

  it('for the builtin backend of another mesh, the command works at once', async () => {
    // given
    const mesh = `type: Mesh\nname: payments\nmtls:\n  enabledBackend: ca-1\n  backends: [ { name: ca-1, type: builtin, conf: { caCert: { keyType: ECDSA } } } ]\n`;
    // when
    const run = await h.cli(['apply', '-f', '-'], `${mesh}---\n${inMesh('payments', BASE_RESOURCES)}---\n${routeYaml('pay', 'pay.acme.org', '', 'payments')}`);
    // then
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('(meshcp get mesh payments -o pem)');
    const pem = await runHint(run.stderr);
    expect(new crypto.X509Certificate(pem).subject).toContain('payments');
    expect((await h.cli(['get', 'secret', 'payments.ca-builtin-cert-ca-1', '-m', 'payments', '-o', 'pem'])).stdout).toBe(pem);
  });

  it('for a provided CA, from its secret or its file: the same command prints its certificate', async () => {
    // given: the CA's certificate and key in a Kuma secret, and in files
    const kumaSecret = `type: Secret\nname: partner-ca\nmesh: partners\ndata: ${Buffer.from(pki.pem.caCert + pki.pem.caKey).toString('base64')}\n`;
    const provided = (mesh: string, cert: string, key: string): string =>
      `type: Mesh\nname: ${mesh}\nmtls:\n  enabledBackend: ca-1\n  backends: [ { name: ca-1, type: provided, conf: { cert: ${cert}, key: ${key} } } ]\n---\n${inMesh(mesh, BASE_RESOURCES)}---\n${routeYaml('partner', 'partner.acme.org', '', mesh)}`;
    // when
    const fromSecret = await h.cli(['apply', '-f', '-'], `${provided('partners', '{ secret: partner-ca }', '{ secret: partner-ca }')}---\n${kumaSecret}`);
    const fromFile = await h.cli(['apply', '-f', '-'], provided('suppliers', `{ file: ${pki.caCert} }`, `{ file: ${pki.caKey} }`));
    // then
    expect(fromSecret.code, fromSecret.stderr).toBe(0);
    expect(fromSecret.stderr).toContain('(meshcp get mesh partners -o pem)');
    expect((await runHint(fromSecret.stderr)).trim()).toBe(pki.pem.caCert.trim());
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.stderr).toContain('(meshcp get mesh suppliers -o pem)');
    expect((await runHint(fromFile.stderr)).trim()).toBe(pki.pem.caCert.trim());
  });

  it('warns when the server certificate\'s DNS names do not cover the host, and not when they do', async () => {
    // given: the test leaf is for client.acme.org
    const serverCert = 'tls:\n  serverCertificate: { name: client-cert }\n';
    // when
    const miss = await h.cli(['apply', '-f', '-'], routeYaml('miss', 'shop.acme.org', serverCert));
    const hit = await h.cli(['apply', '-f', '-'], routeYaml('hit', 'client.acme.org', serverCert));
    // then
    expect(miss.code, miss.stderr).toBe(0);
    expect(miss.stderr).toBe(
      'Warning: <stdin>#1 Route/miss: tls.serverCertificate "client-cert": its DNS names (client.acme.org) do not cover the route\'s host; clients that verify the name will refuse shop.acme.org\n',
    );
    expect(hit).toMatchObject({ code: 0, stderr: '' });
  });
});

describe('gateway warnings in the serve log', () => {
  it('logs each distinct warning once, when the config changes', async () => {
    // given: a --config route served with an issued certificate
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-gw-warn-'));
    const configDir = path.join(dir, 'config');
    fs.mkdirSync(configDir);
    fs.writeFileSync(path.join(configDir, 'base.yaml'), `${BASE_RESOURCES}---\n${routeYaml('shop', 'shop.acme.org')}`);
    const { log, text } = bufferLogger();
    const server = await startServer({ config: [configDir], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'none', xdsPlaintext: true }, log);
    try {
      const warningLines = (): string[] => text().split('\n').filter((l) => l.includes('Route/shop: no tls.serverCertificate: shop.acme.org is served with a certificate issued by the mesh CA'));
      expect(warningLines()).toHaveLength(1);
      expect(JSON.parse(warningLines()[0] ?? '{}')).toMatchObject({ level: 40 });
      // when: an unrelated change is merged
      const before = server.sources.merges;
      const applied = await runCli(['apply', '-f', '-', '--server', server.adminUrl], 'type: Service\nname: other\nendpoints: [ { address: 127.0.0.1, port: 9002 } ]\n');
      expect(applied.code, applied.stderr).toBe(0);
      await waitFor('the merge of the apply', () => server.sources.merges > before);
      // then: the warning that still holds is not repeated
      expect(warningLines()).toHaveLength(1);
    } finally {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Runs the command a route warning names, as the user would, and returns what it printed. */
async function runHint(stderr: string): Promise<string> {
  const command = /\((meshcp get [^)]+)\)/.exec(stderr)?.[1];
  expect(command, stderr).toBeDefined();
  const run = await harness.cli(command!.split(' ').slice(1));
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return run.stdout;
}

/** BASE_RESOURCES (a Gateway and a Service) in another mesh. */
function inMesh(mesh: string, yaml: string): string {
  return yaml.replace(/^name: (.*)$/gm, `name: $1\nmesh: ${mesh}`);
}

function indent(pem: string): string {
  return pem
    .trim()
    .split('\n')
    .map((l) => `  ${l}\n`)
    .join('');
}

/**
 * Issue #13 "what cert check says is what the gateway does": a subject matcher the gateway
 * cannot carry is refused when applied, with the reason; and the gateway warnings reach the user
 * on `apply` (stderr) and in the `serve` log (once per distinct warning).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/cli/serve.js';
import { bufferLogger } from '../helpers/log-buffer.js';
import { waitFor } from '../helpers/wait.js';
import { writeTestPki, type TestPki } from './certs.js';
import { BASE_RESOURCES, runCli, startHarness, type Harness } from './harness.js';

function routeYaml(name: string, host: string, extra = ''): string {
  return `type: Route
name: ${name}
host: ${host}
${extra}routes:
- prefix: /
  route: { service: shopping-cart }
`;
}

describe('gateway checks on apply', () => {
  let h: Harness;
  let pki: TestPki;

  beforeAll(async () => {
    h = await startHarness({ configYaml: BASE_RESOURCES });
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

  it('warns on stderr that a route without a server certificate is served with one the mesh CA issues', async () => {
    // given
    // when
    const run = await h.cli(['apply', '-f', '-'], routeYaml('issued', 'issued.acme.org'));
    // then
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/^Warning: <stdin>#1 Route\/issued: no tls\.serverCertificate: issued\.acme\.org is served with a certificate issued by the mesh CA, which is not publicly trusted; clients must be given that CA \(meshcp get secret default\.ca-builtin-cert-gateway-ca -o pem, for a builtin backend\), or set tls\.serverCertificate\n$/);
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

function indent(pem: string): string {
  return pem
    .trim()
    .split('\n')
    .map((l) => `  ${l}\n`)
    .join('');
}

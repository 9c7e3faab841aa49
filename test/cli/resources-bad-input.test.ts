/**
 * Bad input through the CLI: each gives one `Error:` line naming the resource and the field,
 * a non-zero exit code, and leaves the store as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTestPki, type TestPki } from './certs.js';
import { BASE_RESOURCES, startHarness, type CliRun, type Harness } from './harness.js';

describe('meshcp bad input', () => {
  let h: Harness;
  let pki: TestPki;

  beforeAll(async () => {
    h = await startHarness();
    pki = await writeTestPki(path.join(h.dir, 'pki'));
    fs.writeFileSync(path.join(h.dir, 'base.yaml'), BASE_RESOURCES);
    expect((await h.cli(['apply', '-f', path.join(h.dir, 'base.yaml')])).code).toBe(0);
    expect((await h.cli(['secret', 'create', 'tls-ca', 'my-root-ca', '--cert', pki.caCert])).code).toBe(0);
    expect((await h.cli(['route', 'create', 'taken', '--host', 'taken.acme.org', '--path-prefix', '/=shopping-cart'])).code).toBe(0);
  });

  afterAll(async () => {
    await h.stop();
  });

  /** Runs the command and checks the common contract; returns the error line. */
  async function refused(args: string[]): Promise<string> {
    const before = h.snapshotDataDir();
    const run: CliRun = await h.cli(args);
    expect(run.code, run.stderr).not.toBe(0);
    expect(run.stdout).toBe('');
    const lines = run.stderr.split('\n').filter((l) => l !== '');
    expect(lines, run.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^Error: /);
    expect(run.stderr).not.toContain('PRIVATE KEY');
    expect(h.snapshotDataDir()).toEqual(before);
    return lines[0] ?? '';
  }

  function routeFile(name: string, body: string): string {
    const file = path.join(h.dir, name);
    fs.writeFileSync(file, body);
    return file;
  }

  it('malformed PEM', async () => {
    const line = await refused(['secret', 'create', 'tls-ca', 'broken', '--cert', pki.malformedPem]);
    expect(line).toMatch(/^Error: Secret\/broken: cert: /);
  });

  it('a key that does not match its certificate', async () => {
    const line = await refused(['secret', 'create', 'tls', 'mismatch', '--cert', pki.leafCert, '--key', pki.otherKey]);
    expect(line).toMatch(/^Error: Secret\/mismatch: key: does not match the certificate /);
  });

  it('an expired certificate', async () => {
    const line = await refused(['secret', 'create', 'tls-ca', 'old', '--cert', pki.expiredCaCert]);
    expect(line).toMatch(/^Error: Secret\/old: cert: certificate .* expired on \d{4}-/);
  });

  it('a certificate that is not a CA in a tls-ca secret', async () => {
    const line = await refused(['secret', 'create', 'tls-ca', 'not-a-ca', '--cert', pki.leafCert]);
    expect(line).toMatch(/^Error: Secret\/not-a-ca: cert: certificate .* is not a CA/);
  });

  it('a secret that already exists', async () => {
    const line = await refused(['secret', 'create', 'tls-ca', 'my-root-ca', '--cert', pki.caCert]);
    expect(line).toBe('Error: Secret/my-root-ca already exists in mesh "default": add --overwrite to replace it (or `meshcp delete secret my-root-ca` first)');
  });

  it('invalid RE2 syntax', async () => {
    const file = routeFile(
      'bad-regex.yaml',
      `type: Route
name: r
host: r.acme.org
tls: { clientValidationCa: { name: my-root-ca } }
validation:
  clientCertificate:
    subjectMatches:
    - exact: a
    - regex: '[a-'
routes: [{ prefix: /, route: { service: shopping-cart } }]
`,
    );
    const line = await refused(['apply', '-f', file]);
    expect(line).toMatch(new RegExp(`^Error: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}#1 Route/r: validation\\.clientCertificate\\.subjectMatches\\[1\\]\\.regex: invalid RE2 syntax`));
  });

  it('a JavaScript-only regex (lookahead)', async () => {
    const file = routeFile(
      'lookahead.yaml',
      `type: Route
name: r
host: r.acme.org
tls: { clientValidationCa: { name: my-root-ca } }
validation: { clientCertificate: { subjectMatches: [ { regex: '(?=x)client' } ] } }
routes: [{ prefix: /, route: { service: shopping-cart } }]
`,
    );
    const line = await refused(['apply', '-f', file]);
    expect(line).toMatch(/lookahead\.yaml#1 Route\/r: validation\.clientCertificate\.subjectMatches\[0\]\.regex: invalid RE2 syntax/);
  });

  it('subject matchers on a route without a client CA', async () => {
    const line = await refused(['route', 'update', 'taken', '--client-certificate-subject', '*.acme.org']);
    expect(line).toBe(
      'Error: Route/taken: validation.clientCertificate.subjectMatches: subject matchers need tls.clientValidationCa: without a client CA no client certificate is requested, so there is no subject to check',
    );
  });

  it('a route naming a missing secret', async () => {
    const line = await refused(['route', 'create', 'r', '--host', 'r.acme.org', '--client-ca-secret', 'nope', '--path-prefix', '/=shopping-cart']);
    expect(line).toBe('Error: Route/r: tls.clientValidationCa.name: secret "nope" not found in mesh "default"');
  });

  it('a route naming a secret of the wrong type', async () => {
    const line = await refused(['route', 'create', 'r', '--host', 'r.acme.org', '--server-certificate-secret', 'my-root-ca', '--path-prefix', '/=shopping-cart']);
    expect(line).toMatch(/^Error: Route\/r: tls\.serverCertificate\.name: secret "my-root-ca" is a tls-ca secret; a tls secret .* is required$/);
  });

  it('a route naming a missing service', async () => {
    const line = await refused(['route', 'create', 'r', '--host', 'r.acme.org', '--path-prefix', '/=payments']);
    expect(line).toBe('Error: Route/r: routes[0].route.service: service "payments" not found in mesh "default": no Service resource and no Dataplane inbound tagged kuma.io/service: payments');
  });

  it('two routes with the same host on one gateway', async () => {
    const line = await refused(['route', 'create', 'r', '--host', 'taken.acme.org', '--path-prefix', '/=shopping-cart']);
    expect(line).toBe('Error: Route/r: host: host "taken.acme.org" is already served by Route/taken on gateway "edge"');
  });

  it('an unknown field, with a suggestion', async () => {
    const file = routeFile('typo.yaml', 'type: Route\nname: r\nhots: r.acme.org\nroutes: [{ prefix: /, route: { service: shopping-cart } }]\n');
    const run = await h.cli(['apply', '-f', file]);
    // The missing host is reported too; the typo line comes first and carries the suggestion.
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')[0]).toBe(`Error: ${file}#1 Route/r: hots: unknown field "hots", did you mean "host"?`);
  });

  it('an unknown field alone, with a suggestion', async () => {
    const file = routeFile('typo-2.yaml', 'type: Gateway\nname: g\nlistener: [{ port: 1 }]\nlisteners: [{ port: 9443 }]\n');
    const line = await refused(['apply', '-f', file]);
    expect(line).toBe(`Error: ${file}#1 Gateway/g: listener: unknown field "listener", did you mean "listeners"?`);
  });

  it('an unknown resource type for get', async () => {
    const run = await h.cli(['get', 'rootes']);
    expect(run).toMatchObject({ code: 1, stderr: 'Error: unknown resource type "rootes"; did you mean "routes"? known types: meshes, dataplanes, services, secrets, gateways, routes, trafficpermissions\n' });
  });

  it('an unknown option', async () => {
    const run = await h.cli(['route', 'create', 'r', '--hots', 'x']);
    expect(run.code).not.toBe(0);
    expect(run.stderr.split('\n').filter((l) => l !== '')).toHaveLength(1);
    expect(run.stderr).toContain("unknown option '--hots'");
  });

  it('a server that is not there', async () => {
    const run = await h.cli(['get', 'routes', '--server', 'http://127.0.0.1:1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Error: cannot reach the meshcp admin API at http:\/\/127\.0\.0\.1:1: connection refused \(is `meshcp serve` running there\? set --server or MESHCP_SERVER\)\n$/);
  });
});

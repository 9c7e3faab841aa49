/**
 * The akka CLI's spellings, as an akka user types them: `secret list|get|delete`, `route apply
 * -f` (create or update), `--cors-origin/--cors-method` and the descriptor's `corsPolicy` and
 * `routes[].name`; and kumactl/kubectl spellings meshcp does not have, answered with meshcp's.
 * (CORS on real Envoy: test/envoy/gateway-cors.test.ts.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { writeTestPki, type TestPki } from './certs.js';
import { BASE_RESOURCES, runCli, startHarness, type Harness } from './harness.js';

describe('akka CLI parity', () => {
  let h: Harness;
  let pki: TestPki;
  const file = (name: string, text: string): string => h.file(name, text);

  beforeAll(async () => {
    h = await startHarness();
    pki = await writeTestPki(path.join(h.dir, 'pki'));
    expect((await h.cli(['apply', '-f', file('base.yaml', BASE_RESOURCES)])).code).toBe(0);
    expect((await h.cli(['secret', 'create', 'tls', 'my-tls-cert', '--cert', pki.leafCert, '--key', pki.leafKey])).code).toBe(0);
  });

  afterAll(async () => {
    await h.stop();
  });

  it('secret list | get | delete are get secrets | get secret | delete secret, and never show a key', async () => {
    // when
    const list = await h.cli(['secret', 'list']);
    const getSecrets = await h.cli(['get', 'secrets']);
    const yaml = await h.cli(['secret', 'get', 'my-tls-cert', '-o', 'yaml']);
    const json = await h.cli(['secrets', 'get', 'my-tls-cert', '-o', 'json', '--server', h.url]);
    const table = await h.cli(['secret', 'get', 'my-tls-cert']);
    // then
    expect(list.code).toBe(0);
    expect(list.stdout).toBe(getSecrets.stdout);
    expect(yaml.stdout).toBe((await h.cli(['get', 'secret', 'my-tls-cert', '-o', 'yaml'])).stdout);
    expect(YAML.parse(yaml.stdout)).toMatchObject({ name: 'my-tls-cert', secretType: 'tls' });
    for (const run of [list, yaml, json, table]) {
      expect(run.code).toBe(0);
      expect(run.stdout).not.toMatch(/PRIVATE KEY|BEGIN EC|MII/);
    }
    // when
    const deleted = await h.cli(['secret', 'delete', 'my-tls-cert']);
    const gone = await h.cli(['secret', 'get', 'my-tls-cert']);
    // then
    expect(deleted).toMatchObject({ code: 0, stdout: 'Secret/my-tls-cert deleted\n' });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe('Error: Secret/my-tls-cert not found in mesh "default"\n');
  });

  it('route apply -f creates the route, then updates it; the name comes from the file or the command line', async () => {
    // given
    const descriptor = file('shop.yaml', 'name: shop\nhost: shop.acme.org\nroutes:\n- name: carts\n  prefix: /carts\n  route: { service: shopping-cart }\n');
    // when
    const created = await h.cli(['route', 'apply', '-f', descriptor]);
    fs.writeFileSync(descriptor, 'host: shop.acme.org\ncorsPolicy:\n  allowedOrigins: [ https://app.acme.org ]\n  allowedMethods: [ put ]\nroutes:\n- name: carts\n  prefix: /carts\n  route: { service: shopping-cart }\n');
    const updated = await h.cli(['routes', 'apply', 'shop', '--file', descriptor, '--server', h.url]);
    const unnamed = await h.cli(['route', 'apply', '-f', descriptor]);
    // then
    expect(created).toMatchObject({ code: 0, stdout: 'Route/shop created\n' });
    expect(updated).toMatchObject({ code: 0, stdout: 'Route/shop updated\n' });
    expect(unnamed.code).toBe(1);
    expect(unnamed.stderr).toContain('no route name: give it, `meshcp route apply NAME -f');
    const exported = YAML.parse((await h.cli(['route', 'export', 'shop'])).stdout) as Record<string, unknown>;
    expect(exported).toMatchObject({ corsPolicy: { allowedOrigins: ['https://app.acme.org'], allowedMethods: ['PUT'] }, routes: [{ name: 'carts', prefix: '/carts' }] });
  });

  it('--cors-origin and --cors-method add to the route\'s corsPolicy, on create and on update', async () => {
    // when
    const created = await h.cli(['route', 'create', 'api', '--hostname', 'api.acme.org', '--path', '/=shopping-cart', '--cors-origin', 'https://app.acme.org', '--cors-method', 'PUT']);
    const updated = await h.cli(['route', 'update', 'api', '--cors-origin', 'https://*.partner.org', '--cors-method', 'DELETE', '--cors-method', 'PUT']);
    // then
    expect(created.code, created.stderr).toBe(0);
    expect(updated.code, updated.stderr).toBe(0);
    const exported = YAML.parse((await h.cli(['route', 'export', 'api'])).stdout) as Record<string, unknown>;
    expect(exported['corsPolicy']).toEqual({ allowedOrigins: ['https://app.acme.org', 'https://*.partner.org'], allowedMethods: ['PUT', 'DELETE'] });
  });

  it('refuses an origin that is not one, naming the field and the fix, and keeps the route', async () => {
    // when
    const run = await h.cli(['route', 'update', 'api', '--cors-origin', 'https://app.acme.org/path']);
    // then
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('Error: Route/api: corsPolicy.allowedOrigins[2]: expected an origin such as https://app.acme.org (scheme, host, optional port; no path), https://*.acme.org, or *; got "https://app.acme.org/path"\n');
    expect((await h.cli(['route', 'export', 'api'])).stdout).not.toContain('/path');
  });
});

describe('kumactl, kubectl and akka spellings meshcp does not have', () => {
  it.each([
    [['generate', 'dataplane-token', '--name', 'web-01'], /^error: unknown command 'generate'; meshcp spells it: meshcp token generate --name NAME/],
    [['get', 'meshes', '-n', 'default'], /^error: unknown option '-n'; meshcp spells it: meshcp scopes by mesh: -m, --mesh MESH/],
    [['route', 'list', '--project', 'shop'], /^error: unknown option '--project'; meshcp spells it: meshcp has no projects or regions/],
    [['describe', 'dataplane', 'web-01'], /^error: unknown command 'describe'; meshcp spells it: meshcp get TYPE NAME -o yaml/],
  ])('meshcp %j names the meshcp spelling, on one line', async (args, expected) => {
    // when
    const run = await runCli(args);
    // then
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(expected);
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('leaves other unknown commands as commander words them', async () => {
    // when
    const run = await runCli(['frobnicate']);
    // then
    expect(run).toMatchObject({ code: 1, stderr: "error: unknown command 'frobnicate'\n" });
  });
});

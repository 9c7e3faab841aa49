import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeTestPki, type TestPki } from './certs.js';
import { BASE_RESOURCES, runCli, startHarness, type Harness } from './harness.js';

describe('meshcp apply / get / delete', () => {
  let h: Harness;
  let pki: TestPki;

  beforeEach(async () => {
    h = await startHarness({ configYaml: 'type: Mesh\nname: default\n' });
    pki = await writeTestPki(path.join(h.dir, 'pki'));
  });

  afterEach(async () => {
    await h.stop();
  });

  it('applies files, lists them as a table, and prints them back as appliable YAML and JSON', async () => {
    // given
    const file = path.join(h.dir, 'base.yaml');
    fs.writeFileSync(file, BASE_RESOURCES);
    // when
    const applied = await h.cli(['apply', '-f', file]);
    const table = await h.cli(['get', 'services']);
    const yaml = await h.cli(['get', 'Service', 'shopping-cart', '-o', 'yaml']);
    const json = await h.cli(['get', 'gateways', '-o', 'json']);
    // then
    expect(applied).toMatchObject({ code: 0, stdout: 'Gateway/edge created\nService/shopping-cart created\n', stderr: '' });
    expect(table.stdout).toMatch(/^MESH\s+NAME\s+ENDPOINTS\s+TLS\s+AGE\n/);
    expect(table.stdout).toMatch(/\ndefault\s+shopping-cart\s+127\.0\.0\.1:9001\s+no\s+\d+s\n$/);
    expect(YAML.parse(yaml.stdout)).toEqual({ type: 'Service', name: 'shopping-cart', mesh: 'default', endpoints: [{ address: '127.0.0.1', port: 9001 }] });
    expect(JSON.parse(json.stdout)).toEqual([{ type: 'Gateway', name: 'edge', mesh: 'default', listeners: [{ port: 8443 }] }]);
    // when: the YAML output is applied back
    fs.writeFileSync(path.join(h.dir, 'again.yaml'), yaml.stdout);
    // then
    expect((await h.cli(['apply', '-f', path.join(h.dir, 'again.yaml')])).stdout).toBe('Service/shopping-cart unchanged\n');
  });

  it('applies several files and stdin as one batch', async () => {
    // given
    const gateway = path.join(h.dir, 'gateway.yaml');
    fs.writeFileSync(gateway, 'type: Gateway\nname: edge\nlisteners: [{ port: 8443 }]\n');
    const route = 'type: Route\nname: r\nhost: r.acme.org\nroutes: [{ prefix: /, route: { service: shopping-cart } }]\n';
    const service = 'type: Service\nname: shopping-cart\nendpoints: [{ address: 127.0.0.1, port: 9001 }]\n';
    // when: the route needs the gateway from the file and the service from stdin
    const run = await h.cli(['apply', '-f', gateway, '-f', '-', '--dry-run'], `${route}---\n${service}`);
    const real = await h.cli(['apply', '-f', gateway, '-f', '-'], `${route}---\n${service}`);
    // then
    expect(run.stdout).toBe('Gateway/edge created (dry run)\nRoute/r created (dry run)\nService/shopping-cart created (dry run)\n');
    expect(real).toMatchObject({ code: 0, stdout: 'Gateway/edge created\nRoute/r created\nService/shopping-cart created\n' });
  });

  it('reads certFile and keyFile relative to the YAML file and sends them inline', async () => {
    // given
    fs.writeFileSync(
      path.join(h.dir, 'pki', 'secrets.yaml'),
      'type: Secret\nname: my-tls-cert\nsecretType: tls\ncertFile: leaf.pem\nkeyFile: ./leaf.key\n---\ntype: Secret\nname: my-root-ca\nsecretType: tls-ca\ncertFile: ca.pem\n',
    );
    // when
    const run = await h.cli(['apply', '-f', path.join(h.dir, 'pki', 'secrets.yaml')]);
    // then
    expect(run).toMatchObject({ code: 0, stdout: 'Secret/my-tls-cert created\nSecret/my-root-ca created\n' });
  });

  it('names a certFile it cannot read', async () => {
    // given
    const file = path.join(h.dir, 'secret.yaml');
    fs.writeFileSync(file, 'type: Secret\nname: s\nsecretType: tls-ca\ncertFile: missing.pem\n');
    // when
    const run = await h.cli(['apply', '-f', file]);
    // then
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`Error: ${file}#1 Secret/s: certFile: cannot read "${path.join(h.dir, 'missing.pem')}": ENOENT\n`);
  });

  it('lists secrets with type, fingerprint and expiry, and never a key', async () => {
    // given
    await h.cli(['secret', 'create', 'tls', 'my-tls-cert', '--cert', pki.leafCert, '--key', pki.leafKey]);
    await h.cli(['secret', 'create', 'tls-ca', 'my-root-ca', '--cert', pki.caCert]);
    // when
    const table = await h.cli(['get', 'secrets']);
    const yaml = await h.cli(['get', 'secret', 'my-tls-cert', '-o', 'yaml']);
    const json = await h.cli(['get', 'SECRETS', '-o', 'json', '-m', 'default']);
    // then
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^MESH\s+NAME\s+TYPE\s+FINGERPRINT\s+EXPIRES\s+AGE$/);
    expect(rows[0]).toMatch(/^default\s+my-root-ca\s+tls-ca\s+\S{20,}\s+\d{4}-\d\d-\d\d \(36[34]d\)\s+\d+s$/);
    expect(rows[1]).toMatch(/^default\s+my-tls-cert\s+tls\s+\S{20,}\s+\d{4}-\d\d-\d\d \(89d\)\s+\d+s$/);
    expect(YAML.parse(yaml.stdout)).toMatchObject({ type: 'Secret', name: 'my-tls-cert', secretType: 'tls', fingerprintSha256: expect.any(String), expiresInDays: 89 });
    expect(JSON.parse(json.stdout)).toHaveLength(2);
    for (const out of [table, yaml, json]) {
      expect(out.stdout).not.toContain('PRIVATE KEY');
      expect(out.stdout).not.toContain('CERTIFICATE');
    }
  });

  it('shows config-file resources, refuses to delete them, and deletes API ones', async () => {
    // given
    await h.cli(['apply', '-f', '-'], BASE_RESOURCES);
    // when
    const meshes = await h.cli(['get', 'meshes']);
    const fileOwned = await h.cli(['delete', 'mesh', 'default']);
    const deleted = await h.cli(['delete', 'gateways', 'edge']);
    const gone = await h.cli(['delete', 'gateways', 'edge']);
    // then
    expect(meshes.stdout).toMatch(/^NAME\s+MTLS\s+MODE\s+BACKENDS\s+AGE\ndefault\s+off\s+-\s+-\s+-\n$/);
    expect(fileOwned.code).toBe(1);
    expect(fileOwned.stderr).toMatch(/^Error: Mesh\/default is defined in the --config files \(.*\), which own it; remove it there\n$/);
    expect(deleted).toMatchObject({ code: 0, stdout: 'Gateway/edge deleted\n' });
    expect(gone).toMatchObject({ code: 1, stderr: 'Error: Gateway/edge in mesh "default" not found\n' });
  });

  it('refuses to apply over a resource a config file owns', async () => {
    // when
    const run = await h.cli(['apply', '-f', '-'], 'type: Mesh\nname: default\nmtls: { enabledBackend: "" }\n');
    // then
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Error: <stdin>#1 Mesh\/default: Mesh\/default is defined in the --config files \(.*\), which own it; change it there\n$/);
  });

  it('needs -f', async () => {
    // when
    const run = await h.cli(['apply']);
    // then
    expect(run).toMatchObject({ code: 1, stderr: 'Error: -f/--filename is required: a YAML or JSON file, or - for stdin\n' });
  });
});

describe('meshcp --help', () => {
  it.each([['apply'], ['get'], ['delete'], ['secret'], ['secret', 'create', 'tls-ca'], ['secret', 'create', 'tls'], ['route'], ['route', 'create'], ['route', 'update'], ['route', 'get'], ['route', 'delete'], ['serve']])(
    'meshcp %s --help',
    async (...command: string[]) => {
      // when
      const run = await runCli([...command, '--help']);
      // then
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^Usage: meshcp /);
    },
  );
});

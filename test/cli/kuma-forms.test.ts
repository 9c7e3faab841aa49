/**
 * Issue #13, the Kuma part: the docs' YAML forms applied verbatim (test/fixtures/kuma), Kuma's
 * secrets as a provided CA's material, the builtin CA certificate exported as PEM, and a clear
 * refusal to delete it. Every step is a command as a user types it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { waitFor } from '../helpers/wait.js';
import { startHarness, type Harness } from './harness.js';
import { kumaKubernetesSecret, opensslCa } from './kuma-openssl.js';

const FIXTURES = path.resolve(__dirname, '../fixtures/kuma');

describe('Kuma forms through meshcp apply -f', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h.stop();
  });

  it('applies the Dataplane, TrafficPermission and Secret examples of the Kuma docs from a directory, and warns that metadata.namespace is ignored', async () => {
    // given: the docs' examples, verbatim, in one directory
    const dir = path.join(FIXTURES, 'policies');
    // when
    const run = await h.cli(['apply', '-f', dir]);
    // then
    expect(run.stderr).toMatch(/dataplane\.yaml#1 Dataplane\/web-01: metadata\.namespace: ignored/);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.split('\n').filter((l) => l !== '').sort()).toEqual([
      'Dataplane/web-01 created',
      'Secret/sample-secret created',
      'Secret/sample-secret-universal created',
      'TrafficPermission/allow-all-traffic created',
    ]);
  });

  it('prints meshcp\'s own form with get -o yaml, and never a generic secret\'s data', async () => {
    // given: the policies above are applied
    // when
    const permission = await h.cli(['get', 'trafficpermission', 'allow-all-traffic', '-o', 'yaml']);
    const secrets = await h.cli(['get', 'secrets', '-o', 'yaml']);
    const table = await h.cli(['get', 'secrets']);
    // then
    expect(YAML.parse(permission.stdout)).toEqual({
      type: 'TrafficPermission',
      name: 'allow-all-traffic',
      mesh: 'default',
      sources: [{ match: { 'kuma.io/service': '*' } }],
      destinations: [{ match: { 'kuma.io/service': '*' } }],
    });
    expect(secrets.stdout).toContain('secretType: generic');
    expect(secrets.stdout).not.toContain('dGVzdAo');
    expect(table.stdout).toMatch(/default\s+sample-secret\s+generic/);
  });

  it('names the field under spec. in an error of the Kubernetes form, and refuses two meshes that disagree', async () => {
    // given
    const yaml = `apiVersion: kuma.io/v1alpha1
kind: TrafficPermission
mesh: default
metadata:
  name: typo
  labels: { kuma.io/mesh: other }
spec:
  sourcs: [ { match: { kuma.io/service: web } } ]
  destinations: [ { match: { kuma.io/service: backend } } ]
`;
    // when
    const run = await h.cli(['apply', '-f', '-'], yaml);
    // then
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/TrafficPermission\/typo: spec\.sourcs: unknown field.*"sources"/);
    expect(run.stderr).toMatch(/TrafficPermission\/typo: mesh: mesh "default" disagrees with metadata\.labels\["kuma\.io\/mesh"\] "other"/);
  });

  it('applies the builtin Mesh of the Kuma docs, exports its CA certificate as PEM and explains why it cannot be deleted', async () => {
    // given
    const applied = await h.cli(['apply', '-f', path.join(FIXTURES, 'meshes/mesh-builtin.yaml')]);
    expect(applied.code, applied.stderr).toBe(0);
    const mesh = YAML.parse((await h.cli(['get', 'mesh', 'default', '-o', 'yaml'])).stdout) as Record<string, unknown>;
    expect(mesh).toMatchObject({ type: 'Mesh', name: 'default', mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin', dpCert: { rotation: { expiration: '1d' } } }] } });
    await waitFor('the builtin CA is listed', async () => (await h.cli(['get', 'secrets'])).stdout.includes('default.ca-builtin-cert-ca-1'), { timeoutMs: 30_000 });
    // when
    const pem = await h.cli(['get', 'secret', 'default.ca-builtin-cert-ca-1', '-o', 'pem']);
    const key = await h.cli(['get', 'secret', 'default.ca-builtin-key-ca-1', '-o', 'pem']);
    const deleted = await h.cli(['delete', 'secret', 'default.ca-builtin-cert-ca-1']);
    // then: the certificate, a CA, and nothing else
    expect(pem.code, pem.stderr).toBe(0);
    expect(pem.stdout).not.toContain('PRIVATE KEY');
    const cert = new crypto.X509Certificate(pem.stdout);
    expect(cert.ca).toBe(true);
    expect(key.code).not.toBe(0);
    expect(key.stderr).toMatch(/private key of the builtin CA "ca-1": it never leaves the control plane; its certificate is default\.ca-builtin-cert-ca-1/);
    expect(key.stdout).toBe('');
    expect(deleted.code).not.toBe(0);
    expect(deleted.stderr).toMatch(/managed by the builtin CA backend "ca-1" of Mesh\/default and cannot be deleted.*set mtls\.enabledBackend/);
    expect((await h.cli(['get', 'secrets'])).stdout).toContain('default.ca-builtin-cert-ca-1');
  });

  it('takes a provided CA from a Kuma secret, as the docs\' provided Mesh names it', async () => {
    // given: a CA made as the Kuma docs make it, in Kuma's Kubernetes secret "name-of-secret" (certificate and key)
    const ca = opensslCa(h.dir, 'provided', 'keyCertSign');
    const secret = await h.cli(['apply', '-f', '-'], kumaKubernetesSecret('name-of-secret', ca.certPem + ca.keyPem));
    expect(secret.code, secret.stderr).toBe(0);
    // when
    const run = await h.cli(['apply', '-f', path.join(FIXTURES, 'meshes/mesh-provided.yaml')]);
    // then
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('Mesh/default updated\n');
    // and: get secrets shows the certificate's fingerprint, never the data
    const listed = await h.cli(['get', 'secret', 'name-of-secret', '-o', 'json']);
    expect(JSON.parse(listed.stdout)).toMatchObject({ secretType: 'generic', fingerprintSha256: new crypto.X509Certificate(ca.certPem).fingerprint256 });
    expect(listed.stdout).not.toContain('PRIVATE');
    const pem = await h.cli(['get', 'secret', 'name-of-secret', '-o', 'pem']);
    expect(pem.stdout.trim()).toBe(ca.certPem.trim());
  });

  it('refuses a provided CA whose Kuma secret holds no key, naming the field', async () => {
    // given: the certificate only
    const ca = opensslCa(h.dir, 'cert-only', 'keyCertSign');
    const universal = `type: Secret\nname: cert-only\nmesh: default\ndata: ${Buffer.from(ca.certPem).toString('base64')}\n`;
    expect((await h.cli(['apply', '-f', '-'], universal)).code).toBe(0);
    const mesh = fs.readFileSync(path.join(FIXTURES, 'meshes/mesh-provided.yaml'), 'utf8').replace('name: ca-1\n        type: provided', 'name: ca-2\n        type: provided').replaceAll('name-of-secret', 'cert-only').replace('enabledBackend: ca-1', 'enabledBackend: ca-2');
    // when
    const run = await h.cli(['apply', '-f', '-'], mesh);
    // then
    expect(run.code).not.toBe(0);
    // (checks of the whole resource set name the field in meshcp's form, without spec.)
    expect(run.stderr).toContain('Mesh/default: mtls.backends[0].conf.key.secret: secret "cert-only" (data) holds no PEM private key; its data must be the base64 of the PEM file');
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';
import { writeTestPki, type TestPki } from './certs.js';
import { startHarness, type Harness } from './harness.js';

describe('meshcp secret create', () => {
  let h: Harness;
  let pki: TestPki;

  beforeEach(async () => {
    h = await startHarness();
    pki = await writeTestPki(path.join(h.dir, 'pki'));
  });

  afterEach(async () => {
    await h.stop();
  });

  it('creates a tls secret whose key is stored owner-only and never printed', async () => {
    // when
    const run = await h.cli(['secret', 'create', 'tls', 'my-tls-cert', '--cert', pki.leafCert, '--key', pki.leafKey, '-m', 'default']);
    // then
    expect(run).toMatchObject({ code: 0, stdout: 'Secret/my-tls-cert created\n', stderr: '' });
    const file = path.join(h.dataDir, 'resources', 'default', 'secrets', 'my-tls-cert.yaml');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('replaces a secret only with --overwrite', async () => {
    // given
    await h.cli(['secret', 'create', 'tls-ca', 'ca', '--cert', pki.caCert]);
    const other = await createRootCa({ commonName: 'Other CA', validitySeconds: 365 * 86_400 });
    const otherFile = path.join(h.dir, 'other-ca.pem');
    fs.writeFileSync(otherFile, other.certPem);
    // when
    const refused = await h.cli(['secret', 'create', 'tls-ca', 'ca', '--cert', otherFile]);
    const replaced = await h.cli(['secret', 'create', 'tls-ca', 'ca', '--cert', otherFile, '--overwrite']);
    // then
    expect(refused.code).toBe(1);
    expect(replaced).toMatchObject({ code: 0, stdout: 'Secret/ca updated\n' });
  });

  it('warns about a certificate that expires within 30 days', async () => {
    // given
    const ca = await createRootCa({ commonName: 'Short CA', validitySeconds: 365 * 86_400 });
    const leaf = await issueCertificate({ issuer: ca, commonName: 'soon.acme.org', usage: 'server', validitySeconds: 10 * 86_400 });
    fs.writeFileSync(path.join(h.dir, 'soon.pem'), leaf.certPem);
    fs.writeFileSync(path.join(h.dir, 'soon.key'), leaf.keyPem);
    // when
    const run = await h.cli(['secret', 'create', 'tls', 'soon', '--cert', path.join(h.dir, 'soon.pem'), '--key', path.join(h.dir, 'soon.key')]);
    // then
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^Warning: Secret\/soon: cert: certificate .* expires in 9 days, on /);
    expect(run.stderr).not.toContain('PRIVATE KEY');
  });

  it('names a --cert file it cannot read', async () => {
    // when
    const run = await h.cli(['secret', 'create', 'tls-ca', 'ca', '--cert', path.join(h.dir, 'nope.pem')]);
    // then
    expect(run).toMatchObject({ code: 1, stderr: `Error: --cert ${path.join(h.dir, 'nope.pem')}: no such file\n` });
  });
});

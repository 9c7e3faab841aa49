/** `meshcp secret create` as an Akka user types it (issue #13): an existing name, --overwrite, `tls --ca`, the `secrets` alias. */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRootCa } from '../../src/ca/pki.js';
import { writeTestPki, type TestPki } from './certs.js';
import { startHarness, type Harness } from './harness.js';

describe('meshcp secret create (akka)', () => {
  let h: Harness;
  let pki: TestPki;
  let otherCa: string;

  beforeEach(async () => {
    h = await startHarness();
    pki = await writeTestPki(path.join(h.dir, 'pki'));
    otherCa = path.join(h.dir, 'other-ca.pem');
    fs.writeFileSync(otherCa, (await createRootCa({ commonName: 'Other CA', validitySeconds: 365 * 86_400 })).certPem);
  });

  afterEach(async () => {
    await h.stop();
  });

  async function fingerprint(name: string): Promise<string | undefined> {
    const run = await h.cli(['get', 'secret', name, '-o', 'json']);
    if (run.code !== 0) return undefined;
    return (JSON.parse(run.stdout) as { fingerprintSha256?: string }).fingerprintSha256;
  }

  it('refuses an existing name, says how to replace it, and replaces it with --overwrite', async () => {
    // given
    await h.cli(['secret', 'create', 'tls-ca', 'my-root-ca', '--cert', pki.caCert]);
    const before = await fingerprint('my-root-ca');
    // when
    const refused = await h.cli(['secret', 'create', 'tls-ca', 'my-root-ca', '--cert', otherCa]);
    // then
    expect(refused).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'Error: Secret/my-root-ca already exists in mesh "default": add --overwrite to replace it (or `meshcp delete secret my-root-ca` first)\n',
    });
    expect(await fingerprint('my-root-ca')).toBe(before);

    // when
    const replaced = await h.cli(['secret', 'create', 'tls-ca', 'my-root-ca', '--cert', otherCa, '--overwrite']);
    // then
    expect(replaced).toMatchObject({ code: 0, stdout: 'Secret/my-root-ca updated\n' });
    expect(await fingerprint('my-root-ca')).not.toBe(before);
  });

  it('secret create tls --ca also creates the tls-ca secret NAME-ca, usable as a route client CA', async () => {
    // when
    const run = await h.cli(['secret', 'create', 'tls', 'my-tls-cert', '--key', pki.leafKey, '--cert', pki.leafCert, '--ca', pki.caCert]);
    // then
    expect(run).toMatchObject({ code: 0, stdout: 'Secret/my-tls-cert created\nSecret/my-tls-cert-ca created\n' });
    expect(run.stdout + run.stderr).not.toContain('PRIVATE KEY');
    const ca = JSON.parse((await h.cli(['get', 'secret', 'my-tls-cert-ca', '-o', 'json'])).stdout) as Record<string, unknown>;
    expect(ca).toMatchObject({ secretType: 'tls-ca', fingerprintSha256: await fingerprint('my-tls-cert-ca') });
    expect(ca['subject']).toContain('Test Root CA');
  });

  it('secret create tls --ca applies nothing when NAME-ca exists', async () => {
    // given
    await h.cli(['secret', 'create', 'tls-ca', 'my-tls-cert-ca', '--cert', otherCa]);
    // when
    const run = await h.cli(['secret', 'create', 'tls', 'my-tls-cert', '--key', pki.leafKey, '--cert', pki.leafCert, '--ca', pki.caCert]);
    // then
    expect(run).toMatchObject({ code: 1, stderr: 'Error: Secret/my-tls-cert-ca already exists in mesh "default": add --overwrite to replace it (or `meshcp delete secret my-tls-cert-ca` first)\n' });
    expect(await fingerprint('my-tls-cert')).toBeUndefined();
  });

  it('takes `secrets` as an alias of `secret`', async () => {
    // when
    const run = await h.cli(['secrets', 'create', 'tls-ca', 'my-root-ca', '--cert', pki.caCert, '--server', h.url]);
    // then
    expect(run).toMatchObject({ code: 0, stdout: 'Secret/my-root-ca created\n' });
  });
});

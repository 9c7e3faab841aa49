/**
 * `meshcp cert issue` subject alternative names, through the installed bin as a newcomer typed
 * it: a host name alone becomes the DNS SAN (as `step certificate create` does), and `--email`
 * gives the email SAN of cert-manager-style client certificates. openssl judges what was written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extensionValue, openssl, removeTempDirs, tempDir, verify, x509Text } from '../ca/openssl.js';
import { runBin } from './bin.js';

describe('meshcp cert issue: SANs', () => {
  let dir: string;
  const ca = (): string[] => ['--ca', path.join(dir, 'my-root-ca.crt'), '--ca-key', path.join(dir, 'my-root-ca.key'), '--out', dir];
  const sanOf = (file: string): string | undefined => extensionValue(x509Text(fs.readFileSync(path.join(dir, file), 'utf8')), 'X509v3 Subject Alternative Name');

  beforeAll(async () => {
    dir = tempDir('cert-sans');
    const created = await runBin(['ca', 'create', 'my-root-ca', '--out', dir]);
    expect(created.code, created.stderr).toBe(0);
  });
  afterAll(removeTempDirs);

  it('a host name alone is the DNS SAN too, so clients that match host names accept it', async () => {
    // when
    const run = await runBin(['cert', 'issue', 'ecommerce.acme.org', '--server', ...ca()]);
    // then
    expect(run.code, run.stderr).toBe(0);
    expect(sanOf('ecommerce.acme.org.crt')).toBe('DNS:ecommerce.acme.org');
    expect(run.stdout).toContain('subject alt names:   DNS:ecommerce.acme.org (from NAME, as step does; --dns, --ip or --email to choose)');
    // openssl checks the name as a TLS client does (SANs only, RFC 6125)
    const byName = (host: string): number | null => openssl(['verify', '-CAfile', path.join(dir, 'my-root-ca.crt'), '-purpose', 'sslserver', '-verify_hostname', host, path.join(dir, 'ecommerce.acme.org.crt')]).status;
    expect(byName('ecommerce.acme.org')).toBe(0);
    expect(byName('other.acme.org')).not.toBe(0);
  });

  it('an IP address alone is the IP SAN; a plain word or a display name stays a CN only; explicit SANs win', async () => {
    // when
    const ip = await runBin(['cert', 'issue', '10.0.0.5', '--server', ...ca()]);
    const word = await runBin(['cert', 'issue', 'gateway', ...ca()]);
    const display = await runBin(['cert', 'issue', 'My Client', '--client', ...ca()]);
    const explicit = await runBin(['cert', 'issue', 'shop.acme.org', '--dns', 'www.acme.org', ...ca()]);
    // then
    for (const run of [ip, word, display, explicit]) expect(run.code, run.stderr).toBe(0);
    expect(sanOf('10.0.0.5.crt')).toBe('IP Address:10.0.0.5');
    expect(sanOf('gateway.crt')).toBeUndefined();
    expect(sanOf('my-client.crt')).toBeUndefined();
    expect(sanOf('shop.acme.org.crt')).toBe('DNS:www.acme.org');
  });

  it('--email: a client certificate with an email SAN, as cert-manager issues for a person', async () => {
    // when
    const run = await runBin(['cert', 'issue', 'alice', '--client', '--email', 'alice@acme.org', '--email', 'a.smith@acme.org', ...ca()]);
    // then
    expect(run.code, run.stderr).toBe(0);
    expect(sanOf('alice.crt')).toBe('email:alice@acme.org, email:a.smith@acme.org');
    expect(x509Text(fs.readFileSync(path.join(dir, 'alice.crt'), 'utf8'))).toContain('Subject: CN = alice');
    expect(run.stdout).toContain('subject alt names:   email:alice@acme.org, email:a.smith@acme.org\n');
    expect(verify(path.join(dir, 'alice.crt'), { caFile: path.join(dir, 'my-root-ca.crt'), purpose: 'sslclient' }).status).toBe(0);
  });

  it('refuses an --email that is not an address, naming the flag, and writes nothing', async () => {
    // when
    const run = await runBin(['cert', 'issue', 'bob', '--client', '--email', 'bob at acme', ...ca()]);
    // then
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('Error: invalid --email "bob at acme": expected an address such as alice@acme.org\n');
    expect(fs.existsSync(path.join(dir, 'bob.crt'))).toBe(false);
  });
});

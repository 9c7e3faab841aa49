import { beforeAll, describe, expect, it } from 'vitest';
import type { SecretResource } from '../../src/api/types.js';
import { createRootCa, issueCertificate, parsePrivateKey, type CaMaterial, type IssuedCertificate } from '../../src/ca/pki.js';
import { createIntermediateCa, type IntermediateCa } from '../helpers/intermediate-ca.js';
import { checkSecretMaterial, summarizeSecret, type MaterialIssue } from '../../src/ca/secret-material.js';

const NOW = new Date('2030-01-01T00:00:00Z');
const DAY = 86_400;
const DAY_MS = DAY * 1000;

function tls(cert: string, key?: string): SecretResource {
  return { type: 'Secret', name: 's', mesh: 'default', secretType: 'tls', cert, ...(key !== undefined ? { key } : {}) };
}

function tlsCa(cert: string): SecretResource {
  return { type: 'Secret', name: 'ca', mesh: 'default', secretType: 'tls-ca', cert };
}

describe('checkSecretMaterial', () => {
  let root: CaMaterial;
  let intermediate: IntermediateCa;
  let leaf: IssuedCertificate;
  let other: IssuedCertificate;
  const seen: MaterialIssue[] = [];

  function check(secret: SecretResource, now = NOW): { errors: MaterialIssue[]; warnings: MaterialIssue[] } {
    const result = checkSecretMaterial(secret, now);
    seen.push(...result.errors, ...result.warnings);
    return result;
  }

  beforeAll(async () => {
    root = await createRootCa({ commonName: 'Root', validitySeconds: 10 * 365 * DAY, now: NOW });
    intermediate = await createIntermediateCa({ issuer: root, commonName: 'Inter', validitySeconds: 365 * DAY, now: NOW, keyAlgorithm: 'ecdsa-p256' });
    leaf = await issueCertificate({ issuer: { certPem: intermediate.chainPem, keyPem: intermediate.keyPem }, commonName: 'shop.acme.org', dnsNames: ['shop.acme.org'], usage: 'server', validitySeconds: 90 * DAY, now: NOW });
    other = await issueCertificate({ issuer: root, commonName: 'other', usage: 'server', validitySeconds: 90 * DAY, now: NOW });
  });

  it('accepts a tls chain with its key, and a tls-ca bundle', () => {
    // given / when / then
    expect(check(tls(leaf.chainPem, leaf.keyPem))).toEqual({ errors: [], warnings: [] });
    expect(check(tlsCa(intermediate.chainPem))).toEqual({ errors: [], warnings: [] });
    expect(check(tlsCa(root.certPem))).toEqual({ errors: [], warnings: [] });
  });

  it('rejects certificate text that holds no PEM', () => {
    // given / when
    const { errors } = check(tls('not a certificate', leaf.keyPem));
    // then
    expect(errors).toEqual([{ path: 'cert', message: 'no PEM certificate found (expected -----BEGIN CERTIFICATE-----)' }]);
  });

  it('names the malformed block of a chain', () => {
    // given
    const broken = `${leaf.certPem}-----BEGIN CERTIFICATE-----\nAAA$\n-----END CERTIFICATE-----\n`;
    // when
    const { errors } = check(tls(broken, leaf.keyPem));
    // then
    expect(errors).toEqual([{ path: 'cert[1]', message: 'PEM block 1 (CERTIFICATE) has invalid base64' }]);
  });

  it('rejects a block that is base64 but not a certificate', () => {
    // given
    const junk = `-----BEGIN CERTIFICATE-----\n${Buffer.from('junk junk junk').toString('base64')}\n-----END CERTIFICATE-----\n`;
    // when / then
    expect(check(tlsCa(junk)).errors).toEqual([{ path: 'cert', message: 'is not a valid X.509 certificate (DER decoding failed)' }]);
  });

  it('rejects a BEGIN line without its END line', () => {
    // given / when
    const { errors } = check(tlsCa(root.certPem.replace('-----END CERTIFICATE-----', '')));
    // then
    expect(errors).toEqual([{ path: 'cert', message: 'PEM block 0 has a BEGIN line without a matching END line' }]);
  });

  it('rejects a private key pasted into cert, without quoting it', () => {
    // given / when
    const { errors } = check(tlsCa(leaf.keyPem));
    // then
    expect(errors).toEqual([{ path: 'cert', message: 'holds a private key where a certificate was expected' }]);
  });

  it('rejects a malformed key', () => {
    // given
    const truncated = `${root.keyPem.split('\n').slice(0, 4).join('\n')}\n-----END PRIVATE KEY-----\n`;
    // when / then
    expect(check(tls(leaf.certPem, 'garbage')).errors).toEqual([{ path: 'key', message: 'no PEM private key found' }]);
    expect(check(tls(leaf.certPem, truncated)).errors).toEqual([{ path: 'key', message: 'is not a valid private key (decoding failed)' }]);
    expect(check(tls(leaf.certPem, leaf.certPem)).errors).toEqual([{ path: 'key', message: 'no PEM private key found; found CERTIFICATE' }]);
  });

  it('rejects an encrypted key', () => {
    // given
    const encrypted = parsePrivateKey(leaf.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'pw' }).toString();
    // when / then
    expect(check(tls(leaf.certPem, encrypted)).errors).toEqual([{ path: 'key', message: 'the private key is encrypted; provide an unencrypted key' }]);
  });

  it('rejects a tls secret without a key', () => {
    // given / when / then
    expect(check(tls(leaf.certPem)).errors).toEqual([{ path: 'key', message: 'a tls secret needs the private key of its certificate' }]);
  });

  it('rejects a key that does not match the first certificate', () => {
    // given / when
    const { errors } = check(tls(leaf.chainPem, other.keyPem));
    // then
    expect(errors).toEqual([{ path: 'key', message: 'does not match the certificate CN=shop.acme.org (the first one in cert)' }]);
  });

  it('rejects an expired certificate and names it', () => {
    // given
    const later = new Date(leaf.notAfter.getTime() + 1000);
    // when
    const { errors } = check(tls(leaf.certPem, leaf.keyPem), later);
    // then
    expect(errors).toEqual([{ path: 'cert', message: 'certificate CN=shop.acme.org expired on 2030-04-01T00:00:00Z' }]);
  });

  it('names the expired certificate in a chain', async () => {
    // given an intermediate that expires before the leaf's issue date + 10 days
    const shortInter = await createIntermediateCa({ issuer: root, commonName: 'Short', validitySeconds: 5 * DAY, now: NOW, keyAlgorithm: 'ecdsa-p256' });
    const serverLeaf = await issueCertificate({ issuer: shortInter, commonName: 'x', usage: 'server', validitySeconds: 2 * DAY, now: NOW });
    const chain = serverLeaf.certPem + shortInter.certPem;
    // when checked between the leaf's expiry and the intermediate's
    const { errors } = check(tls(chain, serverLeaf.keyPem), new Date(NOW.getTime() + 3 * DAY_MS));
    const { errors: bothExpired } = check(tls(chain, serverLeaf.keyPem), new Date(NOW.getTime() + 6 * DAY_MS));
    // then
    expect(errors).toEqual([{ path: 'cert[0]', message: 'certificate CN=x expired on 2030-01-03T00:00:00Z' }]);
    expect(bothExpired.map((e) => e.path)).toEqual(['cert[0]', 'cert[1]']);
  });

  it('rejects a certificate that is not yet valid', () => {
    // given
    const before = new Date(NOW.getTime() - DAY_MS);
    // when
    const { errors } = check(tls(leaf.certPem, leaf.keyPem), before);
    // then
    expect(errors).toEqual([{ path: 'cert', message: 'certificate CN=shop.acme.org is not valid until 2029-12-31T23:59:00Z' }]);
  });

  it('rejects a tls-ca bundle that holds a certificate that is not a CA', () => {
    // given / when
    const { errors } = check(tlsCa(root.certPem + leaf.certPem));
    // then
    expect(errors).toEqual([
      { path: 'cert[1]', message: 'certificate CN=shop.acme.org is not a CA (basicConstraints CA:TRUE is missing); a tls-ca secret holds CA certificates only' },
    ]);
    expect(check(tlsCa(leaf.certPem)).errors.map((e) => e.path)).toEqual(['cert']);
  });

  it('warns about a certificate that expires within 30 days', () => {
    // given
    const tenDaysBefore = new Date(leaf.notAfter.getTime() - 10 * DAY_MS);
    const hoursBefore = new Date(leaf.notAfter.getTime() - 3_600_000);
    // when
    const soon = check(tls(leaf.certPem, leaf.keyPem), tenDaysBefore);
    const verySoon = check(tls(leaf.certPem, leaf.keyPem), hoursBefore);
    // then
    expect(soon).toEqual({ errors: [], warnings: [{ path: 'cert', message: 'certificate CN=shop.acme.org expires in 10 days, on 2030-04-01T00:00:00Z' }] });
    expect(verySoon.warnings).toEqual([{ path: 'cert', message: 'certificate CN=shop.acme.org expires within a day, on 2030-04-01T00:00:00Z' }]);
    expect(check(tls(leaf.certPem, leaf.keyPem), new Date(leaf.notAfter.getTime() - 31 * DAY_MS)).warnings).toEqual([]);
  });

  it('warns when a tls chain is out of order', () => {
    // given / when
    const { errors, warnings } = check(tls(leaf.certPem + root.certPem, leaf.keyPem));
    // then
    expect(errors).toEqual([]);
    expect(warnings).toEqual([{ path: 'cert[1]', message: 'did not issue cert[0]; list the leaf certificate first, then each issuer in order' }]);
  });

  it('never puts key material in a message', () => {
    // given every message produced by the tests above
    const keyLines = [leaf.keyPem, other.keyPem, root.keyPem].flatMap((k) => k.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----')));
    // when / then
    expect(seen.length).toBeGreaterThan(10);
    for (const issue of seen) {
      expect(issue.message).not.toContain('PRIVATE KEY');
      expect(issue.message).not.toContain('\n');
      for (const line of keyLines) expect(issue.message).not.toContain(line.slice(0, 16));
    }
  });
});

describe('summarizeSecret', () => {
  it('shows count, subject, fingerprint and expiry of the first certificate', async () => {
    // given
    const root = await createRootCa({ commonName: 'Root', validitySeconds: 365 * DAY, now: NOW });
    const leaf = await issueCertificate({ issuer: root, commonName: 'shop.acme.org', usage: 'server', validitySeconds: 90 * DAY, now: NOW });
    // when
    const summary = summarizeSecret(tls(leaf.certPem + root.certPem, leaf.keyPem), new Date(NOW.getTime() + 30 * DAY_MS));
    // then
    expect(summary).toEqual({
      secretType: 'tls',
      certificates: 2,
      subject: 'CN=shop.acme.org',
      fingerprintSha256: expect.stringMatching(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/),
      notAfter: '2030-04-01T00:00:00Z',
      expiresInDays: 60,
    });
    expect(JSON.stringify(summary)).not.toContain('PRIVATE');
  });

  it('is undefined when the PEM cannot be parsed', () => {
    // given / when / then
    expect(summarizeSecret(tlsCa('nope'))).toBeUndefined();
  });
});

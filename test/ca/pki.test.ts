import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  certificateInfo,
  createRootCa,
  fingerprintSha256,
  issueCertificate,
  keyMatchesCertificate,
  parseCertificates,
  parsePrivateKey,
  PemError,
  type CaMaterial,
} from '../../src/ca/pki.js';
import { createIntermediateCa, type IntermediateCa } from '../helpers/intermediate-ca.js';
import { extensionValue, openssl, removeTempDirs, tempDir, verify, writePems, x509Text } from './openssl.js';

const NOW = new Date('2030-01-01T00:00:00Z');
const DAY = 86_400;

describe('PKI primitives', () => {
  let root: CaMaterial;
  let intermediate: IntermediateCa;
  let dir: string;
  let files: { root: string; intermediate: string };

  beforeAll(async () => {
    root = await createRootCa({ commonName: 'Test Root', validitySeconds: 10 * 365 * DAY, now: NOW });
    intermediate = await createIntermediateCa({ issuer: root, commonName: 'Test Intermediate', validitySeconds: 365 * DAY, now: NOW, keyAlgorithm: 'ecdsa-p256' });
    dir = tempDir('pki');
    files = writePems(dir, { root: root.certPem, intermediate: intermediate.certPem });
  });

  afterAll(removeTempDirs);

  describe('createRootCa', () => {
    it('makes a self-signed CA with critical basicConstraints and keyUsage keyCertSign, cRLSign', () => {
      // given a root made above
      // when openssl reads it
      const text = x509Text(root.certPem);
      // then
      expect(text).toContain('Subject: CN = Test Root');
      expect(text).toContain('Issuer: CN = Test Root');
      expect(text).toContain('X509v3 Basic Constraints: critical');
      expect(extensionValue(text, 'X509v3 Basic Constraints')).toBe('CA:TRUE');
      expect(extensionValue(text, 'X509v3 Key Usage: critical')).toBe('Certificate Sign, CRL Sign');
      expect(text).toContain('X509v3 Subject Key Identifier');
      expect(text).toContain('Public-Key: (2048 bit)');
      expect(verify(files.root, { caFile: files.root, at: NOW }).stdout).toContain('OK');
    });

    it('is valid from one minute before now for the requested lifetime', () => {
      // given / when
      const dates = openssl(['x509', '-noout', '-startdate', '-enddate', '-dateopt', 'iso_8601'], root.certPem).stdout;
      // then
      expect(dates).toContain('notBefore=2029-12-31 23:59:00Z');
      expect(dates).toContain('notAfter=2039-12-30 00:00:00Z');
      expect(certificateInfo(root.certPem)).toMatchObject({ isCa: true, selfSigned: true, commonName: 'Test Root', keyUsages: ['keyCertSign', 'cRLSign'] });
    });

    it('honours rsaBits and rejects sizes it does not support', async () => {
      // given / when
      const big = await createRootCa({ commonName: 'Big', rsaBits: 3072, validitySeconds: DAY, now: NOW });
      // then
      expect(x509Text(big.certPem)).toContain('Public-Key: (3072 bit)');
      await expect(createRootCa({ commonName: 'Small', rsaBits: 1024, validitySeconds: DAY })).rejects.toThrow(/2048, 3072 or 4096/);
    });

    it('returns an unencrypted PKCS#8 key that matches the certificate', () => {
      // given / when / then
      expect(root.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      expect(keyMatchesCertificate(root.keyPem, root.certPem)).toBe(true);
    });
  });

  // The intermediate CAs many tests rely on are made by a test helper; their profile is held here.
  describe('createIntermediateCa (test/helpers/intermediate-ca.ts)', () => {
    it('makes a CA with pathlen 0, signed by the root, whose AKI is the root SKI', () => {
      // given
      const text = x509Text(intermediate.certPem);
      const rootText = x509Text(root.certPem);
      // when
      const verified = verify(files.intermediate, { caFile: files.root, at: NOW });
      // then
      expect(verified.status).toBe(0);
      expect(verified.stdout).toContain('OK');
      expect(extensionValue(text, 'X509v3 Basic Constraints: critical')).toBe('CA:TRUE, pathlen:0');
      expect(extensionValue(text, 'X509v3 Key Usage: critical')).toBe('Certificate Sign, CRL Sign');
      expect(extensionValue(text, 'X509v3 Authority Key Identifier')).toContain(extensionValue(rootText, 'X509v3 Subject Key Identifier') ?? 'missing');
    });

    it('returns a chain: the intermediate, then the root', () => {
      // given / when
      const chain = parseCertificates(intermediate.chainPem);
      // then
      expect(chain.map((c) => certificateInfo(c).commonName)).toEqual(['Test Intermediate', 'Test Root']);
    });

    it('carries the URI SANs it is given, and ends no later than its issuer', async () => {
      // given: a request for longer than the root lives
      const longer = 20 * 365 * DAY;
      // when
      const withUris = await createIntermediateCa({ issuer: root, commonName: 'Trust Domain', validitySeconds: longer, now: NOW, keyAlgorithm: 'ecdsa-p256', uris: ['spiffe://acme'] });
      // then
      const text = x509Text(withUris.certPem);
      expect(extensionValue(text, 'X509v3 Subject Alternative Name')).toBe('URI:spiffe://acme');
      expect(extensionValue(x509Text(intermediate.certPem), 'X509v3 Subject Alternative Name')).toBeUndefined();
      expect(extensionValue(text, 'X509v3 Subject Key Identifier')).toMatch(/^[0-9A-F]{2}(:[0-9A-F]{2})+$/);
      expect(certificateInfo(withUris.certPem).notAfter).toEqual(certificateInfo(root.certPem).notAfter);
    });
  });

  describe('issueCertificate', () => {
    it('issues a server certificate through the intermediate that openssl verifies for sslserver', async () => {
      // given
      const issuer = { certPem: intermediate.chainPem, keyPem: intermediate.keyPem };
      // when
      const leaf = await issueCertificate({ issuer, commonName: 'api.acme.org', dnsNames: ['api.acme.org', '*.api.acme.org'], usage: 'server', validitySeconds: 90 * DAY, now: NOW });
      // then
      const leafFile = writePems(dir, { server: leaf.certPem }).server;
      const result = verify(leafFile, { caFile: files.root, untrusted: files.intermediate, purpose: 'sslserver', at: NOW });
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('OK');
      const text = x509Text(leaf.certPem);
      expect(extensionValue(text, 'X509v3 Basic Constraints: critical')).toBe('CA:FALSE');
      expect(extensionValue(text, 'X509v3 Key Usage: critical')).toBe('Digital Signature');
      expect(extensionValue(text, 'X509v3 Extended Key Usage')).toBe('TLS Web Server Authentication');
      expect(extensionValue(text, 'X509v3 Subject Alternative Name')).toBe('DNS:api.acme.org, DNS:*.api.acme.org');
      expect(text).toContain('Subject: CN = api.acme.org');
      expect(text).toContain('Not Before: Dec 31 23:59:00 2029 GMT');
      expect(text).toContain('Not After : Apr  1 00:00:00 2030 GMT');
    });

    it('returns the leaf then the intermediate as chainPem, without the root', async () => {
      // given / when
      const leaf = await issueCertificate({ issuer: { certPem: intermediate.chainPem, keyPem: intermediate.keyPem }, dnsNames: ['a.acme.org'], usage: 'server', validitySeconds: DAY, now: NOW });
      // then
      const chain = parseCertificates(leaf.chainPem);
      expect(chain).toHaveLength(2);
      expect(certificateInfo(chain[0] ?? '').dnsNames).toEqual(['a.acme.org']);
      expect(certificateInfo(chain[1] ?? '').commonName).toBe('Test Intermediate');
      const chainFile = writePems(dir, { chain: leaf.chainPem }).chain;
      expect(verify(chainFile, { caFile: files.root, untrusted: chainFile, at: NOW }).stdout).toContain('OK');
    });

    it('issues a client certificate that openssl accepts for sslclient and refuses for sslserver', async () => {
      // given / when
      const leaf = await issueCertificate({ issuer: root, dnsNames: ['client.acme.org'], commonName: 'client.acme.org', usage: 'client', validitySeconds: DAY, now: NOW });
      const file = writePems(dir, { client: leaf.certPem }).client;
      // then
      expect(verify(file, { caFile: files.root, purpose: 'sslclient', at: NOW }).status).toBe(0);
      expect(verify(file, { caFile: files.root, purpose: 'sslserver', at: NOW }).status).not.toBe(0);
      expect(extensionValue(x509Text(leaf.certPem), 'X509v3 Extended Key Usage')).toBe('TLS Web Client Authentication');
    });

    it('issues a SPIFFE workload certificate: URI SAN (critical, no subject), serverAuth and clientAuth', async () => {
      // given / when
      const svid = await issueCertificate({ issuer: root, uris: ['spiffe://default/web'], usage: 'workload', validitySeconds: DAY, now: NOW, keyAlgorithm: 'rsa-2048' });
      // then
      const text = x509Text(svid.certPem);
      expect(text).toMatch(/Subject: *\n/);
      expect(text).toContain('X509v3 Subject Alternative Name: critical');
      expect(extensionValue(text, 'X509v3 Subject Alternative Name')).toBe('URI:spiffe://default/web');
      expect(extensionValue(text, 'X509v3 Extended Key Usage')).toBe('TLS Web Server Authentication, TLS Web Client Authentication');
      expect(extensionValue(text, 'X509v3 Key Usage: critical')).toBe('Digital Signature, Key Encipherment');
      const file = writePems(dir, { svid: svid.certPem }).svid;
      expect(verify(file, { caFile: files.root, purpose: 'sslclient', at: NOW }).stdout).toContain('OK');
      expect(certificateInfo(svid.certPem)).toMatchObject({ uris: ['spiffe://default/web'], subject: '', isCa: false, extendedKeyUsages: ['serverAuth', 'clientAuth'] });
    });

    it('refuses a workload certificate without a spiffe:// URI', async () => {
      // given / when / then
      await expect(issueCertificate({ issuer: root, usage: 'workload', validitySeconds: DAY })).rejects.toThrow(/spiffe/);
      await expect(issueCertificate({ issuer: root, uris: ['https://x'], usage: 'workload', validitySeconds: DAY })).rejects.toThrow(/not a spiffe/);
    });

    it('uses random positive 128-bit serials', async () => {
      // given / when
      const issued = await Promise.all([1, 2, 3, 4].map(() => issueCertificate({ issuer: root, commonName: 'x', usage: 'server', validitySeconds: DAY, now: NOW })));
      // then
      const serials = issued.map((c) => c.serialHex);
      expect(new Set(serials).size).toBe(4);
      for (const [i, serial] of serials.entries()) {
        expect(serial).toMatch(/^[0-7][0-9a-f]{31}$/);
        expect(certificateInfo(issued[i]?.certPem ?? '').serialHex).toBe(serial);
      }
    });

    it('caps the lifetime at the issuer expiry', async () => {
      // given an issuer that expires in a year
      // when a ten-year certificate is asked for
      const leaf = await issueCertificate({ issuer: { certPem: intermediate.chainPem, keyPem: intermediate.keyPem }, commonName: 'long', usage: 'server', validitySeconds: 10 * 365 * DAY, now: NOW });
      // then
      expect(leaf.notAfter).toEqual(certificateInfo(intermediate.certPem).notAfter);
      expect(certificateInfo(leaf.certPem).notAfter).toEqual(leaf.notAfter);
    });

    it('refuses an issuer that is not a CA, or whose key does not match', async () => {
      // given
      const leaf = await issueCertificate({ issuer: root, commonName: 'leaf', usage: 'server', validitySeconds: DAY, now: NOW });
      // when / then
      await expect(issueCertificate({ issuer: leaf, commonName: 'x', usage: 'server', validitySeconds: DAY })).rejects.toThrow(/is not a CA/);
      await expect(issueCertificate({ issuer: { certPem: root.certPem, keyPem: intermediate.keyPem }, commonName: 'x', usage: 'server', validitySeconds: DAY })).rejects.toThrow(
        /issuer key does not match/,
      );
    });
  });

  describe('PEM helpers', () => {
    it('reads PKCS#1 and SEC 1 keys as well as PKCS#8', async () => {
      // given
      const rsaPkcs1 = parsePrivateKey(root.keyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
      const ecSec1 = parsePrivateKey(intermediate.keyPem).export({ type: 'sec1', format: 'pem' }).toString();
      // when / then
      expect(rsaPkcs1).toContain('BEGIN RSA PRIVATE KEY');
      expect(keyMatchesCertificate(rsaPkcs1, root.certPem)).toBe(true);
      expect(ecSec1).toContain('BEGIN EC PRIVATE KEY');
      expect(keyMatchesCertificate(ecSec1, intermediate.certPem)).toBe(true);
      expect(keyMatchesCertificate(ecSec1, root.certPem)).toBe(false);
    });

    it('can sign with a CA key given in a legacy format', async () => {
      // given
      const issuer = { certPem: intermediate.certPem, keyPem: parsePrivateKey(intermediate.keyPem).export({ type: 'sec1', format: 'pem' }).toString() };
      // when
      const leaf = await issueCertificate({ issuer, commonName: 'legacy', usage: 'server', validitySeconds: DAY, now: NOW });
      // then
      const file = writePems(dir, { legacy: leaf.certPem }).legacy;
      expect(verify(file, { caFile: files.root, untrusted: files.intermediate, at: NOW }).status).toBe(0);
    });

    it('rejects malformed PEM with an error that names the block and holds no PEM text', () => {
      // given
      const broken = `${root.certPem}-----BEGIN CERTIFICATE-----\n!!!notbase64\n-----END CERTIFICATE-----\n`;
      // when / then
      expect(() => parseCertificates('hello')).toThrow(/no PEM certificate found/);
      expect(() => parseCertificates(broken)).toThrow(PemError);
      expect(() => parseCertificates(broken)).toThrow(/certificate\[1\]: .*invalid base64/);
      expect(() => parseCertificates(`-----BEGIN CERTIFICATE-----\n${Buffer.from('not der').toString('base64')}\n-----END CERTIFICATE-----\n`)).toThrow(/not a valid X.509/);
      expect(() => parsePrivateKey(root.certPem)).toThrow(/no PEM private key found; found CERTIFICATE/);
      const truncatedKey = `${root.keyPem.split('\n').slice(0, 5).join('\n')}\n-----END PRIVATE KEY-----\n`;
      expect(() => parsePrivateKey(truncatedKey)).toThrow('private key: is not a valid private key (decoding failed)');
      const message = (() => {
        try {
          parsePrivateKey(truncatedKey);
          return '';
        } catch (err) {
          return (err as Error).message;
        }
      })();
      expect(message).not.toContain('PRIVATE KEY');
      expect(message).not.toContain(root.keyPem.split('\n')[1]);
    });

    it('refuses encrypted keys', () => {
      // given
      const encrypted = parsePrivateKey(intermediate.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString();
      // when / then
      expect(() => parsePrivateKey(encrypted)).toThrow(/encrypted/);
    });

    it('gives the same SHA-256 fingerprint as openssl', () => {
      // given
      const fromOpenssl = openssl(['x509', '-noout', '-fingerprint', '-sha256'], root.certPem).stdout.trim().replace(/^sha256 Fingerprint=/i, '');
      // when / then
      expect(fingerprintSha256(root.certPem)).toBe(fromOpenssl);
      expect(fingerprintSha256(root.certPem)).toBe(new crypto.X509Certificate(root.certPem).fingerprint256);
    });

    it('reads certificates made by openssl', () => {
      // given
      const keyFile = `${dir}/o.key`;
      const made = openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-subj', '/O=Acme/CN=o.acme.org', '-addext', 'subjectAltName=DNS:o.acme.org,URI:spiffe://acme/o,IP:10.0.0.1', '-days', '3']);
      expect(made.status).toBe(0);
      // when
      const info = certificateInfo(made.stdout);
      // then
      expect(info).toMatchObject({ commonName: 'o.acme.org', dnsNames: ['o.acme.org'], uris: ['spiffe://acme/o'], isCa: true, selfSigned: true });
      expect(info.subject).toContain('CN=o.acme.org');
    });
  });
});

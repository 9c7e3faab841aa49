/**
 * The SVID private keys are encoded from templates (svid.ts), not by OpenSSL: each one must be
 * the key of its certificate, and exactly what Node and OpenSSL would write for it, including the
 * keys whose private scalar starts with zero bytes (OpenSSL hands those over shortened).
 */
import crypto from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createRootCa, type CaMaterial } from '../../src/ca/pki.js';
import { createIntermediateCa } from '../helpers/intermediate-ca.js';
import { SvidIssuer } from '../../src/ca/svid.js';
import { SvidWorkerPool } from '../../src/ca/svid-workers.js';
import { p256Pkcs8Der, p256SpkiDer } from '../../src/ca/svid-core.js';
import { generateKeyPair, privateKeyToPem } from '../../src/ca/keys.js';
import { x509 } from '../../src/ca/x509.js';
import { openssl, removeTempDirs } from './openssl.js';

afterAll(() => removeTempDirs());

const NOW = new Date('2026-06-01T12:00:00Z');
/** The worker threads that sign this file's SVIDs. */
const pool = new SvidWorkerPool();

function toPem(der: Buffer): string {
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
}

/** The checks every generated key must pass; `spkiDer` is the public key it must hold. */
function expectValidP256Key(keyPem: string, spkiDer: Buffer): void {
  const key = crypto.createPrivateKey(keyPem);
  expect(key.asymmetricKeyType).toBe('ec');
  expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  // Node derives the public key from the private one: it must be the certificate's.
  expect(crypto.createPublicKey(key).export({ type: 'spki', format: 'der' }).equals(spkiDer)).toBe(true);
  // Byte for byte what Node's own PKCS#8 encoder writes for this key.
  expect(key.export({ type: 'pkcs8', format: 'pem' })).toBe(keyPem);
}

function opensslAccepts(keyPem: string): { ok: boolean; out: string } {
  const r = openssl(['pkey', '-noout', '-check'], keyPem);
  return { ok: r.status === 0 && /valid/i.test(r.stdout + r.stderr), out: r.stdout + r.stderr };
}

async function ecdsaRoot(): Promise<CaMaterial> {
  const keys = await generateKeyPair({ kind: 'ecdsa-p256' });
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=EC Root',
    notBefore: new Date(NOW.getTime() - 86_400_000),
    notAfter: new Date(NOW.getTime() + 86_400_000 * 365),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  return { certPem: `${cert.toString('pem')}\n`, keyPem: await privateKeyToPem(keys.privateKey) };
}

describe('SVID key encoding', () => {
  it('gives 200 concurrently issued SVIDs keys that match their certificates and that openssl checks', async () => {
    // given
    const root = await ecdsaRoot();
    const issuer = new SvidIssuer(root, pool);
    // when: one burst, as a cold start issues them
    const issued = await Promise.all(Array.from({ length: 200 }, (_, i) => issuer.issue([`spiffe://default/svc-${i % 7}`], 3_600, NOW)));
    // then
    const serials = new Set<string>();
    for (const svid of issued) {
      const cert = new crypto.X509Certificate(svid.certPem);
      expectValidP256Key(svid.keyPem, cert.publicKey.export({ type: 'spki', format: 'der' }));
      expect(cert.verify(crypto.createPublicKey(root.certPem))).toBe(true);
      expect(cert.serialNumber.toLowerCase()).toBe(svid.serialHex);
      serials.add(svid.serialHex);
      const check = opensslAccepts(svid.keyPem);
      expect(check.ok, check.out).toBe(true);
    }
    expect(serials.size).toBe(200);
    expect(new Set(issued.map((s) => s.keyPem)).size).toBe(200);
  });

  it('pads private scalars that start with zero bytes to 32 bytes', () => {
    const ecdh = crypto.createECDH('prime256v1');
    const scalars = [
      Buffer.concat([Buffer.alloc(1), crypto.randomBytes(31)]),
      Buffer.concat([Buffer.alloc(2), crypto.randomBytes(30)]),
      Buffer.concat([Buffer.alloc(3), crypto.randomBytes(29)]),
      Buffer.concat([Buffer.alloc(31), Buffer.from([0x01])]),
      crypto.randomBytes(32),
    ];
    for (const scalar of scalars) {
      if (scalar[scalar.length - 1] === 0) scalar[scalar.length - 1] = 1;
      ecdh.setPrivateKey(scalar);
      const point = ecdh.getPublicKey();
      // OpenSSL returns the scalar without its leading zero bytes, as the issuer gets it.
      const stripped = ecdh.getPrivateKey();
      expect(stripped.length).toBe(32 - scalar.findIndex((b) => b !== 0));
      const keyPem = toPem(p256Pkcs8Der(stripped, point));
      const spki = p256SpkiDer(point);
      expectValidP256Key(keyPem, spki);
      const check = opensslAccepts(keyPem);
      expect(check.ok, check.out).toBe(true);
      // and the padded form encodes the same
      expect(p256Pkcs8Der(scalar, point).equals(p256Pkcs8Der(stripped, point))).toBe(true);
    }
  });

  it('leaves no worker keeping the process alive once the SVIDs are issued', async () => {
    // given
    const root = await ecdsaRoot();
    const refedPorts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
    const before = refedPorts();
    // when: a burst large enough to start a worker per core, then a single one
    await Promise.all(Array.from({ length: 20 }, () => new SvidIssuer(root, pool).issue(['spiffe://default/web'], 60, NOW)));
    await new SvidIssuer(root, pool).issue(['spiffe://default/web'], 60, NOW);
    // then: idle workers are unref'd (a CLI or a test process still exits on its own)
    expect(refedPorts()).toBe(before);
  });

  it('refuses what is not a P-256 key', () => {
    const ecdh = crypto.createECDH('prime256v1');
    const point = ecdh.generateKeys();
    expect(() => p256Pkcs8Der(Buffer.alloc(0), point)).toThrow(/scalar/);
    expect(() => p256Pkcs8Der(Buffer.alloc(33, 1), point)).toThrow(/scalar/);
    expect(() => p256Pkcs8Der(ecdh.getPrivateKey(), ecdh.getPublicKey(null, 'compressed'))).toThrow(/point/);
    expect(() => p256SpkiDer(point.subarray(1))).toThrow(/point/);
  });

  it('signs for several CAs in one burst, each certificate with its own issuer', async () => {
    // given: an RSA root, an RSA intermediate under it, and an ECDSA root
    const rsaRoot = await createRootCa({ commonName: 'RSA Root', validitySeconds: 86_400 * 365, now: new Date(NOW.getTime() - 3_600_000) });
    const intermediate = await createIntermediateCa({ issuer: rsaRoot, commonName: 'Mesh Intermediate', validitySeconds: 86_400 * 100, now: new Date(NOW.getTime() - 3_600_000) });
    const ecRoot = await ecdsaRoot();
    const cas = [rsaRoot, { certPem: intermediate.chainPem, keyPem: intermediate.keyPem }, ecRoot];
    const issuers = cas.map((ca) => new SvidIssuer(ca, pool));
    // when: interleaved requests, so batches mix issuers
    const issued = await Promise.all(Array.from({ length: 90 }, (_, i) => issuers[i % 3]!.issue([`spiffe://mesh-${i % 3}/svc`], 600, NOW).then((svid) => ({ i, svid }))));
    // then
    for (const { i, svid } of issued) {
      const ca = cas[i % 3]!;
      const cert = new crypto.X509Certificate(svid.certPem);
      expect(cert.verify(crypto.createPublicKey(ca.certPem.slice(0, ca.certPem.indexOf('-----END CERTIFICATE-----') + 25)))).toBe(true);
      expect(cert.subjectAltName).toBe(`URI:spiffe://mesh-${i % 3}/svc`);
      expect(svid.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(i % 3 === 1 ? 2 : 1);
    }
  });
});

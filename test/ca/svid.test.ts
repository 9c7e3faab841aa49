/**
 * The fast SVID path (src/ca/svid.ts) against the general one (pki.ts `issueCertificate`,
 * usage 'workload'): the same profile field by field as openssl prints it, a chain that
 * `openssl verify` accepts (root, intermediate and ECDSA CAs), and the lifetime cap.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { certificateInfo, createRootCa, issueCertificate, keyMatchesCertificate, type CaMaterial } from '../../src/ca/pki.js';
import { createIntermediateCa } from '../helpers/intermediate-ca.js';
import { SvidIssuer } from '../../src/ca/svid.js';
import { SvidWorkerPool } from '../../src/ca/svid-workers.js';
import { generateKeyPair, privateKeyToPem } from '../../src/ca/keys.js';
import { x509 } from '../../src/ca/x509.js';
import { openssl, removeTempDirs, tempDir } from './openssl.js';

afterAll(() => removeTempDirs());

const NOW = new Date('2026-06-01T12:00:00Z');
/** The worker threads that sign this file's SVIDs. */
const pool = new SvidWorkerPool();

/** openssl's text form without what differs per certificate (serial, keys, signature, key ids, times). */
function profile(pem: string): string {
  const text = openssl(['x509', '-noout', '-text', '-certopt', 'no_pubkey,no_sigdump,no_serial,no_validity'], pem);
  expect(text.status).toBe(0);
  return text.stdout
    .split('\n')
    .filter((line) => !/^\s+([0-9A-F]{2}:)+[0-9A-F]{2}\s*$/.test(line))
    .join('\n');
}

function verify(caPem: string, chainPem: string, untrusted?: string): { status: number | null; out: string } {
  const dir = tempDir('svid');
  fs.writeFileSync(path.join(dir, 'ca.pem'), caPem);
  fs.writeFileSync(path.join(dir, 'leaf.pem'), chainPem);
  const args = ['verify', '-CAfile', path.join(dir, 'ca.pem'), '-attime', String(Math.floor(NOW.getTime() / 1000) + 10)];
  if (untrusted !== undefined) {
    fs.writeFileSync(path.join(dir, 'untrusted.pem'), untrusted);
    args.push('-untrusted', path.join(dir, 'untrusted.pem'));
  }
  const r = openssl([...args, path.join(dir, 'leaf.pem')]);
  return { status: r.status, out: r.stdout + r.stderr };
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
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true), await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)],
  });
  return { certPem: `${cert.toString('pem')}\n`, keyPem: await privateKeyToPem(keys.privateKey) };
}

describe('fast SVID issuance', () => {
  it('issues the same profile as the general path, and openssl verifies it against the RSA root', async () => {
    // given
    const root = await createRootCa({ commonName: 'Mesh Root', validitySeconds: 86_400 * 365, now: new Date(NOW.getTime() - 3_600_000) });
    const ids = ['spiffe://default/web', 'spiffe://default/api'];
    // when
    const fast = await new SvidIssuer(root, pool).issue(ids, 86_400, NOW);
    const general = await issueCertificate({ issuer: root, uris: ids, usage: 'workload', validitySeconds: 86_400, now: NOW });
    // then: field by field the same (apart from serial, keys, signature and times)
    expect(profile(fast.certPem)).toEqual(profile(general.certPem));
    expect(profile(fast.certPem)).toContain('URI:spiffe://default/web, URI:spiffe://default/api');
    // and: the same validity window, serial format and key pairing
    expect(fast.notBefore).toEqual(general.notBefore);
    expect(fast.notAfter).toEqual(general.notAfter);
    const info = certificateInfo(fast.certPem);
    expect(info.notAfter).toEqual(fast.notAfter);
    expect(info.notBefore).toEqual(fast.notBefore);
    expect(info.serialHex).toBe(fast.serialHex);
    expect(keyMatchesCertificate(fast.keyPem, fast.certPem)).toBe(true);
    expect(fast.keyPem).toContain('BEGIN PRIVATE KEY');
    // and: it chains to the root, as the general one does
    expect(verify(root.certPem, fast.chainPem).out).toContain('OK');
    expect(fast.chainPem).toBe(fast.certPem);
  });

  it('sends the intermediate after the leaf for a provided CA with an intermediate', async () => {
    // given
    const root = await createRootCa({ commonName: 'Provided Root', validitySeconds: 86_400 * 365, now: new Date(NOW.getTime() - 3_600_000) });
    const intermediate = await createIntermediateCa({ issuer: root, commonName: 'Mesh Intermediate', validitySeconds: 86_400 * 100, now: new Date(NOW.getTime() - 3_600_000) });
    // when
    const fast = await new SvidIssuer({ certPem: intermediate.chainPem, keyPem: intermediate.keyPem }, pool).issue(['spiffe://default/web'], 3_600, NOW);
    // then
    expect(fast.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(verify(root.certPem, fast.certPem, fast.chainPem.slice(fast.certPem.length)).out).toContain('OK');
    expect(certificateInfo(fast.certPem).issuer).toContain('Mesh Intermediate');
  });

  it('signs with an ECDSA CA, and caps the lifetime at the CA expiry', async () => {
    // given
    const root = await ecdsaRoot();
    // when: a 2-year certificate from a 1-year CA
    const fast = await new SvidIssuer(root, pool).issue(['spiffe://default/web'], 86_400 * 730, NOW);
    // then
    expect(verify(root.certPem, fast.chainPem).out).toContain('OK');
    expect(fast.notAfter).toEqual(certificateInfo(root.certPem).notAfter);
    expect(openssl(['x509', '-noout', '-text'], fast.certPem).stdout).toContain('ecdsa-with-SHA256');
  });

  it('refuses what the general path refuses', async () => {
    const root = await createRootCa({ commonName: 'Mesh Root', validitySeconds: 86_400, now: NOW });
    const issuer = new SvidIssuer(root, pool);
    await expect(issuer.issue([], 60, NOW)).rejects.toThrow(/at least one spiffe/);
    await expect(issuer.issue(['https://x'], 60, NOW)).rejects.toThrow(/not a spiffe/);
    await expect(issuer.issue(['spiffe://default/web'], 0, NOW)).rejects.toThrow(/positive/);
    const leaf = await issueCertificate({ issuer: root, commonName: 'leaf', usage: 'server', validitySeconds: 60, now: NOW });
    expect(() => new SvidIssuer({ certPem: leaf.certPem, keyPem: leaf.keyPem }, pool)).toThrow(/not a CA/);
  });
});

import crypto from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { privateKeyToPem } from '../../src/ca/keys.js';
import { createRootCa, type CaMaterial } from '../../src/ca/pki.js';
import { createIntermediateCa } from '../helpers/intermediate-ca.js';
import { checkProvidedCa } from '../../src/ca/provided-ca.js';
import { x509 } from '../../src/ca/x509.js';

const NOW = new Date('2030-01-01T00:00:00Z');
const DAY_MS = 86_400_000;
const { subtle } = crypto.webcrypto;

interface BadCaOptions {
  readonly commonName: string;
  /** undefined: no basicConstraints extension at all. */
  readonly ca?: boolean;
  readonly pathLength?: number;
  /** undefined: no keyUsage extension at all. */
  readonly keyUsage?: x509.KeyUsageFlags;
  readonly issuer?: { readonly cert: x509.X509Certificate; readonly key: CryptoKey };
  readonly notAfter?: Date;
}

interface BuiltCa {
  readonly cert: x509.X509Certificate;
  readonly key: CryptoKey;
  readonly certPem: string;
  readonly keyPem: string;
}

/** Builds CAs with whatever (wrong) extensions a test needs, straight from @peculiar/x509. */
async function buildCa(options: BadCaOptions): Promise<BuiltCa> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const extensions: x509.Extension[] = [await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)];
  if (options.ca !== undefined) extensions.push(new x509.BasicConstraintsExtension(options.ca, options.pathLength, true));
  if (options.keyUsage !== undefined) extensions.push(new x509.KeyUsagesExtension(options.keyUsage, true));
  const common = { subject: `CN=${options.commonName}`, notBefore: new Date(NOW.getTime() - DAY_MS), notAfter: options.notAfter ?? new Date(NOW.getTime() + 365 * DAY_MS), extensions, signingAlgorithm: algorithm };
  const cert =
    options.issuer === undefined
      ? await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: common.subject, keys })
      : await x509.X509CertificateGenerator.create({ ...common, issuer: options.issuer.cert.subjectName, publicKey: keys.publicKey, signingKey: options.issuer.key });
  return { cert, key: keys.privateKey, certPem: `${cert.toString('pem')}\n`, keyPem: await privateKeyToPem(keys.privateKey) };
}

const { keyCertSign, cRLSign, digitalSignature, keyEncipherment, keyAgreement } = x509.KeyUsageFlags;

describe('checkProvidedCa', () => {
  let root: CaMaterial;

  beforeAll(async () => {
    root = await createRootCa({ commonName: 'Provided Root', validitySeconds: 5 * 365 * 86_400, now: NOW });
  });

  it('accepts a root CA made by createRootCa', () => {
    // given / when / then
    expect(checkProvidedCa(root.certPem, root.keyPem, NOW)).toEqual({ errors: [], warnings: [] });
  });

  it('accepts a chain: intermediate first, then the root, with the intermediate key', async () => {
    // given
    const intermediate = await createIntermediateCa({ issuer: root, commonName: 'Provided Inter', validitySeconds: 365 * 86_400, now: NOW, keyAlgorithm: 'ecdsa-p256' });
    // when / then
    expect(checkProvidedCa(intermediate.chainPem, intermediate.keyPem, NOW)).toEqual({ errors: [], warnings: [] });
  });

  it('rejects a certificate without basicConstraints CA=TRUE', async () => {
    // given
    const notCa = await buildCa({ commonName: 'not-ca', ca: false, keyUsage: keyCertSign });
    const noConstraints = await buildCa({ commonName: 'no-bc', keyUsage: keyCertSign });
    // when / then
    expect(checkProvidedCa(notCa.certPem, notCa.keyPem, NOW).errors).toEqual([{ path: 'cert', message: 'certificate CN=not-ca is not a CA: basicConstraints CA=TRUE is required' }]);
    expect(checkProvidedCa(noConstraints.certPem, noConstraints.keyPem, NOW).errors).toEqual([{ path: 'cert', message: 'certificate CN=no-bc is not a CA: basicConstraints CA=TRUE is required' }]);
  });

  it('rejects a CA without keyUsage keyCertSign', async () => {
    // given
    const crlOnly = await buildCa({ commonName: 'crl-only', ca: true, keyUsage: cRLSign });
    const noKeyUsage = await buildCa({ commonName: 'no-ku', ca: true });
    // when / then
    expect(checkProvidedCa(crlOnly.certPem, crlOnly.keyPem, NOW).errors).toEqual([{ path: 'cert', message: 'certificate CN=crl-only has keyUsage cRLSign; keyUsage keyCertSign is required' }]);
    expect(checkProvidedCa(noKeyUsage.certPem, noKeyUsage.keyPem, NOW).errors).toEqual([{ path: 'cert', message: 'certificate CN=no-ku has no keyUsage extension; keyUsage keyCertSign is required' }]);
  });

  it('rejects a CA with keyUsage keyAgreement', async () => {
    // given
    const agreeing = await buildCa({ commonName: 'agree', ca: true, keyUsage: keyCertSign | keyAgreement });
    // when / then
    expect(checkProvidedCa(agreeing.certPem, agreeing.keyPem, NOW)).toEqual({
      errors: [{ path: 'cert', message: 'certificate CN=agree has keyUsage keyAgreement, which a CA must not have' }],
      warnings: [],
    });
  });

  it('warns that digitalSignature or keyEncipherment is not SPIFFE compliant', async () => {
    // given
    const signing = await buildCa({ commonName: 'ds', ca: true, keyUsage: keyCertSign | cRLSign | digitalSignature });
    const both = await buildCa({ commonName: 'ds-ke', ca: true, keyUsage: keyCertSign | digitalSignature | keyEncipherment });
    // when
    const result = checkProvidedCa(signing.certPem, signing.keyPem, NOW);
    // then
    expect(result).toEqual({
      errors: [],
      warnings: [{ path: 'cert', message: 'certificate CN=ds has keyUsage digitalSignature: not SPIFFE compliant (a signing CA should only have keyCertSign and cRLSign)' }],
    });
    expect(checkProvidedCa(both.certPem, both.keyPem, NOW).warnings[0]?.message).toContain('has keyUsage digitalSignature and keyEncipherment: not SPIFFE compliant');
  });

  it('does not hold the certificates above the signing CA to the SPIFFE usage rules', async () => {
    // given a root with digitalSignature, and a clean intermediate under it
    const upper = await buildCa({ commonName: 'upper', ca: true, keyUsage: keyCertSign | digitalSignature });
    const lower = await buildCa({ commonName: 'lower', ca: true, pathLength: 0, keyUsage: keyCertSign | cRLSign, issuer: upper });
    // when / then
    expect(checkProvidedCa(lower.certPem + upper.certPem, lower.keyPem, NOW)).toEqual({ errors: [], warnings: [] });
  });

  it('rejects a key that belongs to another certificate', async () => {
    // given
    const other = await buildCa({ commonName: 'other', ca: true, keyUsage: keyCertSign });
    // when / then
    expect(checkProvidedCa(root.certPem, other.keyPem, NOW).errors).toEqual([{ path: 'key', message: 'does not match the CA certificate CN=Provided Root (the first one in cert)' }]);
  });

  it('rejects the key of the root when the chain starts with the intermediate', async () => {
    // given
    const intermediate = await createIntermediateCa({ issuer: root, commonName: 'Inter', validitySeconds: 86_400, now: NOW, keyAlgorithm: 'ecdsa-p256' });
    // when / then
    expect(checkProvidedCa(intermediate.chainPem, root.keyPem, NOW).errors.map((e) => e.path)).toEqual(['key']);
  });

  it('rejects a chain in the wrong order', async () => {
    // given
    const intermediate = await createIntermediateCa({ issuer: root, commonName: 'Inter', validitySeconds: 86_400, now: NOW, keyAlgorithm: 'ecdsa-p256' });
    // when
    const { errors } = checkProvidedCa(root.certPem + intermediate.certPem, root.keyPem, NOW);
    // then
    expect(errors).toContainEqual({ path: 'cert[0]', message: 'is not signed by cert[1]; list the CA first, then each issuer in order up to the root' });
  });

  it('rejects a chain longer than a pathLen allows', async () => {
    // given root → inter (pathLen 0) → sub-CA: the intermediate may not have a CA below it
    const inter = await buildCa({ commonName: 'inter0', ca: true, pathLength: 0, keyUsage: keyCertSign, issuer: await buildCa({ commonName: 'r', ca: true, keyUsage: keyCertSign }) });
    const sub = await buildCa({ commonName: 'sub', ca: true, keyUsage: keyCertSign, issuer: inter });
    // when / then
    expect(checkProvidedCa(sub.certPem + inter.certPem, sub.keyPem, NOW).errors).toEqual([
      { path: 'cert[1]', message: 'certificate CN=inter0 has pathLen 0 but 1 CA certificate below it in the chain' },
    ]);
  });

  it('rejects an expired CA and warns about one that expires soon', async () => {
    // given
    const expiring = await buildCa({ commonName: 'soon', ca: true, keyUsage: keyCertSign, notAfter: new Date(NOW.getTime() + 20 * DAY_MS) });
    // when
    const soon = checkProvidedCa(expiring.certPem, expiring.keyPem, NOW);
    const late = checkProvidedCa(expiring.certPem, expiring.keyPem, new Date(NOW.getTime() + 21 * DAY_MS));
    // then
    expect(soon).toEqual({ errors: [], warnings: [{ path: 'cert', message: 'certificate CN=soon expires in 20 days, on 2030-01-21T00:00:00Z' }] });
    expect(late.errors).toEqual([{ path: 'cert', message: 'certificate CN=soon expired on 2030-01-21T00:00:00Z' }]);
  });

  it('rejects malformed PEM for the certificate or the key', () => {
    // given / when
    const result = checkProvidedCa('garbage', 'garbage', NOW);
    // then
    expect(result.errors).toEqual([
      { path: 'cert', message: 'no PEM certificate found (expected -----BEGIN CERTIFICATE-----)' },
      { path: 'key', message: 'no PEM private key found' },
    ]);
    for (const e of result.errors) expect(e.message).not.toContain('PRIVATE KEY');
  });
});

/**
 * Intermediate CAs for tests: a `provided` Mesh CA that is not a root, a chain for client
 * certificate checks, a CA switch to an intermediate. meshcp itself only makes roots and leaves
 * (src/ca/pki.ts), so this lives with the tests, built on the same primitives src signs with.
 *
 * The profile (test/ca/pki.test.ts checks it with openssl): CA:TRUE with pathlen 0 (it signs
 * leaves only), both critical; keyUsage keyCertSign and cRLSign, critical; a subject key
 * identifier; the authority key identifier is the issuer's subject key identifier; optional URI
 * SANs, not critical; valid from a minute before `now` (a peer's clock may be behind), never past
 * the issuer's own expiry.
 */
import { checkedIssuerChain, randomSerialHex, type CaMaterial } from '../../src/ca/pki.js';
import { generateKeyPair, importSigningKey, keySpec, privateKeyToPem, type KeyAlgorithm } from '../../src/ca/keys.js';
import { certificatesToPem } from '../../src/ca/pem.js';
import { x509 } from '../../src/ca/x509.js';

export interface IntermediateCaOptions {
  readonly issuer: CaMaterial;
  readonly commonName: string;
  readonly validitySeconds: number;
  readonly now?: Date;
  /** Default `rsa-2048`. */
  readonly keyAlgorithm?: KeyAlgorithm;
  readonly uris?: readonly string[];
}

export interface IntermediateCa extends CaMaterial {
  /** The intermediate first, then the issuer's certificates: the format of a `provided` Mesh CA (SPEC §1 Mesh). */
  readonly chainPem: string;
}

const BACKDATE_MS = 60_000;

/** An intermediate CA (pathlen 0: it signs leaves only), signed by `issuer`. */
export async function createIntermediateCa(options: IntermediateCaOptions): Promise<IntermediateCa> {
  const { commonName, validitySeconds, now = new Date(), keyAlgorithm = 'rsa-2048', uris = [] } = options;
  if (!Number.isFinite(validitySeconds) || validitySeconds <= 0) throw new Error(`validity must be a positive duration, got ${validitySeconds}s`);
  const { chain, first, notAfter: issuerNotAfter } = checkedIssuerChain(options.issuer);
  const issuerCert = new x509.X509Certificate(first.raw);
  const signingKey = await importSigningKey(options.issuer.keyPem);
  const keys = await generateKeyPair(keySpec(keyAlgorithm));

  // X.509 times have one-second precision.
  const start = Math.floor(now.getTime() / 1000) * 1000;
  const requestedEnd = new Date(start + Math.floor(validitySeconds) * 1000);
  const issuerSki = issuerCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: new x509.Name([{ CN: [commonName] }]),
    issuer: issuerCert.subjectName,
    notBefore: new Date(start - BACKDATE_MS),
    notAfter: requestedEnd.getTime() > issuerNotAfter.getTime() ? issuerNotAfter : requestedEnd,
    publicKey: keys.publicKey,
    signingKey: signingKey.privateKey,
    signingAlgorithm: signingKey.algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...(uris.length > 0 ? [new x509.SubjectAlternativeNameExtension(uris.map((value) => ({ type: 'url' as const, value })), false)] : []),
      issuerSki !== null ? new x509.AuthorityKeyIdentifierExtension(issuerSki.keyId) : await x509.AuthorityKeyIdentifierExtension.create(issuerCert.publicKey),
    ],
  });
  const certPem = `${cert.toString('pem')}\n`;
  return { certPem, keyPem: await privateKeyToPem(keys.privateKey), chainPem: certPem + certificatesToPem(chain) };
}

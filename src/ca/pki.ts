/**
 * Building certificates: self-signed root CAs and leaf certificates (server, client, or SPIFFE
 * X509-SVID workload certificates). Profiles follow RFC 5280 and the SPIFFE
 * X509-SVID spec (https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md).
 *
 * Time is always injected (`now`), so rotation and expiry are testable without waiting.
 */
import crypto from 'node:crypto';
import { x509 } from './x509.js';
import { certificateInfo, isSelfSigned } from './cert-info.js';
import { generateKeyPair, importSigningKey, keySpec, privateKeyToPem, type KeyAlgorithm, type KeySpec } from './keys.js';
import { certificatesToPem, keyMatchesCertificate, parseCertificates } from './pem.js';

export { certificateInfo, describeCertificate, isoSeconds, type CertificateInfo, type KeyUsageName } from './cert-info.js';
export type { KeyAlgorithm } from './keys.js';
export { fingerprintSha256, keyMatchesCertificate, parseCertificates, parsePrivateKey, PemError } from './pem.js';

/** Certificates made elsewhere may reach a peer whose clock is slightly behind ours. */
const BACKDATE_MS = 60_000;

/** A CA that can sign: `certPem` starts with the CA's own certificate, optionally followed by its issuers up to the root. */
export interface CaMaterial {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface CreateRootCaOptions {
  readonly commonName: string;
  /** Default 2048. */
  readonly rsaBits?: number;
  /** Default `rsa` (with `rsaBits`); `ecdsa-p256` signs an order of magnitude faster (Mesh `caCert.keyType: ECDSA`). */
  readonly keyType?: 'rsa' | 'ecdsa-p256';
  readonly validitySeconds: number;
  readonly now?: Date;
  /** URI SANs, e.g. the SPIFFE trust domain `spiffe://default`. */
  readonly uris?: readonly string[];
}

/**
 * - `server`: serverAuth; `client`: clientAuth; `both`: serverAuth and clientAuth.
 * - `workload`: a SPIFFE X509-SVID: serverAuth and clientAuth, at least one `spiffe://` URI SAN, CN optional.
 */
export type CertificateUsage = 'client' | 'server' | 'both' | 'workload';

export interface IssueCertificateOptions {
  readonly issuer: CaMaterial;
  readonly commonName?: string;
  /** The subject's O, before the CN (as `O=Acme, CN=client`); none by default. */
  readonly organization?: string;
  readonly dnsNames?: readonly string[];
  readonly uris?: readonly string[];
  /** IP address SANs, e.g. `127.0.0.1` for a server reached by address. */
  readonly ipAddresses?: readonly string[];
  /** Email (rfc822Name) SANs, as cert-manager's `emailAddresses` puts in client certificates. */
  readonly emails?: readonly string[];
  readonly usage: CertificateUsage;
  readonly validitySeconds: number;
  readonly now?: Date;
  /** Default `ecdsa-p256`. */
  readonly keyAlgorithm?: KeyAlgorithm;
}

export interface IssuedCertificate {
  /** The leaf certificate alone. */
  readonly certPem: string;
  /**
   * The leaf, then the issuer's certificates that are not self-signed (the intermediates): what a
   * `tls` secret holds and what a server presents. Roots are left out; peers must already trust them.
   */
  readonly chainPem: string;
  /** Unencrypted PKCS#8 PEM. */
  readonly keyPem: string;
  /** Lowercase hex. */
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** 128 random bits with the top bit clear: a positive DER INTEGER of exactly 16 bytes (CA/B BR 7.1 asks for 64+ random bits). */
export function randomSerialHex(): string {
  const bytes = crypto.randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f || 0x01;
  return bytes.toString('hex');
}

function validityWindow(now: Date, validitySeconds: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isFinite(validitySeconds) || validitySeconds <= 0) throw new Error(`validity must be a positive duration, got ${validitySeconds}s`);
  // X.509 times have one-second precision.
  const start = Math.floor(now.getTime() / 1000) * 1000;
  return { notBefore: new Date(start - BACKDATE_MS), notAfter: new Date(start + Math.floor(validitySeconds) * 1000) };
}

function subjectName(commonName: string | undefined, organization?: string): x509.Name {
  return new x509.Name([
    ...(organization !== undefined && organization !== '' ? [{ O: [organization] }] : []),
    ...(commonName !== undefined && commonName !== '' ? [{ CN: [commonName] }] : []),
  ]);
}

function sanExtension(dnsNames: readonly string[], uris: readonly string[], critical: boolean, ipAddresses: readonly string[] = [], emails: readonly string[] = []): x509.Extension[] {
  if (dnsNames.length === 0 && uris.length === 0 && ipAddresses.length === 0 && emails.length === 0) return [];
  const names: x509.JsonGeneralNames = [
    ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
    ...emails.map((value) => ({ type: 'email' as const, value })),
    ...uris.map((value) => ({ type: 'url' as const, value })),
  ];
  return [new x509.SubjectAlternativeNameExtension(names, critical)];
}

interface LoadedIssuer {
  readonly cert: x509.X509Certificate;
  readonly chain: readonly crypto.X509Certificate[];
  readonly signingKey: Awaited<ReturnType<typeof importSigningKey>>;
  readonly notAfter: Date;
}

/**
 * The issuer's chain, checked: its first certificate must be a CA that may sign certificates,
 * and the key must be that certificate's. Shared with the fast SVID path (svid.ts).
 */
export function checkedIssuerChain(issuer: CaMaterial): { readonly chain: crypto.X509Certificate[]; readonly first: crypto.X509Certificate; readonly notAfter: Date } {
  const chain = parseCertificates(issuer.certPem);
  const [first] = chain;
  if (first === undefined) throw new Error('issuer: no certificate');
  const info = certificateInfo(first);
  if (!info.isCa) throw new Error(`issuer certificate ${info.subject} is not a CA (basicConstraints CA:TRUE is missing)`);
  if (info.hasKeyUsage && !info.keyUsages.includes('keyCertSign')) throw new Error(`issuer certificate ${info.subject} lacks keyUsage keyCertSign`);
  if (!keyMatchesCertificate(issuer.keyPem, first)) throw new Error(`issuer key does not match the issuer certificate ${info.subject}`);
  return { chain, first, notAfter: info.notAfter };
}

async function loadIssuer(issuer: CaMaterial): Promise<LoadedIssuer> {
  const { chain, first, notAfter } = checkedIssuerChain(issuer);
  return { cert: new x509.X509Certificate(first.raw), chain, signingKey: await importSigningKey(issuer.keyPem), notAfter };
}

/** RFC 5280 §4.2.1.1: the authority key identifier is the issuer's subject key identifier. */
async function authorityKeyIdentifier(issuer: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski !== null) return new x509.AuthorityKeyIdentifierExtension(ski.keyId);
  return x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey);
}

interface SignedCertificate {
  readonly cert: x509.X509Certificate;
  readonly keyPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serialHex: string;
}

/** Signs a new key pair's certificate with `issuer`; its lifetime is capped at the issuer's own expiry. */
async function signWithIssuer(
  issuer: LoadedIssuer,
  spec: KeySpec,
  subject: x509.Name,
  now: Date,
  validitySeconds: number,
  extensions: (publicKey: CryptoKey) => Promise<x509.Extension[]>,
): Promise<SignedCertificate> {
  const keys = await generateKeyPair(spec);
  const window = validityWindow(now, validitySeconds);
  const notAfter = window.notAfter.getTime() > issuer.notAfter.getTime() ? issuer.notAfter : window.notAfter;
  const serialHex = randomSerialHex();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialHex,
    subject,
    issuer: issuer.cert.subjectName,
    notBefore: window.notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: issuer.signingKey.privateKey,
    signingAlgorithm: issuer.signingKey.algorithm,
    extensions: [...(await extensions(keys.publicKey)), await authorityKeyIdentifier(issuer.cert)],
  });
  return { cert, keyPem: await privateKeyToPem(keys.privateKey), notBefore: window.notBefore, notAfter, serialHex };
}

const CA_KEY_USAGE = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;

/**
 * A self-signed root CA: RSA as Kuma's builtin backend makes (SPEC §1 Mesh `caCert.RSAbits`), or
 * ECDSA P-256 (`caCert.keyType: ECDSA`).
 */
export async function createRootCa(options: CreateRootCaOptions): Promise<CaMaterial> {
  const { commonName, rsaBits = 2048, keyType = 'rsa', validitySeconds, now = new Date(), uris = [] } = options;
  if (keyType === 'rsa' && ![2048, 3072, 4096].includes(rsaBits)) throw new Error(`RSA key size must be 2048, 3072 or 4096, got ${rsaBits}`);
  const keys = await generateKeyPair(keyType === 'ecdsa-p256' ? { kind: 'ecdsa-p256' } : { kind: 'rsa', bits: rsaBits });
  const { notBefore, notAfter } = validityWindow(now, validitySeconds);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: subjectName(commonName),
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: keyType === 'ecdsa-p256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(CA_KEY_USAGE, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...sanExtension([], uris, false),
    ],
  });
  return { certPem: `${cert.toString('pem')}\n`, keyPem: await privateKeyToPem(keys.privateKey) };
}

function extendedKeyUsages(usage: CertificateUsage): string[] {
  const { serverAuth, clientAuth } = x509.ExtendedKeyUsage;
  if (usage === 'server') return [serverAuth];
  if (usage === 'client') return [clientAuth];
  return [serverAuth, clientAuth];
}

/** A leaf certificate and a fresh key, signed by `issuer`. */
export async function issueCertificate(options: IssueCertificateOptions): Promise<IssuedCertificate> {
  const { commonName, organization, dnsNames = [], uris = [], ipAddresses = [], emails = [], usage, validitySeconds, now = new Date(), keyAlgorithm = 'ecdsa-p256' } = options;
  if (usage === 'workload') {
    if (uris.length === 0) throw new Error('a workload certificate needs at least one spiffe:// URI SAN');
    const bad = uris.find((u) => !u.startsWith('spiffe://'));
    if (bad !== undefined) throw new Error(`workload URI SAN ${JSON.stringify(bad)} is not a spiffe:// ID`);
  } else if ((commonName ?? '') === '' && dnsNames.length === 0 && uris.length === 0 && ipAddresses.length === 0 && emails.length === 0) {
    throw new Error('a certificate needs a common name or at least one DNS, IP, URI or email SAN');
  }
  const issuer = await loadIssuer(options.issuer);
  const spec = keySpec(keyAlgorithm);
  const hasSubject = (commonName ?? '') !== '';
  // RFC 5280 §4.2.1.6: with an empty subject, the SAN extension must be critical.
  const signed = await signWithIssuer(issuer, spec, subjectName(commonName, organization), now, validitySeconds, async (publicKey) => [
    new x509.BasicConstraintsExtension(false, undefined, true),
    // keyEncipherment only means something for RSA key transport (RFC 5246 §7.4.7.1).
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | (spec.kind === 'rsa' ? x509.KeyUsageFlags.keyEncipherment : 0), true),
    new x509.ExtendedKeyUsageExtension(extendedKeyUsages(usage), false),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ...sanExtension(dnsNames, uris, !hasSubject, ipAddresses, emails),
  ]);
  const certPem = `${signed.cert.toString('pem')}\n`;
  const intermediates = issuer.chain.filter((c) => !isSelfSigned(c));
  return {
    certPem,
    chainPem: certPem + certificatesToPem(intermediates),
    keyPem: signed.keyPem,
    serialHex: signed.serialHex,
    notBefore: signed.notBefore,
    notAfter: signed.notAfter,
  };
}

/** What a certificate says about itself, read from its extensions (subject, SANs, CA flag, usages, validity). */
import crypto from 'node:crypto';
import { x509 } from './x509.js';
import { parseCertificates, PemError } from './pem.js';

export type KeyUsageName =
  | 'digitalSignature'
  | 'nonRepudiation'
  | 'keyEncipherment'
  | 'dataEncipherment'
  | 'keyAgreement'
  | 'keyCertSign'
  | 'cRLSign'
  | 'encipherOnly'
  | 'decipherOnly';

const KEY_USAGE_FLAGS: readonly (readonly [KeyUsageName, x509.KeyUsageFlags])[] = [
  ['digitalSignature', x509.KeyUsageFlags.digitalSignature],
  ['nonRepudiation', x509.KeyUsageFlags.nonRepudiation],
  ['keyEncipherment', x509.KeyUsageFlags.keyEncipherment],
  ['dataEncipherment', x509.KeyUsageFlags.dataEncipherment],
  ['keyAgreement', x509.KeyUsageFlags.keyAgreement],
  ['keyCertSign', x509.KeyUsageFlags.keyCertSign],
  ['cRLSign', x509.KeyUsageFlags.cRLSign],
  ['encipherOnly', x509.KeyUsageFlags.encipherOnly],
  ['decipherOnly', x509.KeyUsageFlags.decipherOnly],
];

const EXTENDED_KEY_USAGE_NAMES: Readonly<Record<string, string>> = {
  [x509.ExtendedKeyUsage.serverAuth]: 'serverAuth',
  [x509.ExtendedKeyUsage.clientAuth]: 'clientAuth',
  [x509.ExtendedKeyUsage.codeSigning]: 'codeSigning',
  [x509.ExtendedKeyUsage.emailProtection]: 'emailProtection',
  [x509.ExtendedKeyUsage.timeStamping]: 'timeStamping',
  [x509.ExtendedKeyUsage.ocspSigning]: 'ocspSigning',
};

export interface CertificateInfo {
  /** RFC 4514 style, most significant last as OpenSSL prints it with `-nameopt RFC2253`, e.g. `CN=client.acme.org, O=Acme`. */
  readonly subject: string;
  readonly issuer: string;
  readonly commonName?: string;
  readonly dnsNames: readonly string[];
  readonly uris: readonly string[];
  /** Lowercase hex of the serial number bytes, without the 00 sign byte DER adds (as `serialHex` of an issued certificate). */
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** basicConstraints CA=TRUE. */
  readonly isCa: boolean;
  /** basicConstraints pathLenConstraint, when set. */
  readonly pathLength?: number;
  /** Whether the certificate has a keyUsage extension at all (absent means "any usage" in RFC 5280). */
  readonly hasKeyUsage: boolean;
  /** Empty when the extension is absent. */
  readonly keyUsages: readonly KeyUsageName[];
  /** Names (`serverAuth`, `clientAuth`, …) or the OID for others; empty when the extension is absent. */
  readonly extendedKeyUsages: readonly string[];
  /** Same issuer and subject, and the certificate's signature verifies with its own key. */
  readonly selfSigned: boolean;
  /** See {@link fingerprintSha256} in pem.ts: uppercase colon-separated hex. */
  readonly fingerprintSha256: string;
}

/** A short label for messages: `CN=…` when there is a CN, else the whole subject, else the first SAN. */
export function describeCertificate(info: Pick<CertificateInfo, 'subject' | 'commonName' | 'dnsNames' | 'uris'>): string {
  if (info.commonName !== undefined) return `CN=${info.commonName}`;
  if (info.subject !== '') return info.subject;
  const san = info.uris[0] ?? info.dnsNames[0];
  return san !== undefined ? `SAN ${san}` : '(empty subject)';
}

function subjectAltNames(cert: x509.X509Certificate, node: crypto.X509Certificate): { dnsNames: string[]; uris: string[] } {
  try {
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    const names = san?.names.items ?? [];
    return { dnsNames: names.filter((n) => n.type === 'dns').map((n) => n.value), uris: names.filter((n) => n.type === 'url').map((n) => n.value) };
  } catch {
    // @peculiar/x509 refuses some otherName forms; Node's text form still lists DNS and URI entries.
    const entries = (node.subjectAltName ?? '').split(/,\s*/);
    const pick = (prefix: string): string[] => entries.filter((e) => e.startsWith(prefix)).map((e) => e.slice(prefix.length).replace(/^"|"$/g, ''));
    return { dnsNames: pick('DNS:'), uris: pick('URI:') };
  }
}

/** Issuer and subject are the same and the signature verifies with the certificate's own key. */
export function isSelfSigned(node: crypto.X509Certificate): boolean {
  if (node.subject !== node.issuer) return false;
  try {
    return node.verify(node.publicKey);
  } catch {
    return false;
  }
}

/** Reads a certificate (the first one when given PEM with several). Throws PemError on malformed PEM. */
export function certificateInfo(cert: string | crypto.X509Certificate): CertificateInfo {
  const node = typeof cert === 'string' ? parseCertificates(cert)[0] : cert;
  if (node === undefined) throw new PemError('certificate: no PEM certificate found');
  const parsed = new x509.X509Certificate(node.raw);
  const basic = parsed.getExtension(x509.BasicConstraintsExtension);
  const keyUsage = parsed.getExtension(x509.KeyUsagesExtension);
  const extendedKeyUsage = parsed.getExtension(x509.ExtendedKeyUsageExtension);
  const commonName = parsed.subjectName.getField('CN')[0];
  return {
    subject: parsed.subject,
    issuer: parsed.issuer,
    ...(commonName !== undefined ? { commonName } : {}),
    ...subjectAltNames(parsed, node),
    serialHex: parsed.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, ''),
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
    isCa: basic?.ca ?? false,
    ...(basic?.pathLength !== undefined ? { pathLength: basic.pathLength } : {}),
    hasKeyUsage: keyUsage !== null,
    keyUsages: keyUsage === null ? [] : KEY_USAGE_FLAGS.filter(([, flag]) => (keyUsage.usages & flag) !== 0).map(([name]) => name),
    extendedKeyUsages: [...(extendedKeyUsage?.usages ?? [])].map((u) => {
      const oid = typeof u === 'string' ? u : String(u);
      return EXTENDED_KEY_USAGE_NAMES[oid] ?? oid;
    }),
    selfSigned: isSelfSigned(node),
    fingerprintSha256: node.fingerprint256,
  };
}

/** ISO 8601 to the second (certificates carry no milliseconds). */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

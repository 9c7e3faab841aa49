/**
 * What SPEC §1 Secret checks when a secret is applied: the PEM parses, the key matches the
 * (first) certificate, no certificate is expired or not yet valid, every certificate of a
 * `tls-ca` is a CA; and a warning for a certificate that expires within 30 days.
 *
 * Paths: `cert` when the secret holds one certificate, `cert[i]` (0-based) when it holds
 * several, `key` for the private key. Messages are one line and never quote PEM text.
 */
import type crypto from 'node:crypto';
import type { SecretResource } from '../api/types.js';
import { certificateInfo, describeCertificate, isoSeconds, type CertificateInfo } from './cert-info.js';
import { decodeCertificates, decodePrivateKey, keyMatchesCertificate } from './pem.js';
import { checkValidityPeriod, daysUntil } from './validity.js';

export interface MaterialIssue {
  readonly path: string;
  readonly message: string;
}

export interface SecretSummary {
  readonly secretType: SecretResource['secretType'];
  readonly certificates: number;
  readonly subject: string;
  readonly fingerprintSha256: string;
  /** ISO 8601 */
  readonly notAfter: string;
  readonly expiresInDays: number;
}

/** `cert` for a single certificate, `cert[i]` within a bundle or chain. */
export function certificatePath(index: number, count: number, field = 'cert'): string {
  return count === 1 ? field : `${field}[${index}]`;
}

function signs(issuer: crypto.X509Certificate, subject: crypto.X509Certificate): boolean {
  try {
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

interface ReadCertificates {
  readonly certs: readonly crypto.X509Certificate[];
  readonly infos: readonly CertificateInfo[];
}

/** Decodes and reads every certificate; reports the first malformed block. */
export function readCertificates(pem: string, errors: MaterialIssue[], field = 'cert'): ReadCertificates | undefined {
  const decoded = decodeCertificates(pem);
  if (!decoded.ok) {
    const { index, message } = decoded.problem;
    const blocks = pem.match(/-----BEGIN /g)?.length ?? 0;
    errors.push({ path: index !== undefined && blocks > 1 ? `${field}[${index}]` : field, message });
    return undefined;
  }
  const infos: CertificateInfo[] = [];
  for (const [i, cert] of decoded.value.entries()) {
    try {
      infos.push(certificateInfo(cert));
    } catch {
      errors.push({ path: certificatePath(i, decoded.value.length, field), message: 'has extensions that cannot be decoded' });
      return undefined;
    }
  }
  return { certs: decoded.value, infos };
}

function checkKey(secret: SecretResource, first: crypto.X509Certificate | undefined, errors: MaterialIssue[]): void {
  if (secret.key === undefined || secret.key.trim() === '') {
    errors.push({ path: 'key', message: 'a tls secret needs the private key of its certificate' });
    return;
  }
  const key = decodePrivateKey(secret.key);
  if (!key.ok) {
    errors.push({ path: 'key', message: key.problem.message });
    return;
  }
  if (first !== undefined && !keyMatchesCertificate(key.value, first)) {
    errors.push({ path: 'key', message: `does not match the certificate ${describeCertificate(certificateInfo(first))} (the first one in cert)` });
  }
}

export function checkSecretMaterial(secret: SecretResource, now: Date = new Date()): { errors: MaterialIssue[]; warnings: MaterialIssue[] } {
  const errors: MaterialIssue[] = [];
  const warnings: MaterialIssue[] = [];
  const read = readCertificates(secret.cert, errors);
  if (secret.secretType === 'tls') checkKey(secret, read?.certs[0], errors);
  if (read === undefined) return { errors, warnings };
  const { certs, infos } = read;
  for (const [i, info] of infos.entries()) {
    const path = certificatePath(i, infos.length);
    const validity = checkValidityPeriod(info, now);
    if (validity !== undefined) (validity.severity === 'error' ? errors : warnings).push({ path, message: validity.message });
    if (secret.secretType === 'tls-ca') {
      if (!info.isCa) {
        errors.push({ path, message: `certificate ${describeCertificate(info)} is not a CA (basicConstraints CA:TRUE is missing); a tls-ca secret holds CA certificates only` });
      } else if (info.hasKeyUsage && !info.keyUsages.includes('keyCertSign')) {
        errors.push({ path, message: `CA certificate ${describeCertificate(info)} lacks keyUsage keyCertSign, so no certificate it signed can be verified` });
      }
    }
  }
  if (secret.secretType === 'tls') {
    // A `tls` secret is served as is: leaf first, then each issuer (SPEC §1). Envoy does not reorder.
    for (let i = 1; i < certs.length; i++) {
      const issuer = certs[i];
      const subject = certs[i - 1];
      if (issuer !== undefined && subject !== undefined && !signs(issuer, subject)) {
        warnings.push({ path: `cert[${i}]`, message: `did not issue cert[${i - 1}]; list the leaf certificate first, then each issuer in order` });
      }
    }
  }
  return { errors, warnings };
}

/**
 * What `get` shows for a secret: count, subject, SHA-256 fingerprint and expiry of the first
 * certificate (the leaf of a `tls` secret, the first CA of a `tls-ca` bundle). Never the key.
 * Undefined when the certificate PEM cannot be parsed.
 */
export function summarizeSecret(secret: SecretResource, now: Date = new Date()): SecretSummary | undefined {
  const read = readCertificates(secret.cert, []);
  const first = read?.infos[0];
  if (read === undefined || first === undefined) return undefined;
  return {
    secretType: secret.secretType,
    certificates: read.certs.length,
    subject: first.subject !== '' ? first.subject : describeCertificate(first),
    fingerprintSha256: first.fingerprintSha256,
    notAfter: isoSeconds(first.notAfter),
    expiresInDays: daysUntil(first.notAfter, now),
  };
}

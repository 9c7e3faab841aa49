/**
 * Checks for a user-provided mesh CA (SPEC §1 Mesh `provided`, Kuma's provided CA rules):
 * the cert may be a chain, the CA (intermediate) first, then its issuers up to the root; the key
 * belongs to the first certificate.
 *
 * Errors: malformed PEM; key that does not match the first certificate; a certificate without
 * basicConstraints CA=TRUE or keyUsage keyCertSign; keyAgreement on the signing CA; a chain link
 * not signed by the next certificate; a pathLen that the chain below it exceeds; an expired or
 * not-yet-valid certificate. Warnings: digitalSignature or keyEncipherment on the signing CA (not
 * SPIFFE compliant); expiry within 30 days.
 *
 * The usage rules that make a CA SPIFFE compliant apply to the first certificate, the one that
 * signs workload certificates. The certificates above it only need to be valid CAs: many public
 * and corporate roots carry digitalSignature, and warning about them would be noise.
 */
import type crypto from 'node:crypto';
import { describeCertificate, type CertificateInfo } from './cert-info.js';
import { decodePrivateKey, keyMatchesCertificate } from './pem.js';
import { certificatePath, readCertificates, type MaterialIssue } from './secret-material.js';
import { checkValidityPeriod } from './validity.js';

export interface CaCheckResult {
  readonly errors: MaterialIssue[];
  readonly warnings: MaterialIssue[];
}

function signedBy(subject: crypto.X509Certificate, issuer: crypto.X509Certificate): boolean {
  try {
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function checkCaUsage(info: CertificateInfo, signing: boolean, path: string, errors: MaterialIssue[], warnings: MaterialIssue[]): void {
  const who = `certificate ${describeCertificate(info)}`;
  if (!info.isCa) errors.push({ path, message: `${who} is not a CA: basicConstraints CA=TRUE is required` });
  if (!info.keyUsages.includes('keyCertSign')) {
    const detail = info.hasKeyUsage ? `has keyUsage ${info.keyUsages.join(', ') || '(none)'}` : 'has no keyUsage extension';
    errors.push({ path, message: `${who} ${detail}; keyUsage keyCertSign is required` });
  }
  if (!signing) return;
  if (info.keyUsages.includes('keyAgreement')) errors.push({ path, message: `${who} has keyUsage keyAgreement, which a CA must not have` });
  const leafUsages = info.keyUsages.filter((u) => u === 'digitalSignature' || u === 'keyEncipherment');
  if (leafUsages.length > 0) {
    warnings.push({ path, message: `${who} has keyUsage ${leafUsages.join(' and ')}: not SPIFFE compliant (a signing CA should only have keyCertSign and cRLSign)` });
  }
}

/** Checks a provided CA: `chainPem` (CA first, then up to the root) and the CA's private key. */
export function checkProvidedCa(chainPem: string, keyPem: string, now: Date = new Date()): CaCheckResult {
  const errors: MaterialIssue[] = [];
  const warnings: MaterialIssue[] = [];
  const read = readCertificates(chainPem, errors);
  const key = decodePrivateKey(keyPem);
  if (!key.ok) errors.push({ path: 'key', message: key.problem.message });
  if (read === undefined) return { errors, warnings };
  const { certs, infos } = read;
  const [first] = certs;
  const [firstInfo] = infos;
  if (key.ok && first !== undefined && firstInfo !== undefined && !keyMatchesCertificate(key.value, first)) {
    errors.push({ path: 'key', message: `does not match the CA certificate ${describeCertificate(firstInfo)} (the first one in cert)` });
  }
  for (const [i, info] of infos.entries()) {
    const path = certificatePath(i, infos.length);
    checkCaUsage(info, i === 0, path, errors, warnings);
    const validity = checkValidityPeriod(info, now);
    if (validity !== undefined) (validity.severity === 'error' ? errors : warnings).push({ path, message: validity.message });
    // RFC 5280 §4.2.1.9: pathLen counts the CA certificates below this one in the chain.
    if (info.pathLength !== undefined && info.pathLength < i) {
      errors.push({ path, message: `certificate ${describeCertificate(info)} has pathLen ${info.pathLength} but ${i} CA certificate${i === 1 ? '' : 's'} below it in the chain` });
    }
    const subject = certs[i];
    const issuer = certs[i + 1];
    if (subject !== undefined && issuer !== undefined && !signedBy(subject, issuer)) {
      errors.push({ path, message: `is not signed by cert[${i + 1}]; list the CA first, then each issuer in order up to the root` });
    }
  }
  return { errors, warnings };
}

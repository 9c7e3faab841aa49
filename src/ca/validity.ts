/** Validity-period checks shared by secret and CA checks. */
import { describeCertificate, isoSeconds, type CertificateInfo } from './cert-info.js';

/** SPEC §1 Secret: a certificate that expires within 30 days gives a warning. */
export const EXPIRY_WARNING_DAYS = 30;

/**
 * Certificates made on another machine are often stamped with that machine's "now"; a clock a
 * little behind ours must not make them "not yet valid". Five minutes is the skew Kerberos and
 * most TLS stacks tolerate.
 */
export const CLOCK_SKEW_MS = 5 * 60_000;

const DAY_MS = 86_400_000;

export type ValidityProblem = { readonly severity: 'error' | 'warning'; readonly message: string };

/** Whole days until `notAfter` (negative once expired). */
export function daysUntil(notAfter: Date, now: Date): number {
  return Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
}

export function checkValidityPeriod(info: CertificateInfo, now: Date): ValidityProblem | undefined {
  const who = `certificate ${describeCertificate(info)}`;
  if (info.notAfter.getTime() <= now.getTime()) return { severity: 'error', message: `${who} expired on ${isoSeconds(info.notAfter)}` };
  if (info.notBefore.getTime() > now.getTime() + CLOCK_SKEW_MS) return { severity: 'error', message: `${who} is not valid until ${isoSeconds(info.notBefore)}` };
  const days = daysUntil(info.notAfter, now);
  if (days < EXPIRY_WARNING_DAYS) {
    const within = days < 1 ? 'within a day' : `in ${days} day${days === 1 ? '' : 's'}`;
    return { severity: 'warning', message: `${who} expires ${within}, on ${isoSeconds(info.notAfter)}` };
  }
  return undefined;
}

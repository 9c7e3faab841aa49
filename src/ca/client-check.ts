/**
 * Would a gateway admit this client certificate on this route? The same semantics the gateway
 * enforces (SPEC §1 Route): the chain must lead to the route's client CA, then any subject
 * matcher must hit the CN or one DNS SAN. The matcher code is `src/api/subject-match.ts`, the
 * reference the generated RBAC patterns are property-tested against, so `meshcp cert check`
 * and the Envoy config cannot drift apart.
 */
import crypto from 'node:crypto';
import { describeMatcher, subjectMatcherHits } from '../api/subject-match.js';
import type { RouteResource } from '../api/types.js';
import { certificateInfo } from './cert-info.js';
import { parseCertificates } from './pem.js';

export interface RouteVerdict {
  readonly route: string;
  readonly host: string;
  readonly admitted: boolean;
  /** One line: why. */
  readonly reason: string;
}

function validAt(cert: crypto.X509Certificate, now: Date): string | undefined {
  if (now < new Date(cert.validFrom)) return `not valid before ${new Date(cert.validFrom).toISOString()}`;
  if (now > new Date(cert.validTo)) return `expired ${new Date(cert.validTo).toISOString()}`;
  return undefined;
}

/** Walks leaf → intermediates (from the client's file) → one of the trusted CAs. */
function chainProblem(presented: readonly crypto.X509Certificate[], trusted: readonly crypto.X509Certificate[], now: Date): string | undefined {
  const [leaf, ...intermediates] = presented;
  if (!leaf) return 'no certificate';
  let current = leaf;
  const seen = new Set<string>();
  for (;;) {
    const expiry = validAt(current, now);
    if (expiry) return `${current === leaf ? 'certificate' : `intermediate "${current.subject}"`} ${expiry}`;
    const anchor = trusted.find((ca) => current.checkIssued(ca) && current.verify(ca.publicKey));
    if (anchor) {
      const anchorExpiry = validAt(anchor, now);
      return anchorExpiry ? `client CA "${anchor.subject}" ${anchorExpiry}` : undefined;
    }
    const next = intermediates.find((c) => !seen.has(c.fingerprint256) && current.checkIssued(c) && current.verify(c.publicKey) && c.ca);
    if (!next) return `issuer "${current.issuer.replace(/\n/g, ', ')}" is not the route's client CA`;
    seen.add(next.fingerprint256);
    current = next;
  }
}

export function checkClientCertificate(clientPem: string, route: RouteResource, clientCaPem: string | undefined, now: Date = new Date()): RouteVerdict {
  const base = { route: route.name, host: route.host };
  if (!route.tls?.clientValidationCa) return { ...base, admitted: true, reason: 'no client certificate is requested (the route has no clientValidationCa)' };
  if (clientCaPem === undefined) return { ...base, admitted: false, reason: `client CA secret "${route.tls.clientValidationCa.name}" not found: the gateway serves no filter chain for this host` };
  const presented = parseCertificates(clientPem);
  const problem = chainProblem(presented, parseCertificates(clientCaPem), now);
  if (problem) return { ...base, admitted: false, reason: `TLS handshake fails: ${problem}` };
  const matchers = route.validation?.clientCertificate?.subjectMatches ?? [];
  const info = certificateInfo(presented[0]!);
  if (matchers.length === 0) return { ...base, admitted: true, reason: `chain verifies to "${route.tls.clientValidationCa.name}"; the route has no subject matchers` };
  const candidates = [...(info.commonName !== undefined ? [{ what: 'CN', value: info.commonName }] : []), ...info.dnsNames.map((d) => ({ what: 'DNS SAN', value: d }))];
  for (const [index, matcher] of matchers.entries()) {
    const hit = candidates.find((c) => subjectMatcherHits(matcher, c.value));
    if (hit) return { ...base, admitted: true, reason: `subjectMatches[${index}] (${describeMatcher(matcher)}) hit the ${hit.what} "${hit.value}"` };
  }
  const seen = candidates.length > 0 ? candidates.map((c) => `${c.what} "${c.value}"`).join(', ') : 'no CN and no DNS SAN';
  return { ...base, admitted: false, reason: `HTTP 403: none of ${matchers.length} subject matcher(s) hit ${seen}` };
}

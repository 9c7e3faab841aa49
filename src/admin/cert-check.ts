/**
 * `POST /api/cert-check` (SPEC §3 `meshcp cert check`): would the gateways admit this client
 * certificate? Every served Route (or the named one) is evaluated with the same code the CLI
 * documents (ca/client-check.ts), against the route's client CA Secret as it is being served.
 */
import type { Resource, RouteResource } from '../api/types.js';
import { checkClientCertificate, type RouteVerdict } from '../ca/client-check.js';
import { parseCertificates } from '../ca/pem.js';

export interface CertCheckRequest {
  readonly cert: string;
  readonly route?: string;
  readonly mesh?: string;
}

export interface CertCheckVerdict extends RouteVerdict {
  readonly mesh: string;
  readonly gateway?: string;
  readonly clientCaSecret?: string;
}

export type CertCheckResult = { ok: true; items: CertCheckVerdict[] } | { ok: false; status: 400 | 404; error: string };

export function checkCertificateAgainstRoutes(resources: readonly Resource[], request: CertCheckRequest, now: Date = new Date()): CertCheckResult {
  let certificates: unknown[];
  try {
    certificates = parseCertificates(request.cert);
  } catch (err) {
    return { ok: false, status: 400, error: `cert: ${(err as Error).message}` };
  }
  if (certificates.length === 0) return { ok: false, status: 400, error: 'cert: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)' };
  const routes = resources.filter(
    (r): r is RouteResource => r.type === 'Route' && (request.mesh === undefined || r.mesh === request.mesh) && (request.route === undefined || r.name === request.route),
  );
  if (request.route !== undefined && routes.length === 0) {
    return { ok: false, status: 404, error: `Route/${request.route} not found${request.mesh !== undefined ? ` in mesh "${request.mesh}"` : ''}` };
  }
  const items = routes
    .sort((a, b) => (a.mesh === b.mesh ? a.name.localeCompare(b.name) : a.mesh.localeCompare(b.mesh)))
    .map((route): CertCheckVerdict => {
      const caName = route.tls?.clientValidationCa?.name;
      const secret = caName !== undefined ? resources.find((r) => r.type === 'Secret' && r.mesh === route.mesh && r.name === caName) : undefined;
      const caPem = secret?.type === 'Secret' ? secret.cert : undefined;
      return {
        ...checkClientCertificate(request.cert, route, caPem, now),
        mesh: route.mesh,
        ...(route.gateway !== undefined ? { gateway: route.gateway } : {}),
        ...(caName !== undefined ? { clientCaSecret: caName } : {}),
      };
    });
  return { ok: true, items };
}

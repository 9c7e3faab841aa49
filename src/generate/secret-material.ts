/**
 * Where generation gets PEM material from. The model only names secrets, so it holds no keys,
 * and generation stays a pure function: the caller injects the source (backed by the Secret
 * resources and the mesh CA in production, by fixed PEMs in tests).
 */
import type { ResourceSet } from '../api/resource-set.js';
import type { SecretResource } from '../api/types.js';
import type { IssuedServerCertificate } from '../ca/workload-identity.js';

// Declared on the CA side (the seam generation and identity share), so identity/ never imports generate/.
export type { IssuedServerCertificate } from '../ca/workload-identity.js';

export interface SecretMaterialSource {
  /** The Secret resource `name` of `mesh`, or undefined when there is none. */
  userSecret(mesh: string, name: string): SecretResource | undefined;
  /**
   * A server certificate for `host` (a DNS SAN, possibly `*.example.com`) issued by the mesh
   * CA, for a Route without `tls.serverCertificate`. Undefined while none is ready: the host
   * is then left out of the gateway until the caller generates again.
   */
  issuedServerCertificate(mesh: string, host: string): IssuedServerCertificate | undefined;
  /**
   * Whether a certificate asked for above is on its way (issuance or its CA's initialization is
   * running). Generation then marks the config incomplete instead of leaving the host out.
   */
  issuedServerCertificatePending?(mesh: string, host: string): boolean;
}

/** No material at all: a Gateway generated with it serves nothing (fail closed). */
export const NO_SECRET_MATERIAL: SecretMaterialSource = {
  userSecret: () => undefined,
  issuedServerCertificate: () => undefined,
};

/** User secrets looked up in a resource set's mesh groups (indexed per group on first use); issued certificates from `issue`. */
export function secretMaterialFromSet(
  set: ResourceSet,
  issue: (mesh: string, host: string) => IssuedServerCertificate | undefined,
  pending?: (mesh: string, host: string) => boolean,
): SecretMaterialSource {
  return {
    userSecret: (mesh, name) => set.secret(mesh, name),
    issuedServerCertificate: issue,
    ...(pending ? { issuedServerCertificatePending: pending } : {}),
  };
}

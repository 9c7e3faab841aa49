/**
 * Names of the mesh identity material as proxies see it. The SDS Secrets that carry it are built
 * in envoy/identity-secrets.ts, under these names.
 *
 * The names are per mesh, not per proxy or per certificate: a proxy has one identity in its mesh,
 * so a rotation or a CA switch changes the content of the same two Secrets and only SDS is pushed
 * (DESIGN.md "One naming module"; Kuma's `identity_cert` and `mesh_ca`). Each proxy's snapshot
 * holds its own certificate under that name, so asking for it can never yield another proxy's key.
 *
 * Envoy-flavor listeners and clusters refer to these names over SDS. Proxyless gRPC ignores SDS;
 * its `meshcp agent` subscribes to exactly these two names and writes cert.pem, key.pem and
 * ca.pem for the file_watcher certificate provider (SPEC §2, §3 agent).
 */
import type { SdsMeshIdentity } from '../envoy/mesh-tls.js';

/** `tls_certificate`: the proxy's workload certificate chain (leaf first) and key. */
export function identityCertificateSecretName(mesh: string): string {
  return `identity-cert:${mesh}`;
}

/** `validation_context.trusted_ca`: every CA root the mesh trusts right now. */
export function meshTrustBundleSecretName(mesh: string): string {
  return `mesh-ca:${mesh}`;
}

/** `spiffe://<mesh>/<service>` (SPEC §1 Mesh): the identity RBAC matches on. */
export function spiffeId(mesh: string, service: string): string {
  return `spiffe://${mesh}/${encodeURIComponent(service)}`;
}

/** The SDS names of a mesh's identity Secrets: the certificate and the trust bundle. */
export function identitySecretNames(mesh: string): SdsMeshIdentity {
  return { certificate: identityCertificateSecretName(mesh), trustBundle: meshTrustBundleSecretName(mesh) };
}

/**
 * Names of the mesh identity material as proxies see it, and the SDS Secrets that carry it.
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
import type { MeshTlsMaterial, WorkloadIdentity } from '../ca/workload-identity.js';
import { tlsCertificateSecret, validationContextSecret } from '../envoy/tls.js';
import type { ResourceObject } from '../snapshot/encode.js';

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

/**
 * The SDS Secrets of a proxy's mesh identity: its certificate and the mesh trust bundle, or
 * nothing while either is missing (no certificate issued yet, or mTLS disabled). Generation adds
 * them to the proxy's snapshot, for both flavors, and refers to them by the names above.
 */
export function identitySecrets(mesh: string, proxyName: string, material: MeshTlsMaterial): ResourceObject[] {
  const identity = material.identity(mesh, proxyName);
  const bundle = material.trustBundle(mesh);
  if (!identity || bundle === undefined) return [];
  return [certificateSecret(mesh, identity), trustBundleSecret(mesh, bundle)];
}

/**
 * The certificate Secret of an identity, one object for as long as the identity lives: a proxy
 * generated again (a model change) with the same certificate hands the encoder the same object,
 * which it finds by identity instead of digesting the PEMs again.
 */
const certificateSecrets = new WeakMap<WorkloadIdentity, ResourceObject>();

function certificateSecret(mesh: string, identity: WorkloadIdentity): ResourceObject {
  const name = identityCertificateSecretName(mesh);
  let secret = certificateSecrets.get(identity);
  if (secret?.['name'] !== name) {
    secret = tlsCertificateSecret(name, identity.certChainPem, identity.keyPem);
    certificateSecrets.set(identity, secret);
  }
  return secret;
}

/**
 * The mesh's trust bundle Secret, one object per mesh and bundle for every proxy of the mesh: it
 * is encoded once (by identity), not digested once per proxy when a CA switch changes it.
 */
const bundleSecrets = new Map<string, { readonly bundle: string; readonly secret: ResourceObject }>();
const MAX_BUNDLE_MESHES = 10_000;

function trustBundleSecret(mesh: string, bundle: string): ResourceObject {
  const known = bundleSecrets.get(mesh);
  if (known?.bundle === bundle) return known.secret;
  if (!known && bundleSecrets.size >= MAX_BUNDLE_MESHES) bundleSecrets.clear();
  const secret = validationContextSecret(meshTrustBundleSecretName(mesh), bundle);
  bundleSecrets.set(mesh, { bundle, secret });
  return secret;
}

/**
 * The SDS Secrets of a proxy's mesh identity, built from plain identity data: its workload
 * certificate (chain and key) and the mesh trust bundle, under the names the caller gives
 * (identity/names.ts names them per mesh, so a rotation or a CA switch changes only their
 * content and only SDS is pushed).
 *
 * The objects are shared through the control plane's dependency cache, never a module-level
 * table: the certificate Secret is one object for as long as its identity lives (a proxy generated
 * again with the same certificate hands the encoder the same object, found by identity instead of
 * digesting the PEMs again), and the trust bundle Secret one object per bundle for every proxy of
 * the mesh (encoded once, not digested per proxy when a CA switch changes it). Both entries check
 * what they hold against the data asked for at every read (the identity object, the bundle text),
 * so they depend on no key: a stale Secret cannot be handed out whatever the cache is told.
 */
import type { DependencyCache } from '../change/dependency-cache.js';
import type { ResourceObject } from '../snapshot/encode.js';
import type { SdsMeshIdentity } from './mesh-tls.js';
import { tlsCertificateSecret, validationContextSecret } from './tls.js';

/**
 * What the certificate Secret carries: a workload identity's chain (leaf first) and key
 * (ca/workload-identity.ts `CertificateMaterial` is one). Its Secret is kept per object.
 */
export interface CertificateMaterial {
  readonly certChainPem: string;
  readonly keyPem: string;
}

/** The cache entry holding the certificate Secrets, by identity (weakly: they go with their identity). */
const CERTIFICATE_SECRETS = 'envoy:identity-certificate-secrets';

/** The cache entry holding a trust bundle Secret, by Secret name (one per mesh). */
function bundleEntryName(secretName: string): string {
  return `envoy:trust-bundle-secret|${secretName}`;
}

interface BundleSlot {
  bundle?: string;
  secret?: ResourceObject;
}

/**
 * The certificate Secret and the trust bundle Secret, in that order, or nothing while either is
 * missing (no certificate issued yet, or mTLS disabled). Without a cache every call builds new
 * objects (equal in content).
 */
export function identitySecrets(names: SdsMeshIdentity, identity: CertificateMaterial | undefined, trustBundle: string | undefined, cache?: DependencyCache): ResourceObject[] {
  if (!identity || trustBundle === undefined) return [];
  return [certificateSecret(names.certificate, identity, cache), trustBundleSecret(names.trustBundle, trustBundle, cache)];
}

function certificateSecret(name: string, identity: CertificateMaterial, cache: DependencyCache | undefined): ResourceObject {
  if (cache === undefined) return tlsCertificateSecret(name, identity.certChainPem, identity.keyPem);
  const byIdentity = cache.peek(CERTIFICATE_SECRETS, () => new WeakMap<CertificateMaterial, ResourceObject>());
  let secret = byIdentity.get(identity);
  if (secret?.['name'] !== name) {
    secret = tlsCertificateSecret(name, identity.certChainPem, identity.keyPem);
    byIdentity.set(identity, secret);
  }
  return secret;
}

function trustBundleSecret(name: string, bundle: string, cache: DependencyCache | undefined): ResourceObject {
  if (cache === undefined) return validationContextSecret(name, bundle);
  const slot = cache.peek(bundleEntryName(name), (): BundleSlot => ({}));
  if (slot.secret === undefined || slot.bundle !== bundle) {
    slot.secret = validationContextSecret(name, bundle);
    slot.bundle = bundle;
  }
  return slot.secret;
}

/** A proxy's mesh identity in its snapshot: the two SDS Secrets (envoy/identity-secrets.ts) named by src/identity/names.ts. */
import type { MeshTlsMaterial } from '../ca/workload-identity.js';
import type { SdsMeshIdentity } from '../envoy/mesh-tls.js';
import { identitySecrets } from '../envoy/identity-secrets.js';
import { identitySecretNames } from '../identity/names.js';
import { resourceName } from '../snapshot/encode.js';
import { SECRET_TYPE } from '../snapshot/types.js';
import type { ConfigBuilder } from './config-builder.js';

/**
 * Adds the proxy's certificate and the mesh trust bundle, and returns their SDS names; or adds
 * nothing and returns undefined while either is missing (not issued yet). Only this proxy's
 * certificate goes into its snapshot, so it can never receive another proxy's key.
 */
export function addMeshIdentity(builder: ConfigBuilder, mesh: string, proxyName: string, material: MeshTlsMaterial): SdsMeshIdentity | undefined {
  const names = identitySecretNames(mesh);
  const secrets = identitySecrets(names, material.identity(mesh, proxyName), material.trustBundle(mesh), builder.cache);
  if (secrets.length === 0) return undefined;
  for (const secret of secrets) {
    const name = resourceName(SECRET_TYPE, secret);
    builder.secret(name, secret).from(SECRET_TYPE, name, `Mesh/${mesh}`);
  }
  return names;
}

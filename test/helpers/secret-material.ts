/** Secret material for generation straight from a list of resources (tests; meshcp itself reads a ResourceSet). */
import type { Resource, SecretResource } from '../../src/api/types.js';
import type { IssuedServerCertificate, SecretMaterialSource } from '../../src/generate/secret-material.js';

/** User secrets looked up among `resources`; issued certificates from `issue`. */
export function secretMaterialFromResources(
  resources: readonly Resource[],
  issue: (mesh: string, host: string) => IssuedServerCertificate | undefined,
  pending?: (mesh: string, host: string) => boolean,
): SecretMaterialSource {
  const secrets = new Map<string, SecretResource>();
  for (const r of resources) if (r.type === 'Secret') secrets.set(`${r.mesh}/${r.name}`, r);
  return {
    userSecret: (mesh, name) => secrets.get(`${mesh}/${name}`),
    issuedServerCertificate: issue,
    ...(pending ? { issuedServerCertificatePending: pending } : {}),
  };
}

/**
 * What the comparison servers (the raw grpc-js baseline, go-control-plane) serve, made before any
 * clock with meshcp's own code: each proxy's resources exactly as meshcp generates and encodes
 * them, and, in the mtls scenario, the mesh CA and one workload certificate per proxy.
 */
import { DependencyCache } from '../src/change/dependency-cache.js';
import type { Resource } from '../src/api/types.js';
import type { IssuedIdentity } from '../src/ca/providers/types.js';
import type { MeshTlsMaterial } from '../src/ca/workload-identity.js';
import { MemoryBlobStore } from '../src/ca/providers/builtin.js';
import { defaultCaProviders, MeshCaRegistry } from '../src/ca/providers/registry.js';
import { generateForProxy } from '../src/generate/generate.js';
import { enabledBackend, indexResources, spiffeIdsOf } from '../src/identity/resource-index.js';
import { validitySecondsOf } from '../src/identity/rotation.js';
import type { Model } from '../src/model/model.js';
import { contentHash, ResourceEncoder, type EncodedResource } from '../src/snapshot/encode.js';
import { buildSnapshot } from '../src/snapshot/snapshot.js';
import { MESH, nodeId } from './scenario.js';

/**
 * The mtls scenario's material, made ahead of time with meshcp's CA code: the mesh's builtin CA,
 * and one workload certificate per proxy (its SPIFFE IDs as the identity manager computes them).
 */
export async function issueAll(resources: readonly Resource[], proxies: number): Promise<MeshTlsMaterial> {
  const registry = new MeshCaRegistry(defaultCaProviders(new MemoryBlobStore()));
  const index = indexResources(resources);
  const backend = enabledBackend(index, MESH);
  if (!backend) throw new Error('mtls scenario without an enabled backend');
  const ca = await registry.ensure(MESH, backend, resources);
  const bundle = registry.trustRoots(ca).map((pem) => (pem.endsWith('\n') ? pem : `${pem}\n`)).join('');
  const identities = new Map<string, IssuedIdentity>();
  const now = new Date();
  await Promise.all(
    Array.from({ length: proxies }, async (_, i) => {
      const spiffeIds = spiffeIdsOf(index, MESH, nodeId(i));
      if (!spiffeIds) throw new Error(`${nodeId(i)} has no SPIFFE ID`);
      identities.set(nodeId(i), await registry.issue(ca, { spiffeIds, validitySeconds: validitySecondsOf(backend.dpCert.rotation.expirationSeconds), now }));
    }),
  );
  return { identity: (mesh, name) => (mesh === MESH ? identities.get(name) : undefined), trustBundle: (mesh) => (mesh === MESH ? bundle : undefined) };
}

/** One type of one proxy's config: its resources sorted by name, and meshcp's SotW version for them. */
export interface PreparedType {
  readonly version: string;
  readonly resources: readonly EncodedResource[];
}

/** Each proxy's config (proxy name → type URL → resources), as meshcp generates and encodes it. */
export function prepareProxyConfigs(model: Model, proxies: number, typeUrls: readonly string[], meshTls: MeshTlsMaterial | undefined): Map<string, Map<string, PreparedType>> {
  const out = new Map<string, Map<string, PreparedType>>();
  // One cache for the fleet, as the control plane has: shared resources are built once.
  const cache = new DependencyCache();
  // And one encoder: equal resources of many proxies are one encoding, as in the control plane.
  const encoder = new ResourceEncoder();
  for (let i = 0; i < proxies; i++) {
    const result = buildSnapshot(generateForProxy(model, { name: nodeId(i), mesh: MESH, flavor: 'envoy' }, meshTls ? { meshTls, cache } : { cache }), { encoder });
    if (!result.ok) throw new Error(`scenario config is inconsistent: ${result.errors.join('; ')}`);
    const perType = new Map<string, PreparedType>();
    for (const typeUrl of typeUrls) {
      // As meshcp's session sends SotW: sorted by name, version = hash of name@version pairs.
      const resources: EncodedResource[] = [...(result.snapshot.resources.get(typeUrl)?.values() ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      perType.set(typeUrl, { version: contentHash(resources.map((r) => `${r.name}@${r.version}`).join('\n')), resources });
    }
    out.set(nodeId(i), perType);
  }
  return out;
}

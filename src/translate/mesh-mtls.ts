/**
 * api → model for mesh mTLS (SPEC §1 Mesh, Kuma's `mtls` block): only which backend is enabled
 * and its mode reach the model. CA material stays with the CA side (src/ca, src/identity) and
 * reaches generation through `MeshTlsMaterial`, never through the model.
 */
import type { MeshResource, Resource } from '../api/types.js';
import type { MeshMtlsModel } from '../model/model.js';

export function translateMeshMtls(resources: readonly Resource[], meshName: string): MeshMtlsModel | undefined {
  const mesh = resources.find((r): r is MeshResource => r.type === 'Mesh' && r.name === meshName);
  const enabledBackend = mesh?.mtls?.enabledBackend;
  // Kuma: a missing or empty `enabledBackend` disables mTLS for the whole mesh.
  if (enabledBackend === undefined || enabledBackend === '') return undefined;
  const backend = mesh?.mtls?.backends.find((b) => b.name === enabledBackend);
  // An unknown backend is rejected by validation; should one slip through, STRICT keeps it closed.
  return { enabledBackend, mode: backend?.mode ?? 'STRICT' };
}

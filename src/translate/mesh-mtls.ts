/**
 * api → model for mesh mTLS (SPEC §1 Mesh, Kuma's `mtls` block). CA material stays with the CA
 * side (src/ca, src/identity) and reaches generation through `MeshTlsMaterial`, never through the
 * model.
 */
import type { MeshResource } from '../api/types.js';
import type { MeshMtlsModel } from '../model/model.js';

/**
 * Only what generation reads: whether mTLS is on, and its mode. Which backend signs is the CA
 * side's business, so switching the enabled backend leaves the model (and every proxy's
 * listeners and clusters) as it was: only the trust bundle and the certificates change, over SDS.
 */
export function translateMeshMtls(mesh: MeshResource | undefined): MeshMtlsModel | undefined {
  const enabledBackend = mesh?.mtls?.enabledBackend;
  // Kuma: a missing or empty `enabledBackend` disables mTLS for the whole mesh.
  if (enabledBackend === undefined || enabledBackend === '') return undefined;
  const backend = mesh?.mtls?.backends.find((b) => b.name === enabledBackend);
  // An unknown backend is rejected by validation; should one slip through, STRICT keeps it closed.
  return { mode: backend?.mode ?? 'STRICT' };
}

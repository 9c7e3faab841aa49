/**
 * Mesh-wide surprises worth a warning (Kuma's docs warn of the first): with mTLS enabled every
 * call is denied unless a TrafficPermission allows it, so a mesh that enables mTLS and has no
 * TrafficPermission denies everything, while every proxy shows Online and ACKed. `apply` and
 * `validate` print it, `serve` logs it, and deleting the last permission says it.
 */
import type { FieldError } from './errors.js';
import { resourceLabel, type MeshResource, type Resource } from './types.js';

export function defaultDenyWarning(mesh: MeshResource): FieldError {
  return {
    resource: resourceLabel(mesh),
    path: 'mtls.enabledBackend',
    message: `mTLS is on (backend "${mesh.mtls?.enabledBackend ?? ''}") and mesh "${mesh.name}" has no TrafficPermission: every call between its services is denied (default deny, as Kuma); apply one, e.g. sources and destinations matching kuma.io/service: '*' to allow all`,
  };
}

/** One warning per Mesh of `resources` (of `meshes`, when given) with mTLS on and no TrafficPermission. */
export function defaultDenyWarnings(resources: readonly Resource[], meshes?: ReadonlySet<string>): FieldError[] {
  const permitted = new Set<string>();
  for (const r of resources) if (r.type === 'TrafficPermission') permitted.add(r.mesh);
  const warnings: FieldError[] = [];
  for (const r of resources) {
    if (r.type !== 'Mesh' || (meshes !== undefined && !meshes.has(r.name))) continue;
    if (r.mtls?.enabledBackend !== undefined && r.mtls.enabledBackend !== '' && !permitted.has(r.name)) warnings.push(defaultDenyWarning(r));
  }
  return warnings;
}

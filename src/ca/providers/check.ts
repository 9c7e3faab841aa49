/**
 * The mesh CA check of the resource pipeline: every backend of every Mesh is validated by its
 * provider against the whole resource set (a `provided` backend names Secrets), so a Mesh whose
 * CA is unusable is rejected as a change, and the last good set keeps being served (SPEC §3).
 */
import type { FieldError } from '../../api/errors.js';
import { resourceLabel, type Resource } from '../../api/types.js';
import { validateBackend, type CaProviders } from './types.js';

export interface CheckResult {
  readonly errors: FieldError[];
  readonly warnings: FieldError[];
}

/** Kuma's names for builtin CA material (`{mesh}.ca-builtin-cert-{backend}`): `get secrets` lists them, so users cannot take them. */
function reservedSecretName(mesh: string, name: string): boolean {
  return name.startsWith(`${mesh}.ca-builtin-cert-`) || name.startsWith(`${mesh}.ca-builtin-key-`);
}

/**
 * A check for ResourceSources: errors read `Mesh/default: mtls.backends[1].conf.cert: …`.
 * It also refuses user Secrets named like builtin CA material.
 */
export function meshCaCheck(providers: CaProviders): (resources: readonly Resource[], now: Date) => CheckResult {
  return (resources, now) => {
    const errors: FieldError[] = [];
    const warnings: FieldError[] = [];
    for (const r of resources) {
      if (r.type === 'Secret' && reservedSecretName(r.mesh, r.name)) {
        errors.push({ resource: resourceLabel(r), path: 'name', message: `"${r.name}" is reserved for the builtin CA material of mesh "${r.mesh}"; choose another name` });
      }
      if (r.type !== 'Mesh' || !r.mtls) continue;
      r.mtls.backends.forEach((backend, i) => {
        const result = validateBackend(providers, r.name, backend, { resources, now });
        const at = (path: string): string => `mtls.backends[${i}].conf.${path}`;
        for (const e of result.errors) errors.push({ resource: resourceLabel(r), path: at(e.path), message: e.message });
        for (const w of result.warnings) warnings.push({ resource: resourceLabel(r), path: at(w.path), message: w.message });
      });
    }
    return { errors, warnings };
  };
}

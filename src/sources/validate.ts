/**
 * The mesh CA check of the resource pipeline: every backend of every Mesh is validated by its
 * provider against the whole resource set (a `provided` backend names Secrets), so a Mesh whose
 * CA is unusable is rejected as a change, and the last good set keeps being served (SPEC §3).
 * A Mesh that did not change but whose CA no longer validates (its `file:` rewritten on disk, its
 * certificate expired) is pinned at its last good version instead (sources/resource-sources.ts).
 */
import type { FieldError } from '../api/errors.js';
import { checkReferences } from '../api/references.js';
import { resourceLabel, type Resource, type SecretResource } from '../api/types.js';
import { resourceSetWarnings } from '../generate/gateway-warnings.js';
import { checkSecretMaterial } from '../ca/secret-material.js';
import type { CaFileReader } from '../ca/providers/ca-files.js';
import { defaultCaProviders } from '../ca/providers/registry.js';
import { validateBackend, type CaProviders } from '../ca/providers/types.js';

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
export function meshCaCheck(providers: CaProviders): (resources: readonly Resource[], now: Date, readFile?: CaFileReader) => CheckResult {
  return (resources, now, readFile) => {
    const errors: FieldError[] = [];
    const warnings: FieldError[] = [];
    for (const r of resources) {
      if (r.type === 'Secret' && reservedSecretName(r.mesh, r.name)) {
        errors.push({ resource: resourceLabel(r), path: 'name', message: `"${r.name}" is reserved for the builtin CA material of mesh "${r.mesh}"; choose another name` });
      }
      if (r.type !== 'Mesh' || !r.mtls) continue;
      r.mtls.backends.forEach((backend, i) => {
        const result = validateBackend(providers, r.name, backend, { resources, now, ...(readFile ? { readFile } : {}) });
        const at = (path: string): string => `mtls.backends[${i}].conf.${path}`;
        for (const e of result.errors) errors.push({ resource: resourceLabel(r), path: at(e.path), message: e.message });
        for (const w of result.warnings) warnings.push({ resource: resourceLabel(r), path: at(w.path), message: w.message });
      });
    }
    return { errors, warnings };
  };
}

export interface ResourceSetOptions {
  readonly now: Date;
  /**
   * Which secrets' material to check (default: every one). SPEC §1 checks a secret when it is
   * applied: the admin API checks the secrets of the batch, serve the new or changed file secrets,
   * so a stored secret that expires later does not block unrelated changes.
   */
  readonly checkSecret?: (secret: SecretResource) => boolean;
  /** How a provided CA's `file:` is read (serve records what it validated, ca-files.ts); the disk by default. */
  readonly readFile?: CaFileReader;
}

/**
 * THE check of a resource set, the one `validate -f`, `apply` (admin API) and `serve --config`
 * all run (issue #13 "one validator"): secret material, references, and every mesh CA backend
 * (a provided CA's usages, chain and key). Documents are validated by parse.ts before; file
 * references (`certFile`, `file:`) are resolved there, relative to their YAML file, the same way
 * for all three (`apply -f` reads them on the client, cli/resources.ts).
 */
export function validateResources(resources: readonly Resource[], options: ResourceSetOptions): CheckResult {
  const errors: FieldError[] = [];
  const warnings: FieldError[] = [];
  for (const r of resources) {
    // A generic (Kuma) secret is opaque data: what it holds is checked where it is used (a provided CA).
    if (r.type !== 'Secret' || r.secretType === 'generic' || options.checkSecret?.(r) === false) continue;
    const material = checkSecretMaterial(r, options.now);
    for (const e of material.errors) errors.push({ resource: resourceLabel(r), path: e.path, message: e.message });
    for (const w of material.warnings) warnings.push({ resource: resourceLabel(r), path: w.path, message: w.message });
  }
  errors.push(...checkReferences(resources));
  // Validation reads material only; it never initializes (or stores) a CA.
  const ca = meshCaCheck(VALIDATION_PROVIDERS)(resources, options.now, options.readFile);
  errors.push(...ca.errors);
  warnings.push(...ca.warnings);
  // What the gateways will do that the user may not expect (issued certificates, names that miss
  // the host): only for a valid set, which translates. `apply` prints them, `serve` logs them.
  if (errors.length === 0) for (const line of resourceSetWarnings(resources)) warnings.push(warningField(line));
  return { errors, warnings };
}

const VALIDATION_PROVIDERS: CaProviders = defaultCaProviders();

/** `Route/x: path: message` (gateway-warnings.ts) as a FieldError, so it is formatted like every other warning. */
function warningField(line: string): FieldError {
  const match = /^([A-Za-z]+\/[^:\s]+): (.*)$/.exec(line);
  return match ? { resource: match[1] ?? '', path: '', message: match[2] ?? line } : { path: '', message: line };
}

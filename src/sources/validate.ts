/**
 * The mesh CA check of the resource pipeline: every backend of every Mesh is validated by its
 * provider against the whole resource set (a `provided` backend names Secrets), so a Mesh whose
 * CA is unusable is rejected as a change, and the last good set keeps being served (SPEC §3).
 * A Mesh that did not change but whose CA no longer validates (its `file:` rewritten on disk, its
 * certificate expired) is pinned at its last good version instead (sources/resource-sources.ts).
 */
import type { FieldError } from '../api/errors.js';
import { checkReferences } from '../api/references.js';
import { checkMeshesExist, IMPLICIT_MESH } from '../api/mesh-existence.js';
import { defaultDenyWarnings } from '../api/mesh-warnings.js';
import { checkIdentityCollisions } from './identity-collisions.js';
import type { ResourceChange } from '../api/resource-set.js';
import { CHANGE_CHECKS, changeCheckKeys, selectResources, selectsMesh, type ChangeCheckTable, type ResourceRow } from './change-checks.js';
import { resourceLabel, type MeshResource, type Resource, type SecretResource } from '../api/types.js';
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
      if (r.type === 'Mesh') checkMeshCa(providers, r, resources, now, readFile, errors, warnings);
    }
    return { errors, warnings };
  };
}

/** Every CA backend of one Mesh, validated by its provider against `resources` (which hold the Secrets a provided backend names). */
function checkMeshCa(providers: CaProviders, mesh: MeshResource, resources: readonly Resource[], now: Date, readFile: CaFileReader | undefined, errors: FieldError[], warnings: FieldError[]): void {
  mesh.mtls?.backends.forEach((backend, i) => {
    const result = validateBackend(providers, mesh.name, backend, { resources, now, ...(readFile ? { readFile } : {}) });
    const at = (path: string): string => `mtls.backends[${i}].conf.${path}`;
    for (const e of result.errors) errors.push({ resource: resourceLabel(mesh), path: at(e.path), message: e.message });
    for (const w of result.warnings) warnings.push({ resource: resourceLabel(mesh), path: at(w.path), message: w.message });
  });
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
  /**
   * What the operator should be told about the config a valid set of one or more meshes gives
   * (generate/gateway-warnings.ts `resourceSetWarnings`, as `serve`, `apply` and `validate` give
   * it): validation reads resources only, it never translates or generates. None by default.
   */
  readonly warnings?: (resources: readonly Resource[]) => readonly string[];
}

/**
 * THE check of a resource set, the one `validate -f`, `apply` (admin API) and `serve --config`
 * all run ("one validator"): secret material, references, and every mesh CA backend
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
  errors.push(...checkMeshesExist(resources));
  errors.push(...checkReferences(resources));
  errors.push(...checkIdentityCollisions(resources));
  // Validation reads material only; it never initializes (or stores) a CA.
  const ca = meshCaCheck(VALIDATION_PROVIDERS)(resources, options.now, options.readFile);
  errors.push(...ca.errors);
  warnings.push(...ca.warnings);
  // What the gateways will do that the user may not expect (issued certificates, names that miss
  // the host): only for a valid set, which translates. `apply` prints them, `serve` logs them.
  if (errors.length === 0) for (const line of options.warnings?.(resources) ?? []) warnings.push(warningField(line));
  warnings.push(...defaultDenyWarnings(resources));
  return { errors, warnings };
}

const VALIDATION_PROVIDERS: CaProviders = defaultCaProviders();

/** `Route/x: path: message` (gateway-warnings.ts) as a FieldError, so it is formatted like every other warning. */
function warningField(line: string): FieldError {
  const match = /^([A-Za-z]+\/[^:\s]+): (.*)$/.exec(line);
  return match ? { resource: match[1] ?? '', path: '', message: match[2] ?? line } : { path: '', message: line };
}

/** What `validateChange` checked (recompute counters). */
export interface ChangeCheckResult extends CheckResult {
  /** Resources checked: secrets whose material was read, routes and services whose references were resolved, meshes whose CA backends were validated. */
  readonly checked: number;
  /** Meshes whose CA backends were validated (their provided CA files read through `readFile`). */
  readonly caMeshes: ReadonlySet<string>;
}


/**
 * The same check as `validateResources`, for a change to a set that was valid (no errors): only
 * the checks that read one of the change's keys run again (change-checks.ts, a change costs what
 * it touches): an endpoint change of a Service checks that Service alone. `checks` is the table of
 * what each check reads (the property test gives it one with a key left out, and must fail).
 * Its errors are empty exactly when `validateResources(change.set.list())` has none
 * (test/sources/validate-change.property.test.ts); when they are not, the caller runs the full
 * check to place them (which resource, pinned or blocking).
 */
export function validateChange(change: ResourceChange, options: ResourceSetOptions, checks: ChangeCheckTable = CHANGE_CHECKS): ChangeCheckResult {
  if (change.reset) {
    const full = validateResources(change.set.list(), options);
    return { ...full, checked: change.set.list().length, caMeshes: new Set(change.set.groups.keys()) };
  }
  const errors: FieldError[] = [];
  const warnings: FieldError[] = [];
  let checked = 0;
  const changed = changeCheckKeys(change);
  const caMeshes = new Set<string>();
  const warnMeshes: string[] = [];
  const denyMeshes = new Set<string>();
  for (const mesh of changed.meshes) {
    const resources = change.set.resourcesOf(mesh);
    const select = <T extends Resource>(row: ResourceRow<T>): T[] => selectResources(row, mesh, resources, change.puts, changed);
    // `default` exists without a Mesh resource: no pass over it for its Mesh.
    const orphans = mesh === IMPLICIT_MESH ? [] : select(checks.meshExists);
    if (orphans.length > 0) errors.push(...checkMeshesExist(resources.filter((r) => r.type === 'Mesh'), orphans));
    for (const secret of select(checks.secretMaterial)) {
      if (reservedSecretName(secret.mesh, secret.name)) errors.push({ resource: resourceLabel(secret), path: 'name', message: `"${secret.name}" is reserved for the builtin CA material of mesh "${secret.mesh}"; choose another name` });
      if (secret.secretType === 'generic' || options.checkSecret?.(secret) === false) continue;
      checked++;
      const material = checkSecretMaterial(secret, options.now);
      for (const e of material.errors) errors.push({ resource: resourceLabel(secret), path: e.path, message: e.message });
      for (const w of material.warnings) warnings.push({ resource: resourceLabel(secret), path: w.path, message: w.message });
    }
    const references: Resource[] = [...select(checks.routeReferences), ...select(checks.serviceReferences)];
    if (references.length > 0) {
      checked += references.length;
      // Host claims: the Routes of the mesh in set order, so the later claimant gets the error, as the full check gives it.
      errors.push(...checkReferences(resources, references));
    }
    if (selectsMesh(checks.identityCollisions, mesh, changed)) errors.push(...checkIdentityCollisions(resources));
    const meshResource = selectsMesh(checks.meshCa, mesh, changed) ? resources.find((r) => r.type === 'Mesh' && r.name === mesh) : undefined;
    if (meshResource?.type === 'Mesh' && meshResource.mtls) {
      checked++;
      caMeshes.add(mesh);
      checkMeshCa(VALIDATION_PROVIDERS, meshResource, resources, options.now, options.readFile, errors, warnings);
    }
    if (selectsMesh(checks.gatewayWarnings, mesh, changed) && resources.some((r) => r.type === 'Gateway')) warnMeshes.push(mesh);
    if (selectsMesh(checks.defaultDeny, mesh, changed)) denyMeshes.add(mesh);
  }
  if (errors.length === 0 && options.warnings) for (const mesh of warnMeshes) for (const line of options.warnings(change.set.resourcesOf(mesh))) warnings.push(warningField(line));
  for (const mesh of denyMeshes) warnings.push(...defaultDenyWarnings(change.set.resourcesOf(mesh), denyMeshes));
  return { errors, warnings, checked, caMeshes };
}

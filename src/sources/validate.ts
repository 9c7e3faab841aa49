/**
 * The mesh CA check of the resource pipeline: every backend of every Mesh is validated by its
 * provider against the whole resource set (a `provided` backend names Secrets), so a Mesh whose
 * CA is unusable is rejected as a change, and the last good set keeps being served (SPEC §3).
 * A Mesh that did not change but whose CA no longer validates (its `file:` rewritten on disk, its
 * certificate expired) is pinned at its last good version instead (sources/resource-sources.ts).
 */
import { SERVICE_TAG } from '../api/tags.js';
import type { FieldError } from '../api/errors.js';
import { checkReferences } from '../api/references.js';
import { checkMeshesExist, IMPLICIT_MESH } from '../api/mesh-existence.js';
import { defaultDenyWarnings } from '../api/mesh-warnings.js';
import { checkIdentityCollisions, takesOwnName } from './identity-collisions.js';
import { isDeepStrictEqual } from 'node:util';
import { meshOf, type ResourceChange } from '../api/resource-set.js';
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


/** The services a resource adds to its mesh's service set (what a Route may name). */
function servicesProvided(r: Resource | undefined): string {
  if (!r) return '';
  if (r.type === 'Service') return r.name;
  if (r.type !== 'Dataplane') return '';
  return r.networking.inbound.map((i) => i.tags[SERVICE_TAG] ?? '').join('\0');
}

/**
 * The same check as `validateResources`, for a change to a set that was valid (no errors): only
 * what the change can affect is checked again (a change costs what it touches).
 * - the material of each put Secret that `checkSecret` selects, and its name;
 * - per mesh the change touches: the references of every put Route and Service; of every Route
 *   of the mesh when its gateways, secrets or service names changed (or a Route did: host
 *   claims depend on every Route of the gateway); of every Service when its secrets changed;
 * - the CA backends of a mesh whose Mesh resource or Secrets changed;
 * - gateway warnings of the meshes whose Routes, Gateways, Services, Secrets or Mesh changed.
 * Its errors are empty exactly when `validateResources(change.set.list())` has none
 * (test/sources/validate-change.property.test.ts); when they are not, the caller runs the full
 * check to place them (which resource, pinned or blocking).
 */
export function validateChange(change: ResourceChange, options: ResourceSetOptions): ChangeCheckResult {
  if (change.reset) {
    const full = validateResources(change.set.list(), options);
    return { ...full, checked: change.set.list().length, caMeshes: new Set(change.set.groups.keys()) };
  }
  const errors: FieldError[] = [];
  const warnings: FieldError[] = [];
  let checked = 0;
  interface Touch {
    routes: boolean;
    allRoutes: boolean;
    allServices: boolean;
    ca: boolean;
    warnings: boolean;
    /** A proxy's identity may have changed: a Gateway, or a Dataplane's services or inbound-less name. */
    identities: boolean;
  }
  const touched = new Map<string, Touch>();
  const touch = (mesh: string): Touch => {
    let t = touched.get(mesh);
    if (!t) touched.set(mesh, (t = { routes: false, allRoutes: false, allServices: false, ca: false, warnings: false, identities: false }));
    return t;
  };
  const putSet = new Set<Resource>(change.puts);
  const note = (r: Resource, before: Resource | undefined): void => {
    const t = touch(meshOf(r));
    switch (r.type) {
      case 'Mesh':
        t.ca = true;
        t.warnings = true;
        break;
      case 'Secret':
        t.allRoutes = t.allServices = t.ca = t.warnings = true;
        break;
      case 'Gateway':
        t.allRoutes = t.warnings = true;
        if (putSet.has(r)) t.identities = true;
        break;
      case 'Route':
        t.allRoutes = t.warnings = true;
        break;
      case 'Service':
        // Gateway warnings read a Service's tls only; an endpoint change is not looked at again.
        if (before?.type !== 'Service' || !isDeepStrictEqual(r.tls, before.tls)) t.warnings = true;
        if (servicesProvided(r) !== servicesProvided(before)) t.allRoutes = true;
        break;
      case 'Dataplane':
        if (servicesProvided(r) !== servicesProvided(before)) t.allRoutes = true;
        // Only a put can make two identities collide; an endpoint change leaves them as they were.
        if (putSet.has(r) && (servicesProvided(r) !== servicesProvided(before) || takesOwnName(r) !== takesOwnName(before))) t.identities = true;
        break;
      default:
        break;
    }
  };
  change.puts.forEach((r, i) => note(r, change.replaced[i]));
  for (const r of change.deletes) note(r, undefined);
  // Mesh existence: a put resource needs its mesh; a deleted Mesh must leave none of its resources behind.
  const putsElsewhere = change.puts.filter((r) => r.type !== 'Mesh');
  const orphaned = change.deletes.filter((r) => r.type === 'Mesh' && r.name !== IMPLICIT_MESH).flatMap((m) => change.set.resourcesOf(meshOf(m)).filter((r) => r.type !== 'Mesh'));
  if (putsElsewhere.length > 0 || orphaned.length > 0) {
    const candidates = [...new Set([...putsElsewhere, ...orphaned])];
    const meshResources = [...new Set(candidates.map(meshOf))].flatMap((mesh) => change.set.resourcesOf(mesh).filter((r) => r.type === 'Mesh'));
    errors.push(...checkMeshesExist(meshResources, candidates));
  }
  for (const r of change.puts) {
    if (r.type !== 'Secret') continue;
    if (reservedSecretName(r.mesh, r.name)) errors.push({ resource: resourceLabel(r), path: 'name', message: `"${r.name}" is reserved for the builtin CA material of mesh "${r.mesh}"; choose another name` });
    if (r.secretType === 'generic' || options.checkSecret?.(r) === false) continue;
    checked++;
    const material = checkSecretMaterial(r, options.now);
    for (const e of material.errors) errors.push({ resource: resourceLabel(r), path: e.path, message: e.message });
    for (const w of material.warnings) warnings.push({ resource: resourceLabel(r), path: w.path, message: w.message });
  }
  const caMeshes = new Set<string>();
  const warnMeshes: string[] = [];
  for (const [mesh, t] of touched) {
    const resources = change.set.resourcesOf(mesh);
    // Only the put ones, unless a whole kind of the mesh must be looked at again (no pass over the mesh for an endpoint change).
    const toCheck =
      t.allRoutes || t.allServices
        ? resources.filter((r) => (r.type === 'Route' && (t.allRoutes || putSet.has(r))) || (r.type === 'Service' && (t.allServices || putSet.has(r))))
        : change.puts.filter((r) => (r.type === 'Route' || r.type === 'Service') && meshOf(r) === mesh);
    if (toCheck.length > 0) {
      checked += toCheck.length;
      // Host claims: the Routes of the mesh in set order, so the later claimant gets the error, as the full check gives it.
      errors.push(...checkReferences(resources, toCheck));
    }
    if (t.identities) errors.push(...checkIdentityCollisions(resources));
    const meshResource = t.ca ? resources.find((r) => r.type === 'Mesh' && r.name === mesh) : undefined;
    if (meshResource?.type === 'Mesh' && meshResource.mtls) {
      checked++;
      caMeshes.add(mesh);
      checkMeshCa(VALIDATION_PROVIDERS, meshResource, resources, options.now, options.readFile, errors, warnings);
    }
    if (t.warnings && resources.some((r) => r.type === 'Gateway')) warnMeshes.push(mesh);
  }
  if (errors.length === 0 && options.warnings) for (const mesh of warnMeshes) for (const line of options.warnings(change.set.resourcesOf(mesh))) warnings.push(warningField(line));
  // Default deny: the meshes whose Mesh or TrafficPermissions changed.
  const policyMeshes = new Set([...change.puts, ...change.deletes].filter((r) => r.type === 'Mesh' || r.type === 'TrafficPermission').map(meshOf));
  for (const mesh of policyMeshes) warnings.push(...defaultDenyWarnings(change.set.resourcesOf(mesh), policyMeshes));
  return { errors, warnings, checked, caMeshes };
}

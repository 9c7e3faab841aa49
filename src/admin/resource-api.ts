/**
 * The admin API's operations, independent of HTTP: list, get, apply a batch, delete.
 *
 * A write is validated against the merged state before anything is stored: every document
 * (parse.ts), the material of every secret (checkSecretMaterial), config-file ownership, and the
 * references of the whole merged set with the change applied. A batch is all-or-nothing. Writes
 * are serialized, so the state a write was checked against is the state it is applied to.
 *
 * Only errors the change introduces are reported: when a config file change already broke the
 * merged set (and the last good set is being served), or a resource is pinned (its CA file turned
 * bad, sources/resource-sources.ts), unrelated API writes are not blocked by it. A resource the
 * batch changes is always checked in full: changing a pinned Mesh that is still invalid is refused.
 */
import YAML from 'yaml';
import { formatFieldError, type FieldError } from '../api/errors.js';
import { isPlainObject } from '../api/fields.js';
import { knownMeshes, unknownMeshMessage } from '../api/mesh-existence.js';
import { defaultDenyWarnings } from '../api/mesh-warnings.js';
import { findDuplicateResources, parseYamlEntries, type ParsedEntry } from '../api/parse.js';
import { resourceKey, resourceLabel, type Resource, type ResourceKind } from '../api/types.js';
import { mergeResources } from '../sources/merged.js';
import type { ResourceSources } from '../sources/resource-sources.js';
import { sameContent } from '../store/document.js';
import { refKey, refOf, type ChangeOutcome, type ResourceRef, type Store } from '../store/store.js';
import { builtinCaSecretBackend } from './ca-secrets.js';
import { certificatePemOf, viewOf, withPin, type ResourceView } from './views.js';

export interface ApplyFile {
  /** Shown in errors (`routes.yaml#2 …`); the CLI sends the path it read. */
  readonly name?: string;
  readonly content: string;
}

/** `create` fails for a resource that exists, `update` for one that does not; `apply` creates or replaces. */
export type ApplyMode = 'apply' | 'create' | 'update';

export interface ApplyRequest {
  readonly files: readonly ApplyFile[];
  readonly mode?: ApplyMode;
  readonly dryRun?: boolean;
  /** Apply the (single) document only if its stored record still has this revision (StoreConflictError otherwise). */
  readonly ifRevision?: string;
}

export interface AppliedResource {
  readonly type: ResourceKind;
  readonly mesh?: string;
  readonly name: string;
  readonly outcome: ChangeOutcome;
}

export type ApplyResponse =
  | { readonly ok: true; readonly applied: AppliedResource[]; readonly warnings: string[]; readonly dryRun: boolean }
  | { readonly ok: false; readonly status: 400 | 409; readonly errors: string[]; readonly warnings: string[] };

export type DeleteResponse =
  | { readonly ok: true; readonly outcome: 'deleted'; readonly warnings: string[] }
  | { readonly ok: false; readonly status: 404 | 409; readonly errors: string[]; readonly warnings: string[] };

export interface ResourceApiOptions {
  readonly store: Store;
  readonly sources: ResourceSources;
  readonly now?: () => Date;
  /** Secrets meshcp keeps itself (builtin CA material, admin/ca-secrets.ts): listed, never applied or deleted. */
  readonly systemSecrets?: (mesh: string | undefined, now: Date) => readonly ResourceView[];
  /** The certificate PEM of a system secret (a builtin CA's `{mesh}.ca-builtin-cert-{backend}`), for `get secret NAME -o pem`. */
  readonly systemCertificate?: (mesh: string, name: string) => Promise<string | undefined>;
  /** The CA certificate that signs the mesh's certificates (admin/ca-secrets.ts meshCaCertificatePem), for `get mesh NAME -o pem`. */
  readonly meshCertificate?: (mesh: string) => Promise<string>;
}

export type CertificateResponse = { readonly ok: true; readonly pem: string } | { readonly ok: false; readonly status: 404 | 409; readonly error: string };

/** The most documents one apply may hold (README "Security model"). */
export const MAX_APPLY_DOCUMENTS = 1000;

export class ResourceApi {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ResourceApiOptions) {}

  /** Why `mesh` cannot be named (no Mesh resource of that name, and not `default`): the API answers 404 with it. */
  unknownMesh(mesh: string): string | undefined {
    const known = knownMeshes(this.options.sources.desired().resources);
    return known.has(mesh) ? undefined : unknownMeshMessage(mesh, known);
  }

  list(kind: ResourceKind, mesh?: string): ResourceView[] {
    const merged = this.options.sources.desired();
    const stored = new Map(this.options.store.current().map((s) => [resourceKey(s.resource), s]));
    const now = this.now();
    const pins = this.options.sources.pinned();
    const views = merged.resources
      .filter((r) => r.type === kind && (mesh === undefined || r.type === 'Mesh' || r.mesh === mesh))
      .map((r) => {
        const origin = merged.origins.get(resourceKey(r)) ?? 'api';
        return withPin(viewOf(r, origin, origin === 'api' ? stored.get(resourceKey(r)) : undefined, now), pins);
      });
    if (kind === 'Secret') views.push(...(this.options.systemSecrets?.(mesh, now) ?? []));
    return views.sort(compareViews);
  }

  get(ref: ResourceRef): ResourceView | undefined {
    const merged = this.options.sources.desired();
    const found = merged.resources.find((r) => resourceKey(r) === refKey(ref));
    if (!found) {
      if (ref.type !== 'Secret') return undefined;
      return this.options.systemSecrets?.(ref.mesh, this.now()).find((v) => v.resource['name'] === ref.name);
    }
    const origin = merged.origins.get(refKey(ref)) ?? 'api';
    const stored = origin === 'api' ? this.options.store.current().find((s) => resourceKey(s.resource) === refKey(ref)) : undefined;
    return withPin(viewOf(found, origin, stored, this.now()), this.options.sources.pinned());
  }

  /**
   * The certificates a secret holds, as PEM: a tls secret's chain, a tls-ca bundle, a generic
   * secret that decodes to certificates, a builtin mesh CA (its clients trust it for
   * meshcp-issued route certificates). Never a key.
   */
  async certificate(ref: ResourceRef): Promise<CertificateResponse> {
    const label = describeRefParts(ref);
    const found = this.options.sources.desired().resources.find((r) => resourceKey(r) === refKey(ref));
    if (found?.type === 'Secret') {
      const pem = certificatePemOf(found);
      return pem !== undefined ? { ok: true, pem } : { ok: false, status: 409, error: `${label} holds no certificate (a ${found.secretType} secret)` };
    }
    const builtin = builtinCaSecretBackend(ref.mesh, ref.name);
    const pem = await this.options.systemCertificate?.(ref.mesh, ref.name);
    if (pem !== undefined) return { ok: true, pem };
    if (builtin?.part === 'key') {
      return { ok: false, status: 409, error: `${label} is the private key of the builtin CA "${builtin.backend}": it never leaves the control plane; its certificate is ${ref.mesh}.ca-builtin-cert-${builtin.backend}` };
    }
    return { ok: false, status: 404, error: `${label} not found` };
  }

  async meshCertificate(mesh: string): Promise<CertificateResponse> {
    if (!this.options.meshCertificate) return { ok: false, status: 404, error: 'this server keeps no mesh CA' };
    try {
      return { ok: true, pem: await this.options.meshCertificate(mesh) };
    } catch (err) {
      return { ok: false, status: 409, error: `Mesh/${mesh}: its CA is not available: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  apply(request: ApplyRequest): Promise<ApplyResponse> {
    return this.exclusive(() => this.applyNow(request));
  }

  delete(ref: ResourceRef): Promise<DeleteResponse> {
    return this.exclusive(() => this.deleteNow(ref));
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  private async applyNow(request: ApplyRequest): Promise<ApplyResponse> {
    const errors: FieldError[] = [];
    const warnings: FieldError[] = [];
    const entries: ParsedEntry[] = [];
    let documents = 0;
    for (const file of request.files) {
      const scan = scanDocuments(file);
      documents += scan.documents;
      if (documents > MAX_APPLY_DOCUMENTS) {
        // Validation cost grows with the batch: refuse before parsing it any further.
        return { ok: false, status: 400, errors: [`too many documents in one apply: more than ${MAX_APPLY_DOCUMENTS}; split it into several applies`], warnings: [] };
      }
      errors.push(...scan.errors);
      if (scan.errors.length > 0) continue; // never let the parser open a file named by an API client
      const parsed = parseYamlEntries(file.content, { ...(file.name !== undefined ? { file: file.name } : {}), allowFiles: false });
      warnings.push(...parsed.warnings);
      if (parsed.ok) entries.push(...parsed.value);
      else errors.push(...parsed.errors);
    }
    errors.push(...findDuplicateResources(entries));
    // A document that did not parse leaves no entry: its own error says what to fix, and a count
    // of the entries that did parse would only add noise about the request's plumbing.
    if (request.ifRevision !== undefined && errors.length === 0 && entries.length !== 1) {
      errors.push({ path: '', message: `ifRevision (write only over the revision read) takes exactly one resource; this request has ${entries.length}: send one resource per request` });
    }
    if (errors.length === 0 && entries.length === 0) errors.push({ path: '', message: 'no resources to apply' });
    if (errors.length === 0) {
      const checked = this.checkBatch(entries, request.mode ?? 'apply');
      errors.push(...checked.errors);
      warnings.push(...checked.warnings);
    }
    // One unnamed document (route create, secret create): "#1" would only be noise.
    const single = request.files.length === 1 && request.files[0]?.name === undefined && documents === 1;
    const format = (e: FieldError): string => formatFieldError(single ? { ...e, document: undefined } : e);
    if (errors.length > 0) return { ok: false, status: 400, errors: errors.map(format), warnings: warnings.map(format) };
    const applied = request.dryRun ? this.predictOutcomes(entries) : await this.write(entries, request.ifRevision);
    const notes = warnings.map(format);
    const { sources } = this.options;
    const pending = sources.lastErrors;
    if (!request.dryRun && pending.length > 0) {
      notes.push(`${sources.describeSources()} are invalid (${pending.length} errors, first: ${pending[0] ?? ''}); meshcp keeps serving the last good set`);
    }
    for (const pin of sources.pinned().values()) {
      notes.push(`${pin.key} is pinned at its last good version: ${pin.errors[0] ?? ''}`);
    }
    return { ok: true, applied, warnings: notes, dryRun: request.dryRun ?? false };
  }

  private checkBatch(entries: readonly ParsedEntry[], mode: ApplyMode): { errors: FieldError[]; warnings: FieldError[] } {
    const errors: FieldError[] = [];
    const warnings: FieldError[] = [];
    const { sources, store } = this.options;
    const desired = sources.desired();
    const stored = new Set(store.current().map((s) => resourceKey(s.resource)));
    const at = (entry: ParsedEntry, path: string, message: string): FieldError => ({
      ...(entry.file !== undefined ? { file: entry.file } : {}),
      document: entry.document,
      resource: resourceLabel(entry.resource),
      path,
      message,
    });
    for (const entry of entries) {
      const r = entry.resource;
      const key = resourceKey(r);
      if (desired.origins.get(key) === 'config') {
        errors.push(at(entry, '', `${describeRef(r)} is defined in the --config files (${sources.configPaths().join(', ')}), which own it; change it there`));
        continue;
      }
      if (mode === 'create' && stored.has(key)) errors.push(at(entry, '', `${describeRef(r)} already exists`));
      if (mode === 'update' && !stored.has(key)) errors.push(at(entry, '', `${describeRef(r)} not found`));
    }
    if (errors.length > 0) return { errors, warnings };
    const batchKeys = new Set(entries.map((e) => resourceKey(e.resource)));
    // Checked on what it touches when it can be; anything to report is placed and worded by the whole-set check below.
    const alone = sources.checkAlone(
      entries.map((e) => e.resource),
      [],
      (r) => batchKeys.has(resourceKey(r)),
    );
    if (alone && alone.errors.length === 0 && alone.warnings.length === 0) return { errors, warnings };
    // Batch resources go last, so a clash (two routes, one host) is blamed on the new one.
    const candidateStore = [...store.current().map((s) => s.resource).filter((r) => !batchKeys.has(resourceKey(r))), ...entries.map((e) => e.resource)];
    // The batch's secrets are checked as they are applied (SPEC §1), by the same validator as serve and validate -f.
    // A resource the batch changes is checked normally, even if the current set has the same error
    // (a pinned Mesh whose CA expired: changing it must not slip the error past the check).
    const current = new Map(desired.resources.map((r) => [resourceKey(r), r]));
    const changedLabels = new Set(entries.filter((e) => !sameResource(current.get(resourceKey(e.resource)), e.resource)).map((e) => resourceLabel(e.resource)));
    const introduced = this.introducedIssues(candidateStore, (r) => batchKeys.has(resourceKey(r)), (e) => e.resource !== undefined && changedLabels.has(e.resource));
    const origins = new Map(entries.map((e) => [resourceLabel(e.resource), e]));
    const located = (e: FieldError): FieldError => {
      const entry = e.resource !== undefined && e.file === undefined ? origins.get(e.resource) : undefined;
      return entry ? { ...e, ...(entry.file !== undefined ? { file: entry.file } : {}), document: entry.document } : e;
    };
    errors.push(...introduced.errors.map(located));
    warnings.push(...introduced.warnings.map(located));
    return { errors, warnings };
  }

  /** Errors of the merged set with `candidateStore` that the current merged set does not have. */
  private introducedErrors(candidateStore: readonly Resource[]): FieldError[] {
    return this.introducedIssues(candidateStore).errors;
  }

  /** Errors and warnings of the merged set with `candidateStore` that the current merged set does not have. */
  private introducedIssues(
    candidateStore: readonly Resource[],
    alsoCheckSecret?: (r: Resource) => boolean,
    alwaysReport: (e: FieldError) => boolean = () => false,
  ): { errors: FieldError[]; warnings: FieldError[] } {
    const { sources } = this.options;
    const desired = sources.desired();
    const current = sources.check(desired);
    const baseline = new Set(current.errors.map(formatFieldError));
    const baselineWarnings = new Set(current.warnings.map(formatFieldError));
    const fromFiles = desired.resources.filter((r) => desired.origins.get(resourceKey(r)) === 'config');
    const candidate = sources.check(mergeResources(fromFiles, candidateStore), alsoCheckSecret ? { alsoCheckSecret } : {});
    return {
      errors: candidate.errors.filter((e) => alwaysReport(e) || !baseline.has(formatFieldError(e))),
      warnings: candidate.warnings.filter((w) => !baselineWarnings.has(formatFieldError(w))),
    };
  }

  private predictOutcomes(entries: readonly ParsedEntry[]): AppliedResource[] {
    const stored = new Map(this.options.store.current().map((s) => [resourceKey(s.resource), s.resource]));
    return entries.map((e) => {
      const existing = stored.get(resourceKey(e.resource));
      const outcome: ChangeOutcome = !existing ? 'created' : sameContent(existing, e.resource) ? 'unchanged' : 'updated';
      return appliedResource(e.resource, outcome);
    });
  }

  private async write(entries: readonly ParsedEntry[], ifRevision?: string): Promise<AppliedResource[]> {
    const outcomes = await this.options.store.apply(entries.map((e) => ({ op: 'put' as const, resource: e.resource, ...(ifRevision !== undefined ? { expectedRevision: ifRevision } : {}) })));
    return entries.map((e, i) => appliedResource(e.resource, outcomes[i]?.outcome ?? 'unchanged'));
  }

  private async deleteNow(ref: ResourceRef): Promise<DeleteResponse> {
    const { sources, store } = this.options;
    const key = refKey(ref);
    const label = describeRefParts(ref);
    const inStore = store.current().some((s) => resourceKey(s.resource) === key);
    const inFiles = sources.desired().origins.get(key) === 'config';
    if (!inStore && inFiles) {
      return { ok: false, status: 409, errors: [`${label} is defined in the --config files (${sources.configPaths().join(', ')}), which own it; remove it there`], warnings: [] };
    }
    const builtin = ref.type === 'Secret' ? builtinCaSecretBackend(ref.mesh, ref.name) : undefined;
    if (!inStore && builtin) {
      return {
        ok: false,
        status: 409,
        errors: [
          `${label} is managed by the builtin CA backend "${builtin.backend}" of Mesh/${ref.mesh} and cannot be deleted (proxies' certificates chain to it); to rotate the CA, add a new builtin backend to the Mesh's mtls.backends and set mtls.enabledBackend to it: proxies trust both CAs during the switch`,
        ],
        warnings: [],
      };
    }
    if (!inStore) return { ok: false, status: 404, errors: [`${label} not found`], warnings: [] };
    const alone = inFiles ? undefined : sources.checkAlone([], [ref], () => false);
    if (!inFiles && !(alone && alone.errors.length === 0)) {
      const remaining = store.current().map((s) => s.resource).filter((r) => resourceKey(r) !== key);
      const broken = this.introducedErrors(remaining);
      if (broken.length > 0) {
        return { ok: false, status: 409, errors: broken.map((e) => `cannot delete ${label}: ${formatFieldError(e)}`), warnings: [] };
      }
    }
    await store.delete(ref);
    const warnings = inFiles ? [`removed the API copy of ${label}; the --config files still define it`] : [];
    // The last TrafficPermission of an mTLS mesh: from now on every call in it is denied.
    if (!inFiles && ref.type === 'TrafficPermission') {
      const remaining = sources.desired().resources.filter((r) => resourceKey(r) !== key);
      warnings.push(...defaultDenyWarnings(remaining, new Set([ref.mesh])).map(formatFieldError));
    }
    return { ok: true, outcome: 'deleted', warnings };
  }
}

function sameResource(a: Resource | undefined, b: Resource): boolean {
  return a !== undefined && sameContent(a, b);
}

function appliedResource(r: Resource, outcome: ChangeOutcome): AppliedResource {
  return { type: r.type, ...(r.type !== 'Mesh' ? { mesh: r.mesh } : {}), name: r.name, outcome };
}

function describeRef(r: Resource): string {
  return describeRefParts(refOf(r));
}

function describeRefParts(ref: ResourceRef): string {
  return ref.type === 'Mesh' ? `Mesh/${ref.name}` : `${ref.type}/${ref.name} in mesh "${ref.mesh}"`;
}

function compareViews(a: ResourceView, b: ResourceView): number {
  const key = (v: ResourceView): string => `${typeof v.resource['mesh'] === 'string' ? v.resource['mesh'] : ''}/${String(v.resource['name'])}`;
  const ka = key(a);
  const kb = key(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

const CLIENT_SIDE_FIELDS: Readonly<Record<string, string>> = { certFile: 'cert', keyFile: 'key' };

/**
 * Counts documents, and refuses `certFile`/`keyFile`: the server must not read files named by
 * an API client (they name files on the client's machine; `meshcp apply -f` inlines them).
 */
function scanDocuments(file: ApplyFile): { documents: number; errors: FieldError[] } {
  const errors: FieldError[] = [];
  let documents = 0;
  YAML.parseAllDocuments(file.content).forEach((doc, i) => {
    if (doc.errors.length > 0) return;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch {
      return;
    }
    if (value === null || value === undefined) return;
    documents++;
    const items: [unknown, string][] = Array.isArray(value) ? value.map((v: unknown, j): [unknown, string] => [v, `[${j}].`]) : [[value, '']];
    for (const [item, prefix] of items) {
      if (!isPlainObject(item) || item['type'] !== 'Secret') continue;
      for (const [fileField, inlineField] of Object.entries(CLIENT_SIDE_FIELDS)) {
        if (item[fileField] === undefined) continue;
        errors.push({
          ...(file.name !== undefined ? { file: file.name } : {}),
          document: i + 1,
          resource: typeof item['name'] === 'string' ? `Secret/${item['name']}` : 'Secret',
          path: `${prefix}${fileField}`,
          message: `the admin API does not read files: inline the PEM as "${inlineField}" (meshcp apply -f does this for you)`,
        });
      }
    }
  });
  return { documents, errors };
}

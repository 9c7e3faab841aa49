/**
 * YAML text → validated resources. Every error of every document is collected and returned
 * (SPEC §1: file, document index, resource and field path); nothing is thrown.
 */
import YAML from 'yaml';
import { errorResult, okResult, type FieldError, type Result } from './errors.js';
import { KUMA_API_VERSION, readKubernetesForm } from './kuma-forms.js';
import { describeType, isAbsent, isPlainObject, Issues, MAX_NAME_LENGTH, readName, type DocumentContext, type YamlObject } from './fields.js';
import { labelPart } from './quote.js';
import { nearest } from './suggest.js';
import { RESOURCE_KINDS, resourceKey, resourceLabel, type Resource, type ResourceKind } from './types.js';
import { validateDataplane } from './validate-dataplane.js';
import { validateGateway } from './validate-gateway.js';
import { validateMesh } from './validate-mesh.js';
import { validateRoute } from './validate-route.js';
import { convertKubernetesSecret, validateSecret } from './validate-secret.js';
import { validateService } from './validate-service.js';
import { validateTrafficPermission } from './validate-traffic-permission.js';

export type { DocumentContext } from './fields.js';

type Scope = { name: string; mesh: string };
type KindValidator = (o: YamlObject, scope: Scope, issues: Issues, ctx: DocumentContext) => Resource;

const VALIDATORS: Readonly<Record<ResourceKind, KindValidator>> = {
  Mesh: validateMesh,
  Dataplane: validateDataplane,
  Service: validateService,
  Secret: validateSecret,
  Gateway: validateGateway,
  Route: validateRoute,
  TrafficPermission: validateTrafficPermission,
};

function isKind(v: unknown): v is ResourceKind {
  return RESOURCE_KINDS.some((k) => k === v);
}

function validateOne(doc: unknown, issues: Issues, ctx: DocumentContext): Resource[] {
  if (!isPlainObject(doc)) {
    issues.error('', `expected a resource mapping with "type" and "name", got ${describeType(doc)}`);
    return [];
  }
  const o: YamlObject = doc;
  if (!isAbsent(o['kind']) || !isAbsent(o['apiVersion'])) return validateKubernetesForm(o, issues, ctx);
  const type = o['type'];
  // The label starts every error line: only a known kind and a valid name go into it verbatim,
  // anything else (a long or multi-line value, a pasted key) is quoted safely.
  if (typeof type === 'string') {
    const kind = labelPart(type, 40);
    const name = o['name'];
    issues.resource = typeof name === 'string' ? `${kind}/${labelPart(name, MAX_NAME_LENGTH)}` : kind;
  }
  if (!isKind(type)) {
    if (isAbsent(type)) issues.error('type', `required field is missing; known types: ${RESOURCE_KINDS.join(', ')}`);
    else {
      const suggestion = typeof type === 'string' ? nearest(type, RESOURCE_KINDS) : undefined;
      const hint = suggestion !== undefined ? ` did you mean "${suggestion}"?` : '';
      issues.error('type', `unknown type ${describeType(type)};${hint} known types: ${RESOURCE_KINDS.join(', ')}`);
    }
    return [];
  }
  const before = issues.errors.length;
  const name = readName(o['name'], 'name', issues) ?? '';
  const mesh = type === 'Mesh' ? '' : (readName(o['mesh'] ?? 'default', 'mesh', issues) ?? '');
  const resource = VALIDATORS[type](o, { name, mesh }, issues, ctx);
  return issues.errors.length > before ? [] : [resource];
}

/**
 * A Kubernetes document: Kuma's `kuma.io/v1alpha1` kinds (kuma-forms.ts), or a `v1` Secret
 * (cert-manager's `kubernetes.io/tls`, Kuma's `system.kuma.io/secret`).
 */
function validateKubernetesForm(o: YamlObject, issues: Issues, ctx: DocumentContext): Resource[] {
  if (o['apiVersion'] !== KUMA_API_VERSION) return convertKubernetesSecret(o, issues);
  const before = issues.errors.length;
  const form = readKubernetesForm(o, issues);
  if (!form) return [];
  // The validator sees the universal form; its paths are under `spec.` as the user wrote them.
  const inSpec = issues.child('spec');
  inSpec.resource = issues.resource;
  const universal: YamlObject = { ...form.spec, type: form.kind, name: form.name, ...(form.kind !== 'Mesh' ? { mesh: form.mesh } : {}) };
  const resource = VALIDATORS[form.kind](universal, { name: form.name, mesh: form.mesh }, inSpec, ctx);
  return issues.errors.length > before ? [] : [resource];
}

/** One YAML document: usually one resource; a Kubernetes TLS secret with `ca.crt` gives two, a JSON list gives one per entry. */
export function validateDocument(doc: unknown, ctx: DocumentContext = {}): Result<Resource[]> {
  const issues = new Issues({ file: ctx.file, document: ctx.document });
  const resources = Array.isArray(doc) ? doc.flatMap((item: unknown, i) => validateOne(item, issues.child(`[${i}]`), ctx)) : validateOne(doc, issues, ctx);
  return issues.errors.length > 0 ? errorResult(issues.errors, issues.warnings) : okResult(resources, issues.warnings);
}

/** Exactly one resource from one document. */
export function validateResource(doc: unknown, ctx: DocumentContext = {}): Result<Resource> {
  const result = validateDocument(doc, ctx);
  if (!result.ok) return result;
  const [only] = result.value;
  if (only === undefined || result.value.length !== 1) {
    const message = `expected one resource, the document defines ${result.value.length}`;
    return errorResult([{ ...(ctx.file !== undefined ? { file: ctx.file } : {}), ...(ctx.document !== undefined ? { document: ctx.document } : {}), path: '', message }], result.warnings);
  }
  return okResult(only, result.warnings);
}

export interface ParsedEntry {
  readonly resource: Resource;
  readonly file?: string;
  readonly document: number;
}

/** Every resource of a multi-document YAML (or JSON) text with where it came from, or every error of every document; duplicates are `findDuplicateResources`'. */
export function parseYamlEntries(text: string, ctx: { file?: string; baseDir?: string; allowFiles?: boolean } = {}): Result<ParsedEntry[]> {
  const errors: FieldError[] = [];
  const warnings: FieldError[] = [];
  const entries: ParsedEntry[] = [];
  const origin = (document: number): { file?: string; document: number } => ({ ...(ctx.file !== undefined ? { file: ctx.file } : {}), document });
  YAML.parseAllDocuments(text).forEach((yamlDoc, i) => {
    const document = i + 1;
    for (const w of yamlDoc.warnings) warnings.push({ ...origin(document), path: '', message: firstLine(w.message) });
    if (yamlDoc.errors.length > 0) {
      for (const e of yamlDoc.errors) errors.push({ ...origin(document), path: '', message: `YAML syntax error: ${firstLine(e.message)}` });
      return;
    }
    let value: unknown;
    try {
      value = yamlDoc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      errors.push({ ...origin(document), path: '', message: `YAML error: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    if (isAbsent(value)) return; // an empty document, e.g. a trailing '---' or only comments
    const result = validateDocument(value, { ...ctx, document });
    warnings.push(...result.warnings);
    if (!result.ok) errors.push(...result.errors);
    else for (const resource of result.value) entries.push({ resource, ...origin(document) });
  });
  return errors.length > 0 ? errorResult(errors, warnings) : okResult(entries, warnings);
}

/** Two documents defining the same `resourceKey` would silently shadow each other: an error at the later one. */
export function findDuplicateResources(entries: readonly ParsedEntry[]): FieldError[] {
  const first = new Map<string, ParsedEntry>();
  const errors: FieldError[] = [];
  for (const entry of entries) {
    const key = resourceKey(entry.resource);
    const previous = first.get(key);
    if (!previous) {
      first.set(key, entry);
      continue;
    }
    const where = `${previous.file ?? ''}#${previous.document}`;
    errors.push({
      ...(entry.file !== undefined ? { file: entry.file } : {}),
      document: entry.document,
      resource: resourceLabel(entry.resource),
      path: 'name',
      message: `duplicate resource ${key}: already defined at ${where}`,
    });
  }
  return errors;
}

function firstLine(message: string): string {
  return message.split('\n', 1)[0] ?? message;
}

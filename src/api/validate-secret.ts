/**
 * Secret (SPEC §1 Secret): shape only here; PEM parsing, key/cert match and expiry are checked
 * where secrets are applied. Also the Kubernetes `kubernetes.io/tls` form that cert-manager writes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describeType, field, FILE_REFERENCE_REFUSED, isAbsent, isPlainObject, readEnum, readName, readObject, readString, type DocumentContext, type Issues, type YamlObject } from './fields.js';
import { kubernetesMesh, warnNamespace } from './kuma-forms.js';
import type { SecretResource } from './types.js';

const SECRET_FIELDS = ['type', 'name', 'mesh', 'secretType', 'cert', 'certFile', 'key', 'keyFile'] as const;

/** Reads `inlineKey` or the file named by `fileKey` (relative to the YAML file); exactly one of them. */
function readPem(o: YamlObject, inlineKey: string, fileKey: string, issues: Issues, ctx: DocumentContext): string | undefined {
  const hasInline = !isAbsent(o[inlineKey]);
  const hasFile = !isAbsent(o[fileKey]);
  if (hasInline && hasFile) {
    issues.error(fileKey, `set only one of ${inlineKey} and ${fileKey}`);
    return undefined;
  }
  if (!hasInline && !hasFile) {
    issues.error(inlineKey, `required field is missing (or set ${fileKey})`);
    return undefined;
  }
  if (hasInline) return readString(o[inlineKey], inlineKey, issues, true);
  if (ctx.allowFiles === false) {
    issues.error(fileKey, FILE_REFERENCE_REFUSED);
    return undefined;
  }
  const file = readString(o[fileKey], fileKey, issues, true);
  if (file === undefined) return undefined;
  const resolved = path.resolve(ctx.baseDir ?? process.cwd(), file);
  try {
    return fs.readFileSync(resolved, 'utf8');
  } catch (err) {
    const code = err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : String(err);
    issues.error(fileKey, `cannot read ${JSON.stringify(resolved)}: ${code}`);
    return undefined;
  }
}

/**
 * Kuma's universal Secret (`type: Secret`, `name`, `mesh`, `data: <base64>`): opaque bytes, kept
 * as a `generic` secret. The stored form (`secretType: generic`, the base64 in `key`) reads back.
 */
function validateGenericSecret(o: YamlObject, scope: { name: string; mesh: string }, issues: Issues): SecretResource {
  const stored = o['secretType'] === 'generic';
  readObject(o, '', issues, stored ? ['type', 'name', 'mesh', 'secretType', 'cert', 'key'] : ['type', 'name', 'mesh', 'data']);
  if (stored && !isAbsent(o['cert']) && o['cert'] !== '') issues.error('cert', 'a generic secret holds only data');
  const dataPath = stored ? 'key' : 'data';
  const raw = readString(o[dataPath], dataPath, issues, true);
  const data = raw === undefined ? undefined : readBase64(raw, dataPath, issues);
  return { type: 'Secret', name: scope.name, mesh: scope.mesh, secretType: 'generic', cert: '', key: data ?? '' };
}

/** Whitespace-free base64, or an error (never quoting the value: it may be a key). */
function readBase64(raw: string, path: string, issues: Issues): string | undefined {
  const compact = raw.replace(/\s+/g, '');
  if (!BASE64.test(compact) || compact.length % 4 === 1) {
    issues.error(path, 'invalid base64 (Kuma secrets hold base64 data, e.g. `base64 -w0 < ca.pem`)');
    return undefined;
  }
  if (compact === '') {
    issues.error(path, 'must not be empty');
    return undefined;
  }
  return compact;
}

export function validateSecret(o: YamlObject, scope: { name: string; mesh: string }, issues: Issues, ctx: DocumentContext): SecretResource {
  if (o['secretType'] === 'generic' || (!isAbsent(o['data']) && isAbsent(o['secretType']))) return validateGenericSecret(o, scope, issues);
  readObject(o, '', issues, SECRET_FIELDS);
  if (!isAbsent(o['data'])) issues.error('data', "is Kuma's generic secret form (type, name, mesh, data only): drop secretType, or give cert/key");
  const secretType = readEnum(o['secretType'], 'secretType', issues, ['tls', 'tls-ca'] as const, true);
  const cert = readPem(o, 'cert', 'certFile', issues, ctx) ?? '';
  let key: string | undefined;
  if (secretType === 'tls') key = readPem(o, 'key', 'keyFile', issues, ctx);
  if (secretType === 'tls-ca') {
    for (const k of ['key', 'keyFile']) {
      if (!isAbsent(o[k])) issues.error(k, 'a tls-ca secret holds CA certificates only and must not have a key');
    }
  }
  return { type: 'Secret', name: scope.name, mesh: scope.mesh, secretType: secretType ?? 'tls', cert, ...(key !== undefined ? { key } : {}) };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const K8S_FIELDS = ['apiVersion', 'kind', 'type', 'metadata', 'data', 'stringData', 'immutable'] as const;
const K8S_DATA_KEYS = ['tls.crt', 'tls.key', 'ca.crt'] as const;
/** The type Kuma gives its own secrets on Kubernetes (one `data.value`). */
const KUMA_SECRET_TYPE = 'system.kuma.io/secret';

function decodeData(data: YamlObject, key: string, issues: Issues, required: boolean): string | undefined {
  const p = field('data', key);
  const raw = data[key];
  if (isAbsent(raw)) {
    if (required) issues.error(p, 'required field is missing');
    return undefined;
  }
  if (typeof raw !== 'string') {
    issues.error(p, `expected a base64 string, got ${describeType(raw)}`);
    return undefined;
  }
  const compact = raw.replace(/\s+/g, '');
  if (!BASE64.test(compact) || compact.length % 4 === 1) {
    issues.error(p, 'invalid base64');
    return undefined;
  }
  const decoded = Buffer.from(compact, 'base64').toString('utf8');
  if (decoded.trim() === '') {
    if (required) issues.error(p, 'must not be empty');
    return undefined;
  }
  return decoded;
}

/**
 * `kind: Secret` with `type: kubernetes.io/tls` → a tls Secret, plus `<name>-ca` (tls-ca) when
 * `ca.crt` is present; with Kuma's `type: system.kuma.io/secret` → a generic secret of `data.value`.
 */
export function convertKubernetesSecret(o: YamlObject, issues: Issues): SecretResource[] {
  readObject(o, '', issues, K8S_FIELDS);
  if (o['kind'] !== 'Secret') {
    const apiVersion = isAbsent(o['apiVersion']) ? 'without apiVersion' : `with apiVersion ${describeType(o['apiVersion'])}`;
    issues.error('kind', `${apiVersion} only Kubernetes "kind: Secret" (type kubernetes.io/tls or system.kuma.io/secret) is accepted, got ${describeType(o['kind'])}; Kuma's Mesh, Dataplane and TrafficPermission take apiVersion: kuma.io/v1alpha1`);
    return [];
  }
  if (o['type'] === KUMA_SECRET_TYPE) return convertKumaSecret(o, issues);
  // Kubernetes metadata carries many server-set fields (uid, managedFields, …): only name and the mesh label matter.
  const metadata = readObject(o['metadata'], 'metadata', issues, Object.keys(isPlainObject(o['metadata']) ? o['metadata'] : {}), true);
  const name = metadata ? readName(metadata['name'], 'metadata.name', issues) : undefined;
  if (name !== undefined) issues.resource = `Secret/${name}`;
  const mesh = kubernetesMesh({}, metadata, issues);
  if (o['type'] !== 'kubernetes.io/tls') {
    issues.error('type', `expected "kubernetes.io/tls" or "${KUMA_SECRET_TYPE}", got ${describeType(o['type'])}`);
  }
  if (!isAbsent(o['stringData'])) issues.error('stringData', 'not supported; use base64 "data" as cert-manager writes it');
  const data = readObject(o['data'], 'data', issues, Object.keys(isPlainObject(o['data']) ? o['data'] : {}), true);
  if (!data) return [];
  for (const key of Object.keys(data)) {
    if (!K8S_DATA_KEYS.some((k) => k === key)) issues.warn(field('data', key), `ignored; only ${K8S_DATA_KEYS.join(', ')} are used`);
  }
  const cert = decodeData(data, 'tls.crt', issues, true);
  const key = decodeData(data, 'tls.key', issues, true);
  const ca = decodeData(data, 'ca.crt', issues, false);
  if (name === undefined || mesh === undefined || cert === undefined || key === undefined) return [];
  const tls: SecretResource = { type: 'Secret', name, mesh, secretType: 'tls', cert, key };
  return ca === undefined ? [tls] : [tls, { type: 'Secret', name: `${name}-ca`, mesh, secretType: 'tls-ca', cert: ca }];
}

/** Kuma's secret on Kubernetes, as its docs print it: `type: system.kuma.io/secret`, base64 `data.value`, the mesh in the `kuma.io/mesh` label. */
function convertKumaSecret(o: YamlObject, issues: Issues): SecretResource[] {
  const metadata = readObject(o['metadata'], 'metadata', issues, Object.keys(isPlainObject(o['metadata']) ? o['metadata'] : {}), true);
  const name = metadata ? readName(metadata['name'], 'metadata.name', issues) : undefined;
  if (name !== undefined) issues.resource = `Secret/${name}`;
  warnNamespace(metadata, issues);
  const mesh = kubernetesMesh({}, metadata, issues);
  if (!isAbsent(o['stringData'])) issues.error('stringData', 'not supported; use base64 "data.value" as the Kuma docs do');
  const data = readObject(o['data'], 'data', issues, ['value'], true);
  const raw = data ? readString(data['value'], 'data.value', issues, true) : undefined;
  const value = raw === undefined ? undefined : readBase64(raw, 'data.value', issues);
  if (name === undefined || mesh === undefined || value === undefined) return [];
  return [{ type: 'Secret', name, mesh, secretType: 'generic', cert: '', key: value }];
}

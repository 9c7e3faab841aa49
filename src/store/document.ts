/**
 * Typed resources back to the YAML form users write, so that what the store keeps and what
 * `get -o yaml` prints can be applied again and parses to the same resource.
 */
import { validateResource } from '../api/parse.js';
import { formatFieldError } from '../api/errors.js';
import type { MeshResource, MtlsBackend, Resource } from '../api/types.js';

export type ResourceDocument = Readonly<Record<string, unknown>>;

function backendDocument(b: MtlsBackend): ResourceDocument {
  const common = { name: b.name, type: b.type, mode: b.mode, dpCert: { rotation: { expiration: b.dpCert.rotation.expiration } } };
  if (b.type === 'builtin') {
    const { RSAbits, keyType, expiration } = b.conf.caCert;
    return { ...common, conf: { caCert: keyType === 'ECDSA' ? { keyType, expiration } : { RSAbits, expiration } } };
  }
  return { ...common, conf: { cert: { ...b.conf.cert }, key: { ...b.conf.key } } };
}

function meshDocument(m: MeshResource): ResourceDocument {
  if (!m.mtls) return { type: m.type, name: m.name };
  const mtls = { ...(m.mtls.enabledBackend !== undefined ? { enabledBackend: m.mtls.enabledBackend } : {}), backends: m.mtls.backends.map(backendDocument) };
  return { type: m.type, name: m.name, mtls };
}

/** A plain JSON-compatible copy in the user-facing shape, `type`, `name` and `mesh` first. */
export function resourceToDocument(r: Resource): ResourceDocument {
  if (r.type === 'Mesh') return meshDocument(r);
  const { type, name, mesh, ...rest } = r;
  return JSON.parse(JSON.stringify({ type, name, mesh, ...rest })) as ResourceDocument;
}

/**
 * Parses a stored document; a document that no longer validates is an error naming it. What a
 * store holds is content: a `file:`, `certFile` or `keyFile` in it (written by hand) is refused,
 * never read, as only `--config` files and `validate -f` may name files on the server's disk.
 */
export function documentToResource(doc: unknown, origin: string): Resource {
  const result = validateResource(doc, { file: origin, stored: true, allowFiles: false });
  if (!result.ok) throw new Error(result.errors.map(formatFieldError).join('; '));
  return result.value;
}

/** Stable content comparison: the same document means the same resource. */
export function sameContent(a: Resource, b: Resource): boolean {
  return canonicalJson(resourceToDocument(a)) === canonicalJson(resourceToDocument(b));
}

export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_key, value: unknown) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) sorted[k] = (value as Record<string, unknown>)[k];
    return sorted;
  });
}

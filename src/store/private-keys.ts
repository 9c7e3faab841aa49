/**
 * Where private keys sit in a stored resource document, so a store can seal every one of them at
 * rest (SPEC §5: "private keys stored in etcd are encrypted"), not only the Secret's `key`:
 *
 *   Secret   `key`                                  (tls: the PEM key; generic: Kuma's base64 `data`)
 *   Mesh     `mtls.backends[i].conf.key.inline`     (a provided CA's key given inline, or as `file:`
 *                                                    through `meshcp apply -f`, which sends it inline)
 *
 * A new kind of key field is added here and nowhere else: both the etcd store and its tests walk
 * documents through `mapPrivateKeys`.
 */
import type { ResourceDocument } from './document.js';

/** Turns one private key value into another (seal or open); `field` is its path in the document. */
export type KeyTransform = (value: string, field: string) => string;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A copy of `doc` with every private key field passed through `transform`; the same object when it has none. */
export function mapPrivateKeys(doc: ResourceDocument, transform: KeyTransform): ResourceDocument {
  if (doc['type'] === 'Secret') {
    const key = doc['key'];
    return typeof key === 'string' ? { ...doc, key: transform(key, 'key') } : doc;
  }
  if (doc['type'] !== 'Mesh' || !isObject(doc['mtls']) || !Array.isArray(doc['mtls']['backends'])) return doc;
  const mtls = doc['mtls'];
  let changed = false;
  const backends = (mtls['backends'] as unknown[]).map((backend, i) => {
    if (!isObject(backend) || !isObject(backend['conf']) || !isObject(backend['conf']['key'])) return backend;
    const inline = backend['conf']['key']['inline'];
    if (typeof inline !== 'string') return backend;
    changed = true;
    const key = { ...backend['conf']['key'], inline: transform(inline, `mtls.backends[${i}].conf.key.inline`) };
    return { ...backend, conf: { ...backend['conf'], key } };
  });
  return changed ? { ...doc, mtls: { ...mtls, backends } } : doc;
}


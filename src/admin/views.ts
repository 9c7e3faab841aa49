/**
 * What the admin API returns for a resource. Secrets are summarized: type, subject,
 * fingerprint and expiry, never the key (SPEC §1: private keys never appear in API responses).
 */
import type { Resource, SecretResource } from '../api/types.js';
import { summarizeSecret, type SecretSummary } from '../ca/secret-material.js';
import type { Origin } from '../sources/merged.js';
import type { PinnedResource } from '../sources/pins.js';
import { resourceToDocument, type ResourceDocument } from '../store/document.js';
import type { StoredResource } from '../store/store.js';

export interface CaKeySummary {
  /** SHA-256 of the public key (SubjectPublicKeyInfo DER). */
  readonly fingerprintSha256: string;
  readonly keyType: string;
  readonly publicKeySha256: string;
  readonly privateKey: '(hidden)';
  readonly notAfter?: string;
  readonly expiresInDays?: number;
}

export interface ResourceView {
  /** The resource as users write it; for a Secret only type, name, mesh and secretType. */
  readonly resource: ResourceDocument;
  /** `system`: material meshcp made itself, e.g. a builtin mesh CA (admin/ca-secrets.ts). */
  readonly origin: Origin | 'system';
  readonly creationTime?: string;
  readonly modificationTime?: string;
  /** The store's revision of the record (etcd), for a read-modify-write with `?ifRevision=` (SPEC §5). */
  readonly revision?: string;
  /** Secrets only: a certificate summary, or for a CA key the type and fingerprint of its public half. */
  readonly secret?: SecretSummary | CaKeySummary;
  /** Proxies that currently refuse (NACK) config generated from this resource, with their errors. */
  readonly nacks?: readonly { readonly proxy: string; readonly mesh: string; readonly type: string; readonly error: string; readonly hint?: string }[];
  /**
   * Present when the resource no longer validates although it did not change (its CA file was
   * rewritten, its certificate expired): it is served at its last good version, with these errors,
   * since then (sources/resource-sources.ts).
   */
  readonly pinned?: { readonly errors: readonly string[]; readonly since: string };
}

/** The view with its pin, when the resource is pinned at its last good version. */
export function withPin(view: ResourceView, pins: ReadonlyMap<string, PinnedResource>): ResourceView {
  const found = pins.get(viewKey(view));
  return found ? { ...view, pinned: { errors: found.errors, since: found.since } } : view;
}

function viewKey(view: ResourceView): string {
  const r = view.resource as { type?: unknown; mesh?: unknown; name?: unknown };
  return r.type === 'Mesh' ? `Mesh/${String(r.name)}` : `${String(r.type)}/${String(r.mesh)}/${String(r.name)}`;
}

/** The view with the NACKs of the config generated from it, when there are any. */
export function withNacks(view: ResourceView, nacks: ReadonlyMap<string, ResourceView['nacks']> | undefined): ResourceView {
  const found = nacks?.get(viewKey(view));
  return found && found.length > 0 ? { ...view, nacks: found } : view;
}

/** What replaces key material in a view; it is not base64 PEM, so applying the view back fails clearly. */
export const REDACTED = '<redacted>';

/**
 * A Mesh as users write it, minus key material: a provided CA's
 * `conf.key.inline` is the CA private key. `secret` and `file` sources only name where it is.
 */
function meshView(r: Resource & { type: 'Mesh' }): ResourceDocument {
  const doc = resourceToDocument(r);
  if (!r.mtls) return doc;
  const mtls = doc['mtls'] as { backends: Record<string, unknown>[] } & Record<string, unknown>;
  const backends = mtls.backends.map((b) => {
    const conf = b['conf'] as Record<string, unknown> | undefined;
    const key = conf?.['key'] as Record<string, unknown> | undefined;
    if (b['type'] !== 'provided' || key === undefined || !('inline' in key)) return b;
    return { ...b, conf: { ...conf, key: { inline: REDACTED } } };
  });
  return { ...doc, mtls: { ...mtls, backends } };
}

export function viewOf(r: Resource, origin: Origin, stored: StoredResource | undefined, now: Date): ResourceView {
  const times = stored ? { creationTime: stored.creationTime, modificationTime: stored.modificationTime, ...(stored.revision !== undefined ? { revision: stored.revision } : {}) } : {};
  if (r.type === 'Mesh') return { resource: meshView(r), origin, ...times };
  if (r.type !== 'Secret') return { resource: resourceToDocument(r), origin, ...times };
  const summary = secretSummary(r, now);
  return {
    resource: { type: r.type, name: r.name, mesh: r.mesh, secretType: r.secretType },
    origin,
    ...times,
    ...(summary ? { secret: summary } : {}),
  };
}

/**
 * A generic (Kuma) secret is opaque data, never shown; when it decodes to a PEM certificate (a
 * provided CA's `conf.cert.secret`), `get` shows that certificate's fingerprint and expiry.
 */
function secretSummary(r: SecretResource, now: Date): SecretSummary | undefined {
  if (r.secretType !== 'generic') return summarizeSecret(r, now);
  const certificates = certificatePemOf(r);
  if (certificates === undefined) return undefined;
  const summary = summarizeSecret({ ...r, secretType: 'tls-ca', cert: certificates }, now);
  return summary ? { ...summary, secretType: 'generic' } : undefined;
}

/** The certificate PEM of a secret (`get secret NAME -o pem`): never a key; undefined when it holds no certificate. */
export function certificatePemOf(r: SecretResource): string | undefined {
  const pem = r.secretType === 'generic' ? Buffer.from(r.key ?? '', 'base64').toString('utf8') : r.cert;
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  return blocks ? `${blocks.join('\n')}\n` : undefined;
}

/**
 * What the admin API returns for a resource. Secrets are summarized: type, subject,
 * fingerprint and expiry, never the key (SPEC §1: private keys never appear in API responses).
 */
import type { Resource } from '../api/types.js';
import { summarizeSecret, type SecretSummary } from '../ca/secret-material.js';
import type { Origin } from '../runtime/resource-sources.js';
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
  /** Secrets only: a certificate summary, or for a CA key the type and fingerprint of its public half. */
  readonly secret?: SecretSummary | CaKeySummary;
}

export function viewOf(r: Resource, origin: Origin, stored: StoredResource | undefined, now: Date): ResourceView {
  const times = stored ? { creationTime: stored.creationTime, modificationTime: stored.modificationTime } : {};
  if (r.type !== 'Secret') return { resource: resourceToDocument(r), origin, ...times };
  const summary = summarizeSecret(r, now);
  return {
    resource: { type: r.type, name: r.name, mesh: r.mesh, secretType: r.secretType },
    origin,
    ...times,
    ...(summary ? { secret: summary } : {}),
  };
}

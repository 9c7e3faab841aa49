/**
 * Builtin CA material as `get secrets` lists it (SPEC §1 Mesh, Kuma's storage names):
 * `{mesh}.ca-builtin-cert-{backend}` with the usual certificate summary, and
 * `{mesh}.ca-builtin-key-{backend}` with only the type and fingerprint of its public half.
 * The private key itself never leaves the store.
 */
import crypto from 'node:crypto';
import { builtinCaCertSecretName, builtinCaKeySecretName } from '../ca/providers/builtin.js';
import type { MeshCa } from '../ca/providers/types.js';
import { summarizeSecret } from '../ca/secret-material.js';
import type { ResourceView } from './views.js';

/** A secretType that no user Secret has: the CLI's TYPE column shows it. */
export const CA_KEY_SECRET_TYPE = 'ca-key';

function publicKeySummary(ca: MeshCa): { keyType: string; publicKeySha256: string } {
  const publicKey = new crypto.X509Certificate(ca.certPem).publicKey;
  const details = publicKey.asymmetricKeyDetails;
  const size = details?.modulusLength !== undefined ? ` ${details.modulusLength}` : details?.namedCurve !== undefined ? ` ${details.namedCurve}` : '';
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const digest = crypto.createHash('sha256').update(spki).digest('hex').toUpperCase().match(/../g)?.join(':') ?? '';
  return { keyType: `${(publicKey.asymmetricKeyType ?? 'unknown').toUpperCase()}${size}`, publicKeySha256: digest };
}

export function caSecretViews(cas: readonly MeshCa[], now: Date, mesh?: string): ResourceView[] {
  const views: ResourceView[] = [];
  for (const ca of cas) {
    if (mesh !== undefined && ca.mesh !== mesh) continue;
    const times = ca.creationTime !== undefined ? { creationTime: ca.creationTime, modificationTime: ca.creationTime } : {};
    const certName = builtinCaCertSecretName(ca.mesh, ca.backend);
    const summary = summarizeSecret({ type: 'Secret', name: certName, mesh: ca.mesh, secretType: 'tls-ca', cert: ca.certPem }, now);
    views.push({ resource: { type: 'Secret', name: certName, mesh: ca.mesh, secretType: 'tls-ca' }, origin: 'system', ...times, ...(summary ? { secret: summary } : {}) });
    const key = publicKeySummary(ca);
    views.push({
      resource: { type: 'Secret', name: builtinCaKeySecretName(ca.mesh, ca.backend), mesh: ca.mesh, secretType: CA_KEY_SECRET_TYPE },
      origin: 'system',
      ...times,
      secret: { fingerprintSha256: key.publicKeySha256, ...key, privateKey: '(hidden)', ...(summary ? { notAfter: summary.notAfter, expiresInDays: summary.expiresInDays } : {}) },
    });
  }
  return views;
}

/** The certificate PEM of a builtin CA by its secret name (`get secret {mesh}.ca-builtin-cert-{backend} -o pem`); never the key. */
export function caCertificatePem(cas: readonly MeshCa[], mesh: string, name: string): string | undefined {
  const ca = cas.find((c) => c.mesh === mesh && builtinCaCertSecretName(c.mesh, c.backend) === name);
  return ca ? `${ca.certPem.trim()}\n` : undefined;
}

/** The backend whose builtin CA material `name` is (Kuma's storage names), or undefined. */
export function builtinCaSecretBackend(mesh: string, name: string): { backend: string; part: 'cert' | 'key' } | undefined {
  for (const part of ['cert', 'key'] as const) {
    const prefix = `${mesh}.ca-builtin-${part}-`;
    if (name.startsWith(prefix) && name.length > prefix.length) return { backend: name.slice(prefix.length), part };
  }
  return undefined;
}

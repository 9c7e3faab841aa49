/**
 * Builtin CA material as `get secrets` lists it (SPEC §1 Mesh, Kuma's storage names):
 * `{mesh}.ca-builtin-cert-{backend}` with the usual certificate summary, and
 * `{mesh}.ca-builtin-key-{backend}` with only the type and fingerprint of its public half.
 * The private key itself never leaves the store.
 */
import crypto from 'node:crypto';
import type { MeshResource, Resource } from '../api/types.js';
import { builtinCaCertSecretName, builtinCaKeySecretName } from '../ca/providers/builtin.js';
import { GATEWAY_CA_BACKEND, type MeshCaRegistry } from '../ca/providers/registry.js';
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

/**
 * The certificate of `{mesh}.ca-builtin-cert-{backend}`, creating the CA now if nothing needed it
 * yet: a mesh's builtin backends are created when the Mesh is applied (asynchronously), and its
 * gateway CA when a gateway first needs a route certificate. A client that must trust it asks
 * before that (the route warning tells it to), and gets the CA proxies will be issued from: the
 * store keeps the first one created. Only names a route certificate or a proxy could use: a
 * builtin backend of the Mesh, or the gateway CA of a mesh without mTLS.
 */
export async function builtinCaCertificatePem(cas: MeshCaRegistry, resources: readonly Resource[], mesh: string, name: string): Promise<string | undefined> {
  const ready = caCertificatePem(cas.builtinCas(), mesh, name);
  if (ready !== undefined) return ready;
  const wanted = builtinCaSecretBackend(mesh, name);
  if (wanted?.part !== 'cert') return undefined;
  const ofMesh = resources.filter((r) => (r.type === 'Mesh' ? r.name : r.mesh) === mesh);
  const meshResource = ofMesh.find((r): r is MeshResource => r.type === 'Mesh');
  const enabled = meshResource?.mtls?.enabledBackend;
  const backend =
    wanted.backend === GATEWAY_CA_BACKEND.name
      ? enabled === undefined ? GATEWAY_CA_BACKEND : undefined
      : meshResource?.mtls?.backends.find((b) => b.type === 'builtin' && b.name === wanted.backend);
  if (backend === undefined) return undefined;
  const ca = await cas.ensure(mesh, backend, ofMesh);
  return `${ca.certPem.trim()}\n`;
}

/**
 * The CA certificate that signs a mesh's certificates, for clients of meshcp-issued route
 * certificates: the enabled mTLS backend's (builtin or provided), else the mesh's gateway CA.
 * Created now if nothing needed it yet, as a gateway's first route certificate would.
 */
export async function meshCaCertificatePem(cas: MeshCaRegistry, resources: readonly Resource[], mesh: string): Promise<string> {
  const ofMesh = resources.filter((r) => (r.type === 'Mesh' ? r.name : r.mesh) === mesh);
  const mtls = ofMesh.find((r): r is MeshResource => r.type === 'Mesh')?.mtls;
  const backend = mtls?.enabledBackend === undefined ? GATEWAY_CA_BACKEND : mtls.backends.find((b) => b.name === mtls.enabledBackend);
  if (backend === undefined) throw new Error(`mtls.enabledBackend "${mtls?.enabledBackend ?? ''}" names no backend`);
  const ca = await cas.ensure(mesh, backend, ofMesh);
  return `${ca.certPem.trim()}\n`;
}

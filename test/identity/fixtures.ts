/** Resources and CA material for the identity tests, built as typed values (no YAML). */
import crypto from 'node:crypto';
import type { BuiltinMtlsBackend, DataplaneResource, DataSource, GatewayResource, MeshResource, MtlsBackend, ProvidedMtlsBackend, SecretResource } from '../../src/api/types.js';
import { privateKeyToPem } from '../../src/ca/keys.js';
import { x509 } from '../../src/ca/x509.js';

export function builtinBackend(name: string, options: { dpCertSeconds?: number; rsaBits?: 2048 | 3072 | 4096; caSeconds?: number } = {}): BuiltinMtlsBackend {
  const dp = options.dpCertSeconds ?? 86_400;
  const ca = options.caSeconds ?? 10 * 365 * 86_400;
  return {
    name,
    type: 'builtin',
    mode: 'STRICT',
    dpCert: { rotation: { expiration: `${dp}s`, expirationSeconds: dp } },
    conf: { caCert: { RSAbits: options.rsaBits ?? 2048, expiration: `${ca}s`, expirationSeconds: ca } },
  };
}

export function providedBackend(name: string, cert: DataSource, key: DataSource, dpCertSeconds = 86_400): ProvidedMtlsBackend {
  return { name, type: 'provided', mode: 'STRICT', dpCert: { rotation: { expiration: `${dpCertSeconds}s`, expirationSeconds: dpCertSeconds } }, conf: { cert, key } };
}

export function mesh(name: string, backends: readonly MtlsBackend[], enabledBackend?: string): MeshResource {
  return { type: 'Mesh', name, mtls: { ...(enabledBackend !== undefined ? { enabledBackend } : {}), backends } };
}

export function dataplane(name: string, services: readonly string[], meshName = 'default'): DataplaneResource {
  return {
    type: 'Dataplane',
    name,
    mesh: meshName,
    networking: {
      address: '127.0.0.1',
      inbound: services.map((service, i) => ({ port: 20000 + i, servicePort: 30000 + i, tags: { 'kuma.io/service': service } })),
      outbound: services.length === 0 ? [{ port: 10001, tags: { 'kuma.io/service': 'backend' } }] : [],
    },
  };
}

export function gateway(name: string, meshName = 'default'): GatewayResource {
  return { type: 'Gateway', name, mesh: meshName, listeners: [{ port: 8443 }] };
}

export function tlsSecret(name: string, cert: string, key: string, meshName = 'default'): SecretResource {
  return { type: 'Secret', name, mesh: meshName, secretType: 'tls', cert, key };
}

export function caSecret(name: string, cert: string, meshName = 'default'): SecretResource {
  return { type: 'Secret', name, mesh: meshName, secretType: 'tls-ca', cert };
}

export interface BuiltCa {
  readonly cert: x509.X509Certificate;
  readonly key: CryptoKey;
  readonly certPem: string;
  readonly keyPem: string;
}

const DAY_MS = 86_400_000;

/** A CA with whatever (wrong) extensions a test needs, straight from @peculiar/x509. */
export async function buildCa(options: { commonName: string; ca?: boolean; keyUsage?: x509.KeyUsageFlags; now: Date; issuer?: BuiltCa }): Promise<BuiltCa> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await crypto.webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const extensions: x509.Extension[] = [await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)];
  if (options.ca !== undefined) extensions.push(new x509.BasicConstraintsExtension(options.ca, undefined, true));
  if (options.keyUsage !== undefined) extensions.push(new x509.KeyUsagesExtension(options.keyUsage, true));
  const common = {
    subject: `CN=${options.commonName}`,
    notBefore: new Date(options.now.getTime() - DAY_MS),
    notAfter: new Date(options.now.getTime() + 365 * DAY_MS),
    extensions,
    signingAlgorithm: algorithm,
  };
  const cert =
    options.issuer === undefined
      ? await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: common.subject, keys })
      : await x509.X509CertificateGenerator.create({ ...common, issuer: options.issuer.cert.subjectName, publicKey: keys.publicKey, signingKey: options.issuer.key });
  return { cert, key: keys.privateKey, certPem: `${cert.toString('pem')}\n`, keyPem: await privateKeyToPem(keys.privateKey) };
}

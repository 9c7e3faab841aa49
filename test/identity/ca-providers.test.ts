import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatFieldError } from '../../src/api/errors.js';
import type { Resource } from '../../src/api/types.js';
import { certificateInfo } from '../../src/ca/cert-info.js';
import { createRootCa, type CaMaterial } from '../../src/ca/pki.js';
import { createIntermediateCa, type IntermediateCa } from '../helpers/intermediate-ca.js';
import { BuiltinCaProvider, builtinCaBlobName } from '../../src/ca/providers/builtin.js';
import { meshCaCheck } from '../../src/sources/validate.js';
import { ProvidedCaProvider } from '../../src/ca/providers/provided.js';
import { defaultCaProviders, MeshCaRegistry } from '../../src/ca/providers/registry.js';
import { x509 } from '../../src/ca/x509.js';
import { FileStore } from '../../src/store/file-store.js';
import { extensionValue, removeTempDirs, tempDir, verify, writePems, x509Text } from '../ca/openssl.js';
import { buildCa, builtinBackend, caSecret, mesh, providedBackend, tlsSecret } from './fixtures.js';

const NOW = new Date('2030-01-01T00:00:00Z');
const YEAR_S = 365 * 86_400;

afterAll(removeTempDirs);

describe('builtin CA provider', () => {
  it('generates a root once per (mesh, backend), keeps it in the store, and loads the same one after a restart', async () => {
    // given
    const dir = tempDir('builtin');
    const store = await FileStore.open(dir);
    const provider = new BuiltinCaProvider(store);
    const backend = builtinBackend('ca-1', { caSeconds: 5 * YEAR_S });
    // when
    const first = await provider.initialize('default', backend, { resources: [], now: NOW });
    const again = await provider.initialize('default', backend, { resources: [], now: new Date(NOW.getTime() + 60_000) });
    const other = await provider.initialize('default', builtinBackend('ca-2'), { resources: [], now: NOW });
    await store.close();
    const reopened = await FileStore.open(dir);
    const afterRestart = await new BuiltinCaProvider(reopened).initialize('default', backend, { resources: [], now: NOW });
    await reopened.close();
    // then
    expect(again.certPem).toBe(first.certPem);
    expect(afterRestart.certPem).toBe(first.certPem);
    expect(afterRestart.keyPem).toBe(first.keyPem);
    expect(afterRestart.creationTime).toBe('2030-01-01T00:00:00Z');
    expect(other.id).not.toBe(first.id);
    const info = certificateInfo(first.certPem);
    expect(info).toMatchObject({ isCa: true, selfSigned: true, uris: ['spiffe://default'] });
    expect(info.keyUsages).toEqual(['keyCertSign', 'cRLSign']);
    expect(info.notAfter.getTime()).toBe(NOW.getTime() + 5 * YEAR_S * 1000);
    expect(first.trustRoots).toEqual([first.certPem]);
    const blob = path.join(dir, 'blobs', builtinCaBlobName('default', 'ca-1'));
    expect(fs.statSync(blob).mode & 0o077).toBe(0);
  });

  it('honours conf.caCert.RSAbits', async () => {
    // given
    const provider = new BuiltinCaProvider(await FileStore.open(tempDir('rsabits')));
    // when
    const ca = await provider.initialize('default', builtinBackend('big', { rsaBits: 3072 }), { resources: [], now: NOW });
    // then
    const cert = new crypto.X509Certificate(ca.certPem);
    expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
  });

  it('makes an ECDSA P-256 root for conf.caCert.keyType: ECDSA, whose workload certificates openssl verifies', async () => {
    // given
    const provider = new BuiltinCaProvider(await FileStore.open(tempDir('ecdsa')));
    const base = builtinBackend('fast');
    const backend = { ...base, conf: { caCert: { ...base.conf.caCert, keyType: 'ECDSA' as const } } };
    // when
    const ca = await provider.initialize('default', backend, { resources: [], now: NOW });
    const issued = await provider.issue(ca, { spiffeIds: ['spiffe://default/web'], validitySeconds: 3_600, now: NOW });
    // then
    const cert = new crypto.X509Certificate(ca.certPem);
    expect(cert.publicKey.asymmetricKeyType).toBe('ec');
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(certificateInfo(ca.certPem)).toMatchObject({ isCa: true, selfSigned: true, uris: ['spiffe://default'] });
    expect(x509Text(issued.certChainPem)).toContain('ecdsa-with-SHA256');
    const files = writePems(tempDir('ecdsa-verify'), { root: ca.certPem, leaf: issued.certChainPem });
    const result = verify(files.leaf, { caFile: files.root, at: new Date(NOW.getTime() + 1000), purpose: 'sslclient' });
    expect(result.stdout + result.stderr).toContain('OK');
    expect(result.status).toBe(0);
  });

  it('creates one root when asked concurrently, also through two providers sharing a store', async () => {
    // given
    const store = await FileStore.open(tempDir('concurrent'));
    const a = new BuiltinCaProvider(store);
    const b = new BuiltinCaProvider(store);
    const backend = builtinBackend('ca-1');
    // when
    const results = await Promise.all([a.initialize('m', backend, { resources: [], now: NOW }), a.initialize('m', backend, { resources: [], now: NOW }), b.initialize('m', backend, { resources: [], now: NOW })]);
    // then
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
  });
});

describe('provided CA provider', () => {
  let root: CaMaterial;
  let intermediate: IntermediateCa;

  beforeAll(async () => {
    root = await createRootCa({ commonName: 'Acme Root', validitySeconds: 5 * YEAR_S, now: NOW });
    intermediate = await createIntermediateCa({ issuer: root, commonName: 'Acme Mesh Intermediate', validitySeconds: 2 * YEAR_S, now: NOW, keyAlgorithm: 'ecdsa-p256' });
  });

  it('takes an intermediate chain from a tls Secret and issues workload certificates that openssl verifies', async () => {
    // given
    const resources: Resource[] = [tlsSecret('mesh-ca', intermediate.chainPem, intermediate.keyPem)];
    const backend = providedBackend('ca-2', { secret: 'mesh-ca' }, { secret: 'mesh-ca' }, 3600);
    const registry = new MeshCaRegistry(defaultCaProviders(), () => NOW);
    // when
    const ca = await registry.ensure('default', backend, resources);
    const identity = await registry.issue(ca, { spiffeIds: ['spiffe://default/web', 'spiffe://default/admin'], validitySeconds: 3600, now: NOW });
    // then
    expect(ca.trustRoots).toEqual([root.certPem]);
    const dir = tempDir('provided-verify');
    const files = writePems(dir, { root: root.certPem, inter: intermediate.certPem, leaf: identity.certChainPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0] ?? '' });
    const result = verify(files.leaf, { caFile: files.root, untrusted: files.inter, at: new Date(NOW.getTime() + 1000), purpose: 'sslclient' });
    expect(result.stdout + result.stderr).toContain('OK');
    expect(result.status).toBe(0);
    const text = x509Text(identity.certChainPem);
    expect(text).toContain('URI:spiffe://default/web');
    expect(text).toContain('URI:spiffe://default/admin');
    expect(extensionValue(text, 'X509v3 Basic Constraints')).toBe('CA:FALSE');
    expect(extensionValue(text, 'X509v3 Key Usage')).toBe('Digital Signature');
    expect(extensionValue(text, 'X509v3 Extended Key Usage')).toBe('TLS Web Server Authentication, TLS Web Client Authentication');
    expect(identity.notAfter.getTime() - NOW.getTime()).toBe(3600_000);
    expect(identity.certChainPem).toContain(intermediate.certPem.trim());
    expect(identity.keyPem).toContain('PRIVATE KEY');
  });

  it('takes inline base64 PEM and files', async () => {
    // given
    const dir = tempDir('provided-files');
    const files = writePems(dir, { cert: root.certPem, key: root.keyPem });
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const provider = new ProvidedCaProvider();
    // when
    const inline = await provider.initialize('default', providedBackend('i', { inline: b64(root.certPem) }, { inline: b64(root.keyPem) }), { resources: [], now: NOW });
    const fromFile = await provider.initialize('default', providedBackend('f', { file: files.cert }, { file: files.key }), { resources: [], now: NOW });
    // then
    expect(inline.id).toBe(fromFile.id);
    expect(inline.certPem.trim()).toBe(root.certPem.trim());
    expect(fromFile.trustRoots).toEqual([root.certPem]);
  });
});

describe('mesh CA check', () => {
  let root: CaMaterial;
  const check = meshCaCheck(defaultCaProviders());
  const formatted = (resources: Resource[]): { errors: string[]; warnings: string[] } => {
    const result = check(resources, NOW);
    return { errors: result.errors.map(formatFieldError), warnings: result.warnings.map(formatFieldError) };
  };

  beforeAll(async () => {
    root = await createRootCa({ commonName: 'Good Root', validitySeconds: 5 * YEAR_S, now: NOW });
  });

  it('accepts a good provided CA and any builtin backend', () => {
    // given
    const resources = [tlsSecret('ca', root.certPem, root.keyPem), mesh('default', [builtinBackend('ca-1'), providedBackend('ca-2', { secret: 'ca' }, { secret: 'ca' })], 'ca-2')];
    // when / then
    expect(formatted(resources)).toEqual({ errors: [], warnings: [] });
  });

  it('refuses user Secrets named like builtin CA material', () => {
    // given
    const resources = [caSecret('default.ca-builtin-cert-ca-1', root.certPem), tlsSecret('default.ca-builtin-key-x', root.certPem, root.keyPem), caSecret('other.ca-builtin-cert-ca-1', root.certPem)];
    // when / then
    expect(formatted(resources).errors).toEqual([
      'Secret/default.ca-builtin-cert-ca-1: name: "default.ca-builtin-cert-ca-1" is reserved for the builtin CA material of mesh "default"; choose another name',
      'Secret/default.ca-builtin-key-x: name: "default.ca-builtin-key-x" is reserved for the builtin CA material of mesh "default"; choose another name',
    ]);
  });

  it('names the mesh, the backend index and the field of every problem', async () => {
    // given
    const { keyCertSign, cRLSign, keyAgreement, digitalSignature } = x509.KeyUsageFlags;
    const notCa = await buildCa({ commonName: 'not-a-ca', ca: false, keyUsage: keyCertSign, now: NOW });
    const noCertSign = await buildCa({ commonName: 'no-cert-sign', ca: true, keyUsage: cRLSign, now: NOW });
    const agreement = await buildCa({ commonName: 'agreement', ca: true, keyUsage: keyCertSign | keyAgreement, now: NOW });
    const signing = await buildCa({ commonName: 'signing', ca: true, keyUsage: keyCertSign | digitalSignature, now: NOW });
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const resources: Resource[] = [
      tlsSecret('not-ca', notCa.certPem, notCa.keyPem),
      tlsSecret('no-cert-sign', noCertSign.certPem, noCertSign.keyPem),
      tlsSecret('agreement', agreement.certPem, agreement.keyPem),
      caSecret('cert-only', root.certPem),
      mesh('default', [
        builtinBackend('ca-1'),
        providedBackend('a', { secret: 'not-ca' }, { secret: 'not-ca' }),
        providedBackend('b', { secret: 'no-cert-sign' }, { secret: 'no-cert-sign' }),
        providedBackend('c', { secret: 'agreement' }, { secret: 'agreement' }),
        providedBackend('d', { secret: 'missing' }, { secret: 'cert-only' }),
        providedBackend('e', { inline: b64(signing.certPem) }, { inline: b64(signing.keyPem) }),
        providedBackend('f', { inline: b64(root.certPem) }, { inline: b64(signing.keyPem) }),
        providedBackend('g', { file: '/nonexistent/ca.pem' }, { inline: 'bm90IHBlbQ==' }),
      ]),
    ];
    // when
    const { errors, warnings } = formatted(resources);
    // then
    expect(errors).toEqual([
      'Mesh/default: mtls.backends[1].conf.cert: certificate CN=not-a-ca is not a CA: basicConstraints CA=TRUE is required',
      'Mesh/default: mtls.backends[2].conf.cert: certificate CN=no-cert-sign has keyUsage cRLSign; keyUsage keyCertSign is required',
      'Mesh/default: mtls.backends[3].conf.cert: certificate CN=agreement has keyUsage keyAgreement, which a CA must not have',
      'Mesh/default: mtls.backends[4].conf.cert.secret: secret "missing" not found in mesh "default"',
      'Mesh/default: mtls.backends[4].conf.key.secret: secret "cert-only" is a tls-ca secret and holds no private key; put the CA certificate and its key in a tls secret',
      'Mesh/default: mtls.backends[6].conf.key: does not match the CA certificate CN=Good Root (the first one in cert)',
      'Mesh/default: mtls.backends[7].conf.cert.file: cannot read "/nonexistent/ca.pem": ENOENT',
      'Mesh/default: mtls.backends[7].conf.key.inline: is not base64-encoded PEM',
    ]);
    expect(warnings).toEqual([
      'Mesh/default: mtls.backends[5].conf.cert: certificate CN=signing has keyUsage digitalSignature: not SPIFFE compliant (a signing CA should only have keyCertSign and cRLSign)',
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import type { WorkloadIdentity } from '../../src/ca/workload-identity.js';
import { DependencyCache } from '../../src/change/dependency-cache.js';
import { identitySecrets } from '../../src/envoy/identity-secrets.js';
import { identityCertificateSecretName, identitySecretNames, meshTrustBundleSecretName } from '../../src/identity/names.js';

const identity = (serial: string): WorkloadIdentity => ({ certChainPem: `CERT ${serial}\n`, keyPem: `KEY ${serial}\n`, spiffeIds: ['spiffe://m/a'], serialHex: serial, notAfter: new Date(0) });

describe('identity Secrets', () => {
  it('are the same objects while the identity and the bundle are, and new ones when either changes', () => {
    // given one cache (one control plane), an identity and a bundle
    const cache = new DependencyCache();
    const names = identitySecretNames('m');
    const first = identity('01');

    // when asked twice with nothing changed: the same objects (the encoder finds them by identity)
    const [cert1, bundle1] = identitySecrets(names, first, 'ROOT 1\n', cache);
    const [cert2, bundle2] = identitySecrets(names, first, 'ROOT 1\n', cache);
    expect(cert2).toBe(cert1);
    expect(bundle2).toBe(bundle1);
    expect(cert1).toEqual({ name: identityCertificateSecretName('m'), tls_certificate: { certificate_chain: { inline_string: 'CERT 01\n' }, private_key: { inline_string: 'KEY 01\n' } } });

    // then a rotation gives a new certificate Secret, the bundle Secret stays
    const [cert3, bundle3] = identitySecrets(names, identity('02'), 'ROOT 1\n', cache);
    expect(cert3).not.toBe(cert1);
    expect(JSON.stringify(cert3)).toContain('KEY 02');
    expect(bundle3).toBe(bundle1);

    // and a new bundle gives a new bundle Secret
    const [, bundle4] = identitySecrets(names, first, 'ROOT 1\nROOT 2\n', cache);
    expect(bundle4).not.toBe(bundle1);
    expect(bundle4).toEqual({ name: meshTrustBundleSecretName('m'), validation_context: { trusted_ca: { inline_string: 'ROOT 1\nROOT 2\n' } } });

    // and the same identity in another mesh is named for that mesh
    const [other] = identitySecrets(identitySecretNames('n'), first, 'ROOT 1\n', cache);
    expect(other?.['name']).toBe(identityCertificateSecretName('n'));
  });

  it('are one trust bundle Secret for every proxy of the mesh', () => {
    // given one cache and the proxies of one mesh, each with its own certificate
    const cache = new DependencyCache();
    const names = identitySecretNames('m');

    // when each proxy's Secrets are built
    const bundles = ['01', '02', '03'].map((serial) => identitySecrets(names, identity(serial), 'ROOT 1\n', cache)[1]);

    // then they share one bundle Secret object
    expect(new Set(bundles).size).toBe(1);
  });

  it('are nothing while the certificate or the bundle is missing', () => {
    const cache = new DependencyCache();
    expect(identitySecrets(identitySecretNames('m'), undefined, 'ROOT 1\n', cache)).toEqual([]);
    expect(identitySecrets(identitySecretNames('m'), identity('01'), undefined, cache)).toEqual([]);
  });

  it('belong to their cache: two control planes share no Secret object, and no cache shares nothing', () => {
    // given two caches and one identity
    const one = identity('01');
    const names = identitySecretNames('m');

    // when each cache builds the Secrets
    const [certA, bundleA] = identitySecrets(names, one, 'ROOT 1\n', new DependencyCache());
    const [certB, bundleB] = identitySecrets(names, one, 'ROOT 1\n', new DependencyCache());

    // then they are equal in content and distinct objects
    expect(certB).toEqual(certA);
    expect(certB).not.toBe(certA);
    expect(bundleB).not.toBe(bundleA);

    // and without a cache every call builds afresh
    const [certC] = identitySecrets(names, one, 'ROOT 1\n');
    const [certD] = identitySecrets(names, one, 'ROOT 1\n');
    expect(certD).toEqual(certC);
    expect(certD).not.toBe(certC);
  });
});

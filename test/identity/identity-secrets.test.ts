import { describe, expect, it } from 'vitest';
import type { MeshTlsMaterial, WorkloadIdentity } from '../../src/ca/workload-identity.js';
import { identityCertificateSecretName, identitySecrets, meshTrustBundleSecretName } from '../../src/identity/names.js';

const identity = (serial: string): WorkloadIdentity => ({ certChainPem: `CERT ${serial}\n`, keyPem: `KEY ${serial}\n`, spiffeIds: ['spiffe://m/a'], serialHex: serial, notAfter: new Date(0) });

describe('identity Secrets', () => {
  it('are the same objects while the identity and the bundle are, and new ones when either changes', () => {
    // given material whose identity and bundle the test swaps
    let current = identity('01');
    let bundle = 'ROOT 1\n';
    const material: MeshTlsMaterial = { identity: () => current, trustBundle: () => bundle };

    // when asked twice with nothing changed: the same objects (the encoder finds them by identity)
    const [cert1, bundle1] = identitySecrets('m', 'p', material);
    const [cert2, bundle2] = identitySecrets('m', 'p', material);
    expect(cert2).toBe(cert1);
    expect(bundle2).toBe(bundle1);
    expect(cert1).toEqual({ name: identityCertificateSecretName('m'), tls_certificate: { certificate_chain: { inline_string: 'CERT 01\n' }, private_key: { inline_string: 'KEY 01\n' } } });

    // then a rotation gives a new certificate Secret, the bundle Secret stays
    current = identity('02');
    const [cert3, bundle3] = identitySecrets('m', 'p', material);
    expect(cert3).not.toBe(cert1);
    expect(JSON.stringify(cert3)).toContain('KEY 02');
    expect(bundle3).toBe(bundle1);

    // and a new bundle gives a new bundle Secret
    bundle = 'ROOT 1\nROOT 2\n';
    const [, bundle4] = identitySecrets('m', 'p', material);
    expect(bundle4).not.toBe(bundle1);
    expect(bundle4).toEqual({ name: meshTrustBundleSecretName('m'), validation_context: { trusted_ca: { inline_string: 'ROOT 1\nROOT 2\n' } } });

    // and the same identity in another mesh is named for that mesh
    const [other] = identitySecrets('n', 'p', material);
    expect(other?.['name']).toBe(identityCertificateSecretName('n'));
  });
});

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatFieldError } from '../../src/api/errors.js';
import { validateResource } from '../../src/api/parse.js';
import { parseYamlDocuments } from '../helpers/parse-yaml.js';
import type { MeshResource, Resource } from '../../src/api/types.js';
import { MESH_YAML } from './spec-examples.js';

function errorsOf(doc: unknown): string[] {
  const result = validateResource(doc, { file: 'mesh.yaml', document: 1 });
  return result.ok ? [] : result.errors.map(formatFieldError);
}

function asMesh(r: Resource | undefined): MeshResource | undefined {
  return r?.type === 'Mesh' ? r : undefined;
}

function backend(extra: Record<string, unknown>): Record<string, unknown> {
  return { type: 'Mesh', name: 'default', mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin', ...extra }] } };
}

describe('Mesh validation', () => {
  it('applies defaults and parses durations of the SPEC example', () => {
    // given / when
    const result = parseYamlDocuments(MESH_YAML);
    // then
    if (!result.ok) throw new Error(result.errors.map(formatFieldError).join('\n'));
    const mesh = asMesh(result.value[0]);
    expect(mesh?.mtls?.enabledBackend).toBe('ca-1');
    expect(mesh?.mtls?.backends).toEqual([
      {
        name: 'ca-1',
        type: 'builtin',
        mode: 'STRICT',
        dpCert: { rotation: { expiration: '1d', expirationSeconds: 86_400 } },
        conf: { caCert: { RSAbits: 2048, expiration: '10y', expirationSeconds: 10 * 365 * 86_400 } },
      },
      {
        name: 'ca-2',
        type: 'provided',
        mode: 'STRICT',
        dpCert: { rotation: { expiration: '30d', expirationSeconds: 30 * 86_400 } },
        conf: { cert: { secret: 'my-ca-cert' }, key: { secret: 'my-ca-key' } },
      },
    ]);
  });

  it('treats an empty enabledBackend as mTLS disabled', () => {
    // given / when
    const result = validateResource({ type: 'Mesh', name: 'default', mtls: { enabledBackend: '', backends: [] } });
    // then
    expect(result.ok && result.value).toEqual({ type: 'Mesh', name: 'default', mtls: { backends: [] } });
  });

  it('requires enabledBackend to name a backend, and backend names to be unique', () => {
    // given
    const doc = { type: 'Mesh', name: 'default', mtls: { enabledBackend: 'ca-9', backends: [{ name: 'ca-1', type: 'builtin' }, { name: 'ca-1', type: 'builtin' }] } };
    // when
    const errors = errorsOf(doc);
    // then
    expect(errors).toEqual([
      'mesh.yaml#1 Mesh/default: mtls.backends[1].name: backend name "ca-1" is already used by mtls.backends[0]',
      'mesh.yaml#1 Mesh/default: mtls.enabledBackend: no backend named "ca-9" in mtls.backends (known: "ca-1")',
    ]);
  });

  it('checks type, mode, RSAbits and durations', () => {
    // given / when
    const errors = errorsOf({
      type: 'Mesh',
      name: 'default',
      mtls: { backends: [{ name: 'ca-1', type: 'vault', mode: 'strict' }, { name: 'ca-2', type: 'builtin', dpCert: { rotation: { expiration: '1 day' } }, conf: { caCert: { RSAbits: 1024 } } }] },
    });
    // then
    expect(errors).toEqual([
      'mesh.yaml#1 Mesh/default: mtls.backends[0].type: expected one of "builtin", "provided", got string "vault"',
      'mesh.yaml#1 Mesh/default: mtls.backends[0].mode: expected one of "STRICT", "PERMISSIVE", got string "strict"',
      'mesh.yaml#1 Mesh/default: mtls.backends[1].dpCert.rotation.expiration: invalid duration "1 day": expected e.g. "1d", "12h", "30m" or "10y"',
      'mesh.yaml#1 Mesh/default: mtls.backends[1].conf.caCert.RSAbits: expected one of 2048, 3072, 4096, got number 1024',
    ]);
  });

  it('takes conf.caCert.keyType RSA or ECDSA, and refuses RSAbits beside ECDSA', () => {
    // given / when
    const errors = errorsOf({
      type: 'Mesh',
      name: 'default',
      mtls: {
        backends: [
          { name: 'ca-1', type: 'builtin', conf: { caCert: { keyType: 'EC' } } },
          { name: 'ca-2', type: 'builtin', conf: { caCert: { keyType: 'ECDSA', RSAbits: 4096 } } },
          { name: 'ca-3', type: 'builtin', conf: { caCert: { keyType: 'ECDSA' } } },
          { name: 'ca-4', type: 'builtin', conf: { caCert: { keyType: 'RSA', RSAbits: 4096 } } },
        ],
      },
    });
    // then
    expect(errors).toEqual([
      'mesh.yaml#1 Mesh/default: mtls.backends[0].conf.caCert.keyType: expected RSA or ECDSA (a P-256 root), got string "EC"',
      'mesh.yaml#1 Mesh/default: mtls.backends[1].conf.caCert.RSAbits: RSAbits applies to an RSA root; remove it with keyType: ECDSA (always P-256)',
    ]);
  });

  it('requires cert and key with exactly one source for a provided backend, and warns on inline', () => {
    // given
    const inline = Buffer.from('-----BEGIN CERTIFICATE-----\n').toString('base64');
    // when
    const missing = errorsOf(backend({ type: 'provided', conf: { cert: { secret: 'a', file: './ca.pem' } } }));
    const ok = validateResource(backend({ type: 'provided', conf: { cert: { inline }, key: { file: './ca.key' } } }), { file: 'mesh.yaml', document: 1, baseDir: '/etc/meshcp' });
    // then
    expect(missing).toEqual([
      'mesh.yaml#1 Mesh/default: mtls.backends[0].conf.cert: expected exactly one of secret, inline, file, found secret, file',
      'mesh.yaml#1 Mesh/default: mtls.backends[0].conf.key: required field is missing',
    ]);
    expect(ok.warnings.map(formatFieldError)).toEqual([
      'mesh.yaml#1 Mesh/default: mtls.backends[0].conf.cert.inline: inline CA material is for development only (it is stored in the Mesh, as is a file: sent by `meshcp apply -f`); use a Secret, or a file: in a serve --config file',
    ]);
    const mesh = ok.ok ? asMesh(ok.value) : undefined;
    expect(mesh?.mtls?.backends[0]).toMatchObject({ conf: { key: { file: path.resolve('/etc/meshcp', 'ca.key') } } });
  });
});

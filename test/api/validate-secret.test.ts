import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatFieldError } from '../../src/api/errors.js';
import { validateDocument, validateResource } from '../../src/api/parse.js';
import { parseYamlDocuments } from '../helpers/parse-yaml.js';
import { PEM_CERT, PEM_KEY, SECRETS_YAML } from './spec-examples.js';

function errorsOf(doc: unknown): string[] {
  const result = validateDocument(doc, { file: 'secrets.yaml', document: 1 });
  return result.ok ? [] : result.errors.map(formatFieldError);
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('Secret validation', () => {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-secret-'));
    fs.mkdirSync(path.join(dir, 'pki'));
    fs.writeFileSync(path.join(dir, 'pki', 'tls.crt'), PEM_CERT);
    fs.writeFileSync(path.join(dir, 'pki', 'tls.key'), PEM_KEY);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('accepts the SPEC examples', () => {
    // given / when
    const result = parseYamlDocuments(SECRETS_YAML);
    // then
    expect(result.ok && result.value).toEqual([
      { type: 'Secret', name: 'my-root-ca', mesh: 'default', secretType: 'tls-ca', cert: PEM_CERT },
      { type: 'Secret', name: 'my-tls-cert', mesh: 'default', secretType: 'tls', cert: PEM_CERT, key: PEM_KEY },
    ]);
  });

  it('reads certFile and keyFile relative to the YAML file directory', () => {
    // given
    const doc = { type: 'Secret', name: 'gw', secretType: 'tls', certFile: './pki/tls.crt', keyFile: 'pki/tls.key' };
    // when
    const result = validateResource(doc, { baseDir: dir });
    // then
    expect(result.ok && result.value).toEqual({ type: 'Secret', name: 'gw', mesh: 'default', secretType: 'tls', cert: PEM_CERT, key: PEM_KEY });
  });

  it('reports an unreadable certFile at its path', () => {
    // given / when
    const result = validateResource({ type: 'Secret', name: 'ca', secretType: 'tls-ca', certFile: 'nope.pem' }, { file: 's.yaml', document: 3, baseDir: dir });
    // then
    expect(result.ok ? [] : result.errors.map(formatFieldError)).toEqual([`s.yaml#3 Secret/ca: certFile: cannot read ${JSON.stringify(path.join(dir, 'nope.pem'))}: ENOENT`]);
  });

  it('needs exactly one of cert/certFile, one of key/keyFile for tls, and no key for tls-ca', () => {
    // given / when
    const both = errorsOf({ type: 'Secret', name: 'a', secretType: 'tls', cert: 'x', certFile: 'y', key: 'k' });
    const noKey = errorsOf({ type: 'Secret', name: 'b', secretType: 'tls', cert: 'x' });
    const caKey = errorsOf({ type: 'Secret', name: 'c', secretType: 'tls-ca', cert: 'x', key: 'k' });
    const noType = errorsOf({ type: 'Secret', name: 'd', cert: 'x' });
    // then
    expect(both).toEqual(['secrets.yaml#1 Secret/a: certFile: set only one of cert and certFile']);
    expect(noKey).toEqual(['secrets.yaml#1 Secret/b: key: required field is missing (or set keyFile)']);
    expect(caKey).toEqual(['secrets.yaml#1 Secret/c: key: a tls-ca secret holds CA certificates only and must not have a key']);
    expect(noType).toEqual(['secrets.yaml#1 Secret/d: secretType: required field is missing']);
  });
});

describe('Kubernetes kubernetes.io/tls secrets', () => {
  const k8s = (data: Record<string, unknown>): Record<string, unknown> => ({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: 'gw-cert', namespace: 'edge', uid: 'abc', annotations: { 'cert-manager.io/issuer-name': 'ca' } },
    data,
  });

  it('becomes a tls secret plus a <name>-ca tls-ca secret when ca.crt is present', () => {
    // given / when
    const result = validateDocument(k8s({ 'tls.crt': b64(PEM_CERT), 'tls.key': b64(PEM_KEY), 'ca.crt': b64(PEM_CERT) }));
    // then
    expect(result.ok && result.value).toEqual([
      { type: 'Secret', name: 'gw-cert', mesh: 'default', secretType: 'tls', cert: PEM_CERT, key: PEM_KEY },
      { type: 'Secret', name: 'gw-cert-ca', mesh: 'default', secretType: 'tls-ca', cert: PEM_CERT },
    ]);
  });

  it('becomes only a tls secret without ca.crt, and validateResource accepts it', () => {
    // given / when
    const result = validateResource(k8s({ 'tls.crt': b64(PEM_CERT), 'tls.key': b64(PEM_KEY) }));
    // then
    expect(result.ok && result.value).toMatchObject({ name: 'gw-cert', secretType: 'tls' });
  });

  it('reports a wrong type, bad base64 and a missing key', () => {
    // given / when
    const errors = errorsOf({ ...k8s({ 'tls.crt': '%%%' }), type: 'Opaque' });
    // then
    expect(errors).toEqual([
      'secrets.yaml#1 Secret/gw-cert: type: expected "kubernetes.io/tls" or "system.kuma.io/secret", got string "Opaque"',
      'secrets.yaml#1 Secret/gw-cert: data["tls.crt"]: invalid base64',
      'secrets.yaml#1 Secret/gw-cert: data["tls.key"]: required field is missing',
    ]);
  });
});

/** Kuma's Kubernetes and universal forms at the document level (SPEC §1 "Kuma's own forms are accepted too"). */
import { describe, expect, it } from 'vitest';
import { formatFieldError } from '../../src/api/errors.js';
import { parseYamlDocuments } from '../helpers/parse-yaml.js';

function parse(yaml: string): { resources: unknown[]; errors: string[]; warnings: string[] } {
  const result = parseYamlDocuments(yaml, { file: 'kuma.yaml' });
  return { resources: result.ok ? result.value : [], errors: result.ok ? [] : result.errors.map(formatFieldError), warnings: result.warnings.map(formatFieldError) };
}

describe('Kuma forms', () => {
  it('reads a Kubernetes Dataplane into meshcp\'s resource, its mesh from the kuma.io/mesh label', () => {
    // given
    const yaml = `apiVersion: kuma.io/v1alpha1
kind: Dataplane
metadata:
  name: web-01
  labels: { kuma.io/mesh: shop }
spec:
  networking:
    address: 127.0.0.1
    inbound: [ { port: 8080, servicePort: 18080, tags: { kuma.io/service: web } } ]
`;
    // when
    const { resources, errors, warnings } = parse(yaml);
    // then
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(resources).toEqual([
      { type: 'Dataplane', name: 'web-01', mesh: 'shop', networking: { address: '127.0.0.1', inbound: [{ port: 8080, servicePort: 18080, tags: { 'kuma.io/service': 'web' } }], outbound: [] } },
    ]);
  });

  it('names errors under spec., refuses name inside spec, and says which apiVersion a kind needs', () => {
    // given
    const yaml = `apiVersion: kuma.io/v1alpha1
kind: Mesh
metadata: { name: default }
spec:
  name: default
  mtls: { enabledBackend: ca-9, backends: [ { name: ca-1, type: builtin } ] }
---
kind: Mesh
metadata: { name: default }
`;
    // when
    const { errors } = parse(yaml);
    // then
    expect(errors).toEqual([
      'kuma.yaml#1 Mesh/default: spec.name: not part of spec in the Kubernetes form: it goes in metadata.name',
      'kuma.yaml#1 Mesh/default: spec.mtls.enabledBackend: no backend named "ca-9" in mtls.backends (known: "ca-1")',
      `kuma.yaml#2: kind: without apiVersion only Kubernetes "kind: Secret" (type kubernetes.io/tls or system.kuma.io/secret) is accepted, got string "Mesh"; Kuma's Mesh, Dataplane and TrafficPermission take apiVersion: kuma.io/v1alpha1`,
    ]);
  });

  it('keeps a universal Kuma secret as a generic secret, and refuses data that is not base64 without echoing it', () => {
    // given
    const yaml = `type: Secret
name: sample-secret
mesh: default
data: dGVzdAo=
---
type: Secret
name: broken
data: "-----BEGIN PRIVATE KEY----- not base64"
`;
    // when
    const { errors } = parse(yaml);
    const good = parse(yaml.split('---')[0] ?? '');
    // then
    expect(good.resources).toEqual([{ type: 'Secret', name: 'sample-secret', mesh: 'default', secretType: 'generic', cert: '', key: 'dGVzdAo=' }]);
    expect(errors).toEqual(['kuma.yaml#2 Secret/broken: data: invalid base64 (Kuma secrets hold base64 data, e.g. `base64 -w0 < ca.pem`)']);
  });
});

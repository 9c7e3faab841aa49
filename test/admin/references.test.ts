import { describe, expect, it } from 'vitest';
import { formatFieldError } from '../../src/api/errors.js';
import { parseYamlDocuments } from '../helpers/parse-yaml.js';
import { checkReferences } from '../../src/api/references.js';
import type { Resource } from '../../src/api/types.js';

function resources(yaml: string): Resource[] {
  const parsed = parseYamlDocuments(yaml);
  if (!parsed.ok) throw new Error(parsed.errors.map(formatFieldError).join('\n'));
  return parsed.value;
}

function errorsOf(yaml: string): string[] {
  return checkReferences(resources(yaml)).map(formatFieldError);
}

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n';

const SECRETS = `
type: Secret
name: root-ca
secretType: tls-ca
cert: ${JSON.stringify(CERT)}
---
type: Secret
name: server-cert
secretType: tls
cert: ${JSON.stringify(CERT)}
key: ${JSON.stringify(KEY)}
`;

const GATEWAY = `
type: Gateway
name: edge
listeners: [{ port: 8443 }]
`;

const SERVICE = `
type: Service
name: shopping-cart
endpoints: [{ address: 127.0.0.1, port: 9001 }]
`;

const route = (name: string, extra = '', host = 'ecommerce.acme.org', service = 'shopping-cart'): string => `
type: Route
name: ${name}
host: ${host}
${extra}
routes:
- prefix: /
  route: { service: ${service} }
`;

const doc = (...parts: string[]): string => parts.join('\n---\n');

describe('checkReferences', () => {
  it('accepts a route whose secrets, service and only gateway exist', () => {
    // given
    const yaml = doc(SECRETS, GATEWAY, SERVICE, route('my-route', 'tls: { clientValidationCa: { name: root-ca }, serverCertificate: { name: server-cert } }'));
    // when / then
    expect(errorsOf(yaml)).toEqual([]);
  });

  it('names a missing client CA secret', () => {
    // given
    const yaml = doc(GATEWAY, SERVICE, route('my-route', 'tls: { clientValidationCa: { name: x } }'));
    // when / then
    expect(errorsOf(yaml)).toEqual(['Route/my-route: tls.clientValidationCa.name: secret "x" not found in mesh "default"']);
  });

  it('suggests a secret with a similar name', () => {
    // given
    const yaml = doc(SECRETS, GATEWAY, SERVICE, route('my-route', 'tls: { clientValidationCa: { name: root-cx } }'));
    // when / then
    expect(errorsOf(yaml)).toEqual(['Route/my-route: tls.clientValidationCa.name: secret "root-cx" not found in mesh "default"; did you mean "root-ca"?']);
  });

  it('does not find a secret of another mesh', () => {
    // given
    const yaml = doc(SECRETS.replace(/name: root-ca/, 'name: root-ca\nmesh: other'), GATEWAY, SERVICE, route('my-route', 'tls: { clientValidationCa: { name: root-ca } }'));
    // when / then
    expect(errorsOf(yaml)).toEqual(['Route/my-route: tls.clientValidationCa.name: secret "root-ca" not found in mesh "default"']);
  });

  it('requires a tls-ca secret for the client CA and a tls secret for the server certificate', () => {
    // given
    const yaml = doc(SECRETS, GATEWAY, SERVICE, route('my-route', 'tls: { clientValidationCa: { name: server-cert }, serverCertificate: { name: root-ca } }'));
    // when
    const errors = errorsOf(yaml);
    // then
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^Route\/my-route: tls\.clientValidationCa\.name: secret "server-cert" is a tls secret; a tls-ca secret .* is required$/);
    expect(errors[1]).toMatch(/^Route\/my-route: tls\.serverCertificate\.name: secret "root-ca" is a tls-ca secret; a tls secret .* is required$/);
  });

  it('names a missing service', () => {
    // given
    const yaml = doc(GATEWAY, SERVICE, route('my-route', '', 'ecommerce.acme.org', 'shoping-cart'));
    // when / then
    expect(errorsOf(yaml)).toEqual([
      'Route/my-route: routes[0].route.service: service "shoping-cart" not found in mesh "default": no Service resource and no Dataplane inbound tagged kuma.io/service: shoping-cart; did you mean "shopping-cart"?',
    ]);
  });

  it('resolves a service served by Dataplanes', () => {
    // given
    const dataplane = `
type: Dataplane
name: cart-01
networking:
  address: 127.0.0.1
  inbound: [{ port: 8080, servicePort: 18080, tags: { kuma.io/service: cart } }]
`;
    // when / then
    expect(errorsOf(doc(GATEWAY, dataplane, route('my-route', '', 'ecommerce.acme.org', 'cart')))).toEqual([]);
  });

  it('needs a gateway in the mesh', () => {
    // given
    const yaml = doc(SERVICE, route('my-route'));
    // when / then
    expect(errorsOf(yaml)).toEqual(['Route/my-route: gateway: no Gateway in mesh "default" to serve this route; create one']);
  });

  it('names a missing gateway', () => {
    // given
    const yaml = doc(GATEWAY, SERVICE, route('my-route', 'gateway: edge-2'));
    // when / then
    expect(errorsOf(yaml)).toEqual(['Route/my-route: gateway: gateway "edge-2" not found in mesh "default"; did you mean "edge"?']);
  });

  it('requires the gateway when the mesh has several', () => {
    // given
    const yaml = doc(GATEWAY, GATEWAY.replace('name: edge', 'name: edge-b'), SERVICE, route('my-route'));
    // when / then
    expect(errorsOf(yaml)).toEqual(['Route/my-route: gateway: required: mesh "default" has 2 Gateways ("edge", "edge-b"); say which one serves this route']);
    expect(errorsOf(doc(GATEWAY, GATEWAY.replace('name: edge', 'name: edge-b'), SERVICE, route('my-route', 'gateway: edge-b')))).toEqual([]);
  });

  it('refuses two routes with one host on one gateway, blaming the later one', () => {
    // given
    const yaml = doc(GATEWAY, SERVICE, route('first'), route('second', '', 'ECOMMERCE.acme.org'));
    // when / then
    expect(errorsOf(yaml)).toEqual(['Route/second: host: host "ECOMMERCE.acme.org" is already served by Route/first on gateway "edge"']);
  });

  it('allows one host on two gateways', () => {
    // given
    const yaml = doc(GATEWAY, GATEWAY.replace('name: edge', 'name: edge-b'), SERVICE, route('first', 'gateway: edge'), route('second', 'gateway: edge-b'));
    // when / then
    expect(errorsOf(yaml)).toEqual([]);
  });

  it('checks the secrets a Service names for upstream TLS', () => {
    // given
    const service = (tls: string): string => `
type: Service
name: upstream
endpoints: [{ address: 127.0.0.1, port: 9443 }]
tls: ${tls}
`;
    // when
    const missing = errorsOf(doc(service('{ caSecret: nope, clientCertificateSecret: nope-2 }')));
    const wrongType = errorsOf(doc(SECRETS, service('{ caSecret: server-cert, clientCertificateSecret: root-ca }')));
    const fine = errorsOf(doc(SECRETS, service('{ caSecret: root-ca, clientCertificateSecret: server-cert, sni: upstream }')));
    // then
    expect(missing).toEqual([
      'Service/upstream: tls.caSecret: secret "nope" not found in mesh "default"',
      'Service/upstream: tls.clientCertificateSecret: secret "nope-2" not found in mesh "default"',
    ]);
    expect(wrongType.map((e) => e.split(': ').slice(0, 2).join(': '))).toEqual(['Service/upstream: tls.caSecret', 'Service/upstream: tls.clientCertificateSecret']);
    expect(fine).toEqual([]);
  });
});

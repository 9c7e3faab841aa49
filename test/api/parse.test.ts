import { describe, expect, it } from 'vitest';
import { formatFieldError, type Result } from '../../src/api/errors.js';
import { validateDocument, validateResource } from '../../src/api/parse.js';
import { parseYamlDocuments } from '../helpers/parse-yaml.js';
import { resourceKey, type Resource } from '../../src/api/types.js';
import { DATAPLANE_YAML, GATEWAY_YAML, MESH_YAML, ROUTE_YAML, SECRETS_YAML, SERVICE_YAML, TRAFFIC_PERMISSION_YAML } from './spec-examples.js';

function messages<T>(result: Result<T>): string[] {
  return result.ok ? [] : result.errors.map(formatFieldError);
}

function parseOk(text: string): Resource[] {
  const result = parseYamlDocuments(text, { file: 'spec.yaml' });
  if (!result.ok) throw new Error(messages(result).join('\n'));
  return result.value;
}

describe('parseYamlDocuments: the SPEC §1 examples', () => {
  it('accepts every example of every kind in one multi-document file', () => {
    // given
    const text = [SECRETS_YAML, GATEWAY_YAML, ROUTE_YAML, SERVICE_YAML, MESH_YAML, DATAPLANE_YAML, TRAFFIC_PERMISSION_YAML].join('---\n');
    // when
    const resources = parseOk(text);
    // then
    expect(resources.map(resourceKey)).toEqual([
      'Secret/default/my-root-ca',
      'Secret/default/my-tls-cert',
      'Gateway/default/edge',
      'Route/default/my-route',
      'Service/default/shopping-cart',
      'Mesh/default',
      'Dataplane/default/web-01',
      'TrafficPermission/default/web-to-backend',
    ]);
  });

  it('parses the Route example into the route descriptor shape', () => {
    // given / when
    const [route] = parseOk(ROUTE_YAML);
    // then
    expect(route).toEqual({
      type: 'Route',
      name: 'my-route',
      mesh: 'default',
      gateway: 'edge',
      host: 'ecommerce.acme.org',
      tls: { clientValidationCa: { name: 'my-root-ca' }, serverCertificate: { name: 'my-tls-cert' } },
      validation: {
        clientCertificate: {
          subjectMatches: [{ exact: 'client.acme.org' }, { hasPrefix: 'client-' }, { hasSuffix: '.acme.org' }, { regex: '^svc-[0-9]+\\.acme\\.org$' }],
        },
      },
      routes: [{ prefix: '/', route: { service: 'shopping-cart' } }],
    });
  });

  it('parses Dataplane, Service, Gateway and TrafficPermission examples', () => {
    // given / when
    const [dp] = parseOk(DATAPLANE_YAML);
    const [svc] = parseOk(SERVICE_YAML);
    const [gw] = parseOk(GATEWAY_YAML);
    const [tp] = parseOk(TRAFFIC_PERMISSION_YAML);
    // then
    expect(dp).toEqual({
      type: 'Dataplane',
      name: 'web-01',
      mesh: 'default',
      networking: {
        address: '127.0.0.1',
        inbound: [{ port: 8080, servicePort: 18080, tags: { 'kuma.io/service': 'web' } }],
        outbound: [{ port: 10001, tags: { 'kuma.io/service': 'backend' } }],
      },
    });
    expect(svc).toEqual({
      type: 'Service',
      name: 'shopping-cart',
      mesh: 'default',
      endpoints: [{ address: '127.0.0.1', port: 9001 }],
      tls: { caSecret: 'upstream-ca', clientCertificateSecret: 'gw-client', sni: 'upstream' },
    });
    expect(gw).toEqual({ type: 'Gateway', name: 'edge', mesh: 'default', listeners: [{ port: 8443 }] });
    expect(tp).toEqual({
      type: 'TrafficPermission',
      name: 'web-to-backend',
      mesh: 'default',
      sources: [{ match: { 'kuma.io/service': 'web' } }],
      destinations: [{ match: { 'kuma.io/service': 'backend' } }],
    });
  });

  it('defaults mesh to "default" for mesh-scoped kinds', () => {
    // given / when
    const [gw] = parseOk('type: Gateway\nname: edge\nlisteners: [{ port: 443 }]\n');
    // then
    expect(gw).toMatchObject({ mesh: 'default' });
  });

  it('skips empty documents and comments', () => {
    // given / when
    const resources = parseOk(`---\n# nothing\n---\n${GATEWAY_YAML}---\n`);
    // then
    expect(resources).toHaveLength(1);
  });
});

describe('parseYamlDocuments: errors', () => {
  it('names file, document index, resource and path, and collects errors of all documents', () => {
    // given
    const text = `${GATEWAY_YAML}---\ntype: Route\nname: my-route\nhost: a.acme.org\nroutes:\n- prefix: api\n  route: { servce: x }\n---\ntype: Gateway\nname: edge2\nlisteners: [{ port: 70000 }]\n`;
    // when
    const result = parseYamlDocuments(text, { file: 'routes.yaml' });
    // then
    expect(messages(result)).toEqual([
      'routes.yaml#2 Route/my-route: routes[0].prefix: path prefix must start with "/", got "api"',
      'routes.yaml#2 Route/my-route: routes[0].route.servce: unknown field "servce", did you mean "service"?',
      'routes.yaml#2 Route/my-route: routes[0].route.service: required field is missing',
      'routes.yaml#3 Gateway/edge2: listeners[0].port: expected integer port 1-65535, got number 70000',
    ]);
  });

  it('reports YAML syntax errors with file and document index', () => {
    // given
    const text = `${GATEWAY_YAML}---\ntype: Route\nname: [oops\n`;
    // when
    const result = parseYamlDocuments(text, { file: 'bad.yaml' });
    // then
    expect(result.ok).toBe(false);
    expect(messages(result)[0]).toMatch(/^bad\.yaml#2: YAML syntax error: /);
  });

  it('rejects an unknown type, listing the known types and suggesting the nearest', () => {
    // given / when
    const result = validateResource({ type: 'Rout', name: 'x' }, { file: 'a.yaml', document: 1 });
    // then
    expect(messages(result)).toEqual([
      'a.yaml#1 Rout/x: type: unknown type string "Rout"; did you mean "Route"? known types: Mesh, Dataplane, Service, Secret, Gateway, Route, TrafficPermission',
    ]);
  });

  it('requires type and a DNS-1123 name', () => {
    // given / when
    const noType = validateResource({ name: 'x' });
    const badName = validateResource({ type: 'Gateway', name: 'Edge_1', listeners: [{ port: 1 }] });
    // then
    expect(messages(noType)).toEqual(['type: required field is missing; known types: Mesh, Dataplane, Service, Secret, Gateway, Route, TrafficPermission']);
    expect(messages(badName)).toEqual([
      `Gateway/Edge_1: name: invalid name "Edge_1": use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (at most 253 characters)`,
    ]);
  });

  it('accepts the builtin CA secret names', () => {
    // given / when
    const result = validateResource({ type: 'Secret', name: 'default.ca-builtin-cert-ca-1', secretType: 'tls-ca', cert: 'x' });
    // then
    expect(result.ok).toBe(true);
  });

  it('rejects a resource defined twice in one file', () => {
    // given / when
    const result = parseYamlDocuments(`${GATEWAY_YAML}---\n${GATEWAY_YAML}`, { file: 'gw.yaml' });
    // then
    expect(messages(result)).toEqual(['gw.yaml#2 Gateway/edge: name: duplicate resource Gateway/default/edge: already defined at gw.yaml#1']);
  });

  it('reports unknown top-level fields with a suggestion, and every other error too', () => {
    // given / when
    const result = validateResource({ type: 'Gateway', name: 'edge', mesh: 'default', listener: [{ port: 1 }] });
    // then
    expect(messages(result)).toEqual([
      'Gateway/edge: listener: unknown field "listener", did you mean "listeners"?',
      'Gateway/edge: listeners: required field is missing',
    ]);
  });
});

describe('validateDocument', () => {
  it('accepts a JSON list of resources, addressing errors by list index', () => {
    // given
    const doc = [{ type: 'Gateway', name: 'a', listeners: [{ port: 1 }] }, { type: 'Gateway', name: 'b', listeners: [{ port: 0 }] }];
    // when
    const result = validateDocument(doc, { file: 'all.json', document: 1 });
    // then
    expect(messages(result)).toEqual(['all.json#1 Gateway/b: [1].listeners[0].port: expected integer port 1-65535, got number 0']);
  });

  it('formats errors without file or resource', () => {
    expect(formatFieldError({ path: 'a.b', message: 'bad' })).toBe('a.b: bad');
    expect(formatFieldError({ file: 'f.yaml', path: '', message: 'cannot read: ENOENT' })).toBe('f.yaml: cannot read: ENOENT');
  });
});

import { describe, expect, it } from 'vitest';
import { formatFieldError } from '../../src/api/errors.js';
import { validateResource } from '../../src/api/parse.js';
import { parseYamlDocuments } from '../helpers/parse-yaml.js';

function errorsOf(doc: unknown): string[] {
  const result = validateResource(doc, { file: 'routes.yaml', document: 1 });
  return result.ok ? [] : result.errors.map(formatFieldError);
}

const base = {
  type: 'Route',
  name: 'my-route',
  host: 'ecommerce.acme.org',
  tls: { clientValidationCa: { name: 'my-root-ca' } },
  routes: [{ prefix: '/', route: { service: 'shopping-cart' } }],
};

function withMatchers(subjectMatches: unknown[]): Record<string, unknown> {
  return { ...base, validation: { clientCertificate: { subjectMatches } } };
}

describe('Route validation', () => {
  it('reports an invalid RE2 regex in the second document with the SPEC message shape', () => {
    // given
    const text = `type: Gateway\nname: edge\nlisteners: [{ port: 8443 }]\n---
type: Route
name: my-route
host: ecommerce.acme.org
tls: { clientValidationCa: { name: my-root-ca } }
validation:
  clientCertificate:
    subjectMatches:
    - exact: client.acme.org
    - regex: '('
routes: [{ prefix: /, route: { service: cart } }]
`;
    // when
    const result = parseYamlDocuments(text, { file: 'routes.yaml' });
    // then
    expect(result.ok ? [] : result.errors.map(formatFieldError)).toEqual([
      'routes.yaml#2 Route/my-route: validation.clientCertificate.subjectMatches[1].regex: invalid RE2 syntax: missing ): (',
    ]);
  });

  it('rejects JavaScript-only regex syntax: lookahead and backreferences', () => {
    // given / when
    const errors = errorsOf(withMatchers([{ regex: '(?=a)b' }, { regex: '(a)\\1' }]));
    // then
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^routes\.yaml#1 Route\/my-route: validation\.clientCertificate\.subjectMatches\[0\]\.regex: invalid RE2 syntax: invalid perl operator: \(\?=/);
    expect(errors[1]).toMatch(/subjectMatches\[1\]\.regex: invalid RE2 syntax: invalid escape sequence: \\1/);
  });

  it('needs exactly one non-empty matcher kind per entry', () => {
    // given / when
    const errors = errorsOf(withMatchers([{ exact: 'a', hasPrefix: 'b' }, {}, { hasSuffix: '' }, { prefix: 'svc-' }]));
    // then
    expect(errors).toEqual([
      'routes.yaml#1 Route/my-route: validation.clientCertificate.subjectMatches[0]: expected exactly one of exact, hasPrefix, hasSuffix, regex, found exact, hasPrefix',
      'routes.yaml#1 Route/my-route: validation.clientCertificate.subjectMatches[1]: expected exactly one of exact, hasPrefix, hasSuffix, regex, found none',
      'routes.yaml#1 Route/my-route: validation.clientCertificate.subjectMatches[2].hasSuffix: must not be empty',
      'routes.yaml#1 Route/my-route: validation.clientCertificate.subjectMatches[3].prefix: unknown field "prefix", did you mean "hasPrefix"?',
    ]);
  });

  it('rejects subject matchers without a client CA', () => {
    // given
    const doc = { ...withMatchers([{ exact: 'client.acme.org' }]), tls: { serverCertificate: { name: 'my-tls-cert' } } };
    // when
    const errors = errorsOf(doc);
    // then
    expect(errors).toEqual([
      'routes.yaml#1 Route/my-route: validation.clientCertificate.subjectMatches: subject matchers need tls.clientValidationCa: without a client CA no client certificate is requested, so there is no subject to check',
    ]);
  });

  it('requires host and at least one route', () => {
    // given / when
    const missing = errorsOf({ type: 'Route', name: 'r' });
    const empty = errorsOf({ type: 'Route', name: 'r', host: 'a.b', routes: [] });
    // then
    expect(missing).toEqual(['routes.yaml#1 Route/r: host: required field is missing', 'routes.yaml#1 Route/r: routes: required field is missing']);
    expect(empty).toEqual(['routes.yaml#1 Route/r: routes: must have at least one entry']);
  });

  it('accepts a wildcard host and rejects a malformed one', () => {
    // given / when
    const wildcard = validateResource({ ...base, host: '*.acme.org' });
    const bad = errorsOf({ ...base, host: 'a.*.org' });
    // then
    expect(wildcard.ok).toBe(true);
    expect(bad).toEqual(['routes.yaml#1 Route/my-route: host: invalid hostname "a.*.org" (a wildcard must be a leading "*.", e.g. "*.acme.org")']);
  });

  it('suggests known fields at every nesting level', () => {
    // given / when
    const errors = errorsOf({ ...base, tls: { clientValidationCA: { name: 'ca' } }, validation: { clientCertificate: { subjectMatch: [] } } });
    // then
    expect(errors).toContain('routes.yaml#1 Route/my-route: tls.clientValidationCA: unknown field "clientValidationCA", did you mean "clientValidationCa"?');
    expect(errors).toContain('routes.yaml#1 Route/my-route: validation.clientCertificate.subjectMatch: unknown field "subjectMatch", did you mean "subjectMatches"?');
  });
});

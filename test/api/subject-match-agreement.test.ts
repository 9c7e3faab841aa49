/**
 * Issue #13 "what cert check says is what the gateway does": for every matcher a Route may
 * carry (it passed validation), `cert check`'s verdict (api/subject-match.ts) equals the verdict
 * of the generated RBAC filter as Envoy evaluates it (test/helpers/envoy-tls.ts); a matcher the
 * filter cannot carry is refused at validation, with the reason.
 */
import { describe, expect, it } from 'vitest';
import { validateResource } from '../../src/api/parse.js';
import { subjectMatcherHits } from '../../src/api/subject-match.js';
import type { RouteResource, SubjectMatcher } from '../../src/api/types.js';
import { subjectRbacFilter } from '../../src/envoy/subject-rbac.js';
import { documentToResource } from '../../src/store/document.js';
import { evaluateRbac, renderRfc2253 } from '../helpers/envoy-tls.js';

const MATCHERS: readonly SubjectMatcher[] = [
  { exact: 'client.acme.org' },
  { hasPrefix: 'client-' },
  { hasSuffix: '.acme.org' },
  { regex: '^svc-[0-9]+\\.acme\\.org$' },
  { regex: 'client.*' },
  { regex: '(?i)CLIENT\\..*' },
  { regex: '.*,.*' },
  { regex: 'a|client-1' },
  { regex: '[^.]+\\.acme\\.org' },
  { regex: 'CN=client.*' },
  { regex: '.*O=Acme.*' },
  { regex: 'é+' },
  { regex: '\\bclient.*' },
  { regex: 'client\\b.*' },
  { regex: '(^client|^svc).*' },
  { regex: 'x$|client.*' },
  { regex: '\\Bx' },
  { regex: '\\p{L}+' },
  { regex: '[a-zà-ÿ]+' },
  { regex: '\\P{Greek}*' },
];

interface Certificate {
  readonly cn: string;
  readonly org?: string;
  readonly dnsSans: readonly string[];
}

const CERTIFICATES: readonly Certificate[] = [
  { cn: 'client.acme.org', dnsSans: ['client.acme.org'] },
  { cn: 'client-1', org: 'Acme', dnsSans: [] },
  { cn: 'svc-42.acme.org', dnsSans: ['other.example', 'svc-42.acme.org'] },
  { cn: 'intruder', org: 'client.acme.org', dnsSans: ['a.example'] },
  { cn: 'a,b', dnsSans: ['x.acme.org'] },
  { cn: 'éé', dnsSans: [] },
  { cn: 'zürich', dnsSans: ['xn--zrich-kva.example'] },
  { cn: 'αβγ', dnsSans: [] },
  { cn: '', dnsSans: [] },
  { cn: 'CLIENT.ACME.ORG', dnsSans: ['Client.acme.org'] },
  { cn: 'nobody', dnsSans: ['client', 'evil.example'] },
];

function routeWith(m: SubjectMatcher): ReturnType<typeof validateResource> {
  return validateResource({ type: 'Route', name: 'r', host: 'shop.acme.org', tls: { clientValidationCa: { name: 'clients-ca' } }, validation: { clientCertificate: { subjectMatches: [m] } }, routes: [{ prefix: '/', route: { service: 's' } }] }, { file: 'route.yaml', document: 1 });
}

/** `cert check`: the CN or any DNS SAN. */
function certCheckAdmits(m: SubjectMatcher, c: Certificate): boolean {
  return [c.cn, ...c.dnsSans].some((v) => subjectMatcherHits(m, v));
}

/** The gateway: the generated RBAC filter on Envoy's ssl inputs. */
function gatewayAdmits(m: SubjectMatcher, c: Certificate): boolean {
  const kind = 'exact' in m ? 'exact' : 'hasPrefix' in m ? 'hasPrefix' : 'hasSuffix' in m ? 'hasSuffix' : 'regex';
  const value = 'exact' in m ? m.exact : 'hasPrefix' in m ? m.hasPrefix : 'hasSuffix' in m ? m.hasSuffix : m.regex;
  const { filter } = subjectRbacFilter([{ kind, value }]);
  const config = filter['typed_config'] as Record<string, unknown>;
  const rdns: [string, string][][] = [...(c.org !== undefined ? [[['O', c.org] as [string, string]]] : []), [['CN', c.cn]]];
  return evaluateRbac(config, { subject: renderRfc2253(rdns), dnsSan: c.dnsSans.length > 0 ? c.dnsSans.join(',') : undefined, uriSan: undefined }).allowed;
}

describe('subject matchers: cert check and the generated RBAC agree', () => {
  for (const m of MATCHERS) {
    const label = JSON.stringify(m);
    const validated = routeWith(m);
    if (validated.ok) {
      it(`${label}: accepted, and admits exactly the certificates cert check admits`, () => {
        // given: a matcher that validation accepted
        const route = validated.value as RouteResource;
        const matcher = route.validation?.clientCertificate?.subjectMatches[0] ?? m;
        for (const certificate of CERTIFICATES) {
          // when
          const said = certCheckAdmits(matcher, certificate);
          const done = gatewayAdmits(matcher, certificate);
          // then
          expect({ certificate, admitted: done }).toEqual({ certificate, admitted: said });
        }
      });
    } else {
      it(`${label}: refused at validation, saying why`, () => {
        // given / when: validation refused it
        const errors = validated.errors.map((e) => e.message);
        // then: the reason names what the gateway cannot do
        expect(errors.join('\n')).toMatch(/cannot be enforced by the gateway: .+; (the regex is matched against the whole CN or DNS SAN|a Unicode class)/);
      });
    }
  }

  it('refuses the constructs that cannot be carried: \\b, \\B and an anchor after the start', () => {
    // given
    const refused = ['\\bclient.*', 'client\\b.*', '\\Bx', 'client.*^x', 'x$y'];
    // when
    const verdicts = refused.map((regex) => routeWith({ regex }).ok);
    // then
    expect(verdicts).toEqual(refused.map(() => false));
    expect(routeWith({ regex: '^svc-[0-9]+\\.acme\\.org$' }).ok).toBe(true);
  });

  it('still reads such a route from a store written before the check (the gateway keeps failing closed on it)', () => {
    // given: a stored document with \b, accepted by an older meshcp
    const doc = { type: 'Route', name: 'r', mesh: 'default', host: 'shop.acme.org', tls: { clientValidationCa: { name: 'clients-ca' } }, validation: { clientCertificate: { subjectMatches: [{ regex: '\\bclient.*' }] } }, routes: [{ prefix: '/', route: { service: 's' } }] };
    // when
    const stored = documentToResource(doc, 'store/routes/r.yaml');
    // then
    expect(stored).toMatchObject({ type: 'Route', name: 'r' });
    expect(routeWith({ regex: '\\bclient.*' }).ok).toBe(false);
  });
});

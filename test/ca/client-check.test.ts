import { beforeAll, describe, expect, it } from 'vitest';
import type { RouteResource, SubjectMatcher } from '../../src/api/types.js';
import { checkClientCertificate } from '../../src/ca/client-check.js';
import { createRootCa, issueCertificate, type CaMaterial } from '../../src/ca/pki.js';
import { createIntermediateCa } from '../helpers/intermediate-ca.js';

const DAY = 86_400;

function route(matchers: SubjectMatcher[] = [], clientCa: string | null = 'my-root-ca'): RouteResource {
  return {
    type: 'Route',
    name: 'my-route',
    mesh: 'default',
    host: 'ecommerce.acme.org',
    ...(clientCa ? { tls: { clientValidationCa: { name: clientCa } } } : {}),
    ...(matchers.length > 0 ? { validation: { clientCertificate: { subjectMatches: matchers } } } : {}),
    routes: [{ prefix: '/', route: { service: 'shopping-cart' } }],
  };
}

describe('meshcp cert check semantics', () => {
  let ca: CaMaterial;
  let otherCa: CaMaterial;
  let byCn: string;
  let bySan: string;
  beforeAll(async () => {
    ca = await createRootCa({ commonName: 'Root', validitySeconds: 365 * DAY });
    otherCa = await createRootCa({ commonName: 'Other Root', validitySeconds: 365 * DAY });
    byCn = (await issueCertificate({ issuer: ca, commonName: 'client.acme.org', usage: 'client', validitySeconds: DAY })).certPem;
    bySan = (await issueCertificate({ issuer: ca, commonName: 'nobody', dnsNames: ['x.example.com', 'svc-42.acme.org'], usage: 'client', validitySeconds: DAY })).certPem;
  });

  it('admits on a CN hit and says which matcher hit what', () => {
    // given / when
    const verdict = checkClientCertificate(byCn, route([{ hasPrefix: 'zzz' }, { exact: 'client.acme.org' }]), ca.certPem);
    // then
    expect(verdict).toMatchObject({ admitted: true, route: 'my-route', host: 'ecommerce.acme.org' });
    expect(verdict.reason).toBe('subjectMatches[1] (exact "client.acme.org") hit the CN "client.acme.org"');
  });

  it('admits on the second DNS SAN with a regex', () => {
    const verdict = checkClientCertificate(bySan, route([{ regex: 'svc-[0-9]+\\.acme\\.org' }]), ca.certPem);
    expect(verdict.admitted).toBe(true);
    expect(verdict.reason).toMatch(/hit the DNS SAN "svc-42\.acme\.org"/);
  });

  it('refuses with 403 when no matcher hits, listing what was seen', () => {
    const verdict = checkClientCertificate(bySan, route([{ hasSuffix: '.acme.com' }]), ca.certPem);
    expect(verdict.admitted).toBe(false);
    expect(verdict.reason).toBe('HTTP 403: none of 1 subject matcher(s) hit CN "nobody", DNS SAN "x.example.com", DNS SAN "svc-42.acme.org"');
  });

  it('refuses a certificate from another CA at the handshake', () => {
    const verdict = checkClientCertificate(byCn, route([{ exact: 'client.acme.org' }]), otherCa.certPem);
    expect(verdict.admitted).toBe(false);
    expect(verdict.reason).toMatch(/^TLS handshake fails: issuer ".*Root.*" is not the route's client CA$/);
  });

  it('follows intermediates presented with the client certificate', async () => {
    // given: root → intermediate → leaf, the client file holding leaf + intermediate
    const inter = await createIntermediateCa({ issuer: ca, commonName: 'Inter', validitySeconds: 30 * DAY });
    const leaf = await issueCertificate({ issuer: inter, commonName: 'client.acme.org', usage: 'client', validitySeconds: DAY });
    // when / then
    expect(checkClientCertificate(leaf.chainPem, route([{ exact: 'client.acme.org' }]), ca.certPem).admitted).toBe(true);
    expect(checkClientCertificate(leaf.certPem, route([{ exact: 'client.acme.org' }]), ca.certPem).admitted).toBe(false);
  });

  it('refuses an expired certificate and admits anyone on a route without a client CA', () => {
    const later = new Date(Date.now() + 2 * DAY * 1000);
    expect(checkClientCertificate(byCn, route([]), ca.certPem, later).reason).toMatch(/^TLS handshake fails: certificate expired /);
    expect(checkClientCertificate(byCn, route([], null), undefined)).toMatchObject({ admitted: true, reason: expect.stringMatching(/no client certificate is requested/) });
  });
});

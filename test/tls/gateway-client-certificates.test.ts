/**
 * SPEC §1 Route, with real TLS handshakes on 127.0.0.1: the gateway config meshcp generates
 * (decoded from the snapshot, served by test/helpers/envoy-tls.ts as Envoy would) requires a
 * client certificate from the route's CA, admits a subject matching on its CN or on one of
 * its DNS SANs, and refuses the rest: at the handshake without a certificate or with one from
 * another CA, with HTTP 403 when the subject does not match.
 */
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseYamlDocuments } from '../helpers/parse-yaml.js';
import { createRootCa, issueCertificate, type CaMaterial, type IssuedCertificate } from '../../src/ca/pki.js';
import { generateForProxy } from '../../src/generate/generate.js';
import { type IssuedServerCertificate } from '../../src/generate/secret-material.js';
import { secretMaterialFromResources } from '../helpers/secret-material.js';
import { gatewayListenerName } from '../../src/envoy/names.js';
import { translateMeshes } from '../../src/translate/mesh-services.js';
import { decodeProxyConfig, startEmulatedListener, type EmulatedGateway, type EmulatedReply } from '../helpers/envoy-tls.js';

const HOUR = 3600;

type Outcome = { kind: 'response'; status: number; body: string } | { kind: 'refused'; error: string };

interface ClientIdentity {
  readonly cert: string;
  readonly key: string;
}

function indent(pem: string): string {
  return pem
    .trim()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

async function request(port: number, host: string, path: string, trust: string, client?: ClientIdentity): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = https.request(
      { host: '127.0.0.1', port, path, servername: host, headers: { host: `${host}:8443` }, ca: trust, agent: false, ...(client ?? {}) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ kind: 'response', status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', (err) => resolve({ kind: 'refused', error: err.message }));
    req.end();
  });
}

describe('gateway client certificates, real handshakes', () => {
  let clientCa: CaMaterial;
  let serverCa: CaMaterial;
  let gateway: EmulatedGateway;
  const clients = new Map<string, ClientIdentity>();

  const client = (name: string): ClientIdentity => {
    const found = clients.get(name);
    if (!found) throw new Error(`no client ${name}`);
    return found;
  };

  beforeAll(async () => {
    clientCa = await createRootCa({ commonName: 'client root', validitySeconds: HOUR });
    const otherCa = await createRootCa({ commonName: 'someone else', validitySeconds: HOUR });
    serverCa = await createRootCa({ commonName: 'server root', validitySeconds: HOUR });
    const shopCert = await issueCertificate({ issuer: serverCa, dnsNames: ['ecommerce.acme.org'], usage: 'server', validitySeconds: HOUR });
    const issued = new Map<string, IssuedServerCertificate>();
    for (const host of ['partners.acme.org', 'www.acme.org']) {
      const c = await issueCertificate({ issuer: serverCa, dnsNames: [host], usage: 'server', validitySeconds: HOUR });
      issued.set(host, { certPem: c.chainPem, keyPem: c.keyPem });
    }
    const issue = async (name: string, options: { cn?: string; dns?: string[]; ca?: CaMaterial }): Promise<void> => {
      const c: IssuedCertificate = await issueCertificate({
        issuer: options.ca ?? clientCa,
        ...(options.cn !== undefined ? { commonName: options.cn } : {}),
        dnsNames: options.dns ?? [],
        usage: 'client',
        validitySeconds: HOUR,
      });
      clients.set(name, { cert: c.chainPem, key: c.keyPem });
    };
    await issue('cn only', { cn: 'client.acme.org' });
    await issue('dns san only', { dns: ['client.acme.org'] });
    await issue('second dns san', { cn: 'nobody', dns: ['first.example.com', 'svc-42.acme.org'] });
    await issue('regex on cn', { cn: 'svc-7.acme.org' });
    await issue('prefix on cn', { cn: 'client-eu-1' });
    await issue('no match', { cn: 'intruder.example.com', dns: ['intruder.example.com'] });
    await issue('cn smuggling a cn', { cn: 'evil,CN=client.acme.org' });
    await issue('other ca', { cn: 'client.acme.org', ca: otherCa });

    const yaml = `
type: Gateway
name: edge
listeners:
- port: 8443
---
type: Secret
name: my-root-ca
secretType: tls-ca
cert: |
${indent(clientCa.certPem)}
---
type: Secret
name: shop-cert
secretType: tls
cert: |
${indent(shopCert.chainPem)}
key: |
${indent(shopCert.keyPem)}
---
type: Route
name: shop
host: ecommerce.acme.org
tls:
  clientValidationCa: { name: my-root-ca }
  serverCertificate: { name: shop-cert }
validation:
  clientCertificate:
    subjectMatches:
    - exact: client.acme.org
    - hasPrefix: client-eu-
    - regex: '^svc-[0-9]+\\.acme\\.org$'
routes:
- prefix: /
  route: { service: shopping-cart }
- prefix: /api
  route: { service: catalog }
---
type: Route
name: partners
host: partners.acme.org
tls:
  clientValidationCa: { name: my-root-ca }
routes:
- prefix: /
  route: { service: catalog }
---
type: Route
name: public
host: www.acme.org
routes:
- prefix: /
  route: { service: catalog }
---
type: Service
name: shopping-cart
endpoints: [{ address: 10.0.0.2, port: 8080 }]
---
type: Service
name: catalog
endpoints: [{ address: 10.0.0.3, port: 8080 }]
`;
    const parsed = parseYamlDocuments(yaml, { file: 'tls-test.yaml' });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const secrets = secretMaterialFromResources(parsed.value, (_mesh, host) => issued.get(host));
    const config = generateForProxy(translateMeshes(parsed.value), { name: 'edge', mesh: 'default', flavor: 'envoy' }, { secrets });
    gateway = await startEmulatedListener(decodeProxyConfig(config), gatewayListenerName(8443));
  });

  afterAll(async () => {
    await gateway?.close();
  });

  const shop = (path: string, who?: string): Promise<Outcome> => request(gateway.port, 'ecommerce.acme.org', path, serverCa.certPem, who === undefined ? undefined : client(who));

  it('refuses a client without a certificate at the handshake', async () => {
    // given a route with a client CA
    // when a client connects without a certificate
    const outcome = await shop('/');
    // then the handshake fails: no HTTP response at all
    expect(outcome.kind).toBe('refused');
  });

  it('refuses a certificate from another CA at the handshake', async () => {
    // given a client certificate with a matching CN, signed by a CA the route does not trust
    // when it connects
    const outcome = await shop('/', 'other ca');
    // then
    expect(outcome.kind).toBe('refused');
  });

  it.each([
    ['cn only', 'exact on the CN, no SAN at all'],
    ['dns san only', 'exact on a DNS SAN, no CN at all'],
    ['second dns san', 'regex on the second of two DNS SANs'],
    ['regex on cn', 'regex on the CN'],
    ['prefix on cn', 'hasPrefix on the CN'],
  ])('admits "%s" (%s)', async (who) => {
    // given a certificate from the route's CA whose subject matches one matcher
    // when it calls the route
    const outcome = await shop('/', who);
    // then the request is routed
    expect(outcome).toMatchObject({ kind: 'response', status: 200 });
    if (outcome.kind === 'response') expect((JSON.parse(outcome.body) as EmulatedReply).cluster).toBe('shopping-cart');
  });

  it.each([
    ['no match', 'neither the CN nor a DNS SAN matches'],
    ['cn smuggling a cn', 'the CN only contains "CN=client.acme.org" after a comma'],
  ])('answers 403 to "%s" (%s)', async (who) => {
    // given a certificate from the route's CA whose subject matches no matcher
    // when it calls the route
    const outcome = await shop('/', who);
    // then the TLS handshake succeeds and the request is refused
    expect(outcome).toMatchObject({ kind: 'response', status: 403 });
  });

  it('routes by the longest prefix', async () => {
    // given routes / → shopping-cart and /api → catalog
    // when an admitted client calls /api/items
    const outcome = await shop('/api/items', 'cn only');
    // then
    expect(outcome.kind === 'response' ? (JSON.parse(outcome.body) as EmulatedReply).cluster : outcome.error).toBe('catalog');
  });

  it('admits any certificate from the CA on a route without subject matchers, and nothing else', async () => {
    // given partners.acme.org: a client CA, no subject matcher, an issued server certificate
    // when a certificate that matches no subject calls it, and then a client without one
    const admitted = await request(gateway.port, 'partners.acme.org', '/', serverCa.certPem, client('no match'));
    const refused = await request(gateway.port, 'partners.acme.org', '/', serverCa.certPem);
    // then
    expect(admitted).toMatchObject({ kind: 'response', status: 200 });
    expect(refused.kind).toBe('refused');
  });

  it('asks no client certificate on a route without a client CA', async () => {
    // given www.acme.org: no client CA
    // when a client with a certificate calls it
    const outcome = await request(gateway.port, 'www.acme.org', '/', serverCa.certPem, client('cn only'));
    // then the request is served, and the gateway never saw the certificate
    expect(outcome).toMatchObject({ kind: 'response', status: 200 });
    if (outcome.kind === 'response') expect((JSON.parse(outcome.body) as EmulatedReply).peerSubject).toBeNull();
  });

  it('closes a connection whose SNI names no route', async () => {
    // given no route for unknown.acme.org
    // when a client asks for it
    const outcome = await request(gateway.port, 'unknown.acme.org', '/', serverCa.certPem, client('cn only'));
    // then no filter chain matches
    expect(outcome.kind).toBe('refused');
  });
});

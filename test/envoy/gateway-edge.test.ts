/**
 * The edge gateway (the Kalix/Akka model) on real Envoy 1.40: a route with a client-CA secret and
 * subject matchers, a custom server certificate per host chosen by SNI, the certificate meshcp
 * issues when none is given, upstream TLS with a client certificate to a real TLS backend, and the
 * warnings `meshcp apply` prints checked against what Envoy then does.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueCertificate, type CaMaterial, type IssuedCertificate } from '../../src/ca/pki.js';
import { runCli } from '../cli/harness.js';
import { freePort } from '../helpers/echo-service.js';
import { httpsGet, httpsOutcome, startHttpApp, startTlsApp, type RunningApp } from './apps.js';
import type { EnvoyProcess } from './envoy-process.js';
import { printEnvoysOnFailure, Testbed } from './testbed.js';

const serialOf = (pem: string): string => new crypto.X509Certificate(pem).serialNumber;

describe('edge gateway on real Envoy', () => {
  let bed: Testbed;
  let edge: EnvoyProcess;
  let port: number;
  let app: RunningApp;
  let secureUpstream: RunningApp;
  let unverifiedUpstream: RunningApp;
  let clientsCa: CaMaterial;
  let otherCa: CaMaterial;
  let serverCa: CaMaterial;
  let shopCert: IssuedCertificate;
  let applyWarnings: string;
  const clients: Record<string, IssuedCertificate> = {};
  printEnvoysOnFailure(() => [bed]);

  const write = (name: string, content: string): string => {
    const file = path.join(bed.dir, name);
    fs.writeFileSync(file, content);
    return file;
  };

  beforeAll(async () => {
    bed = await Testbed.start('gateway');
    port = await freePort();
    app = await startHttpApp('app');
    [clientsCa, otherCa, serverCa] = await Promise.all(['clients root', 'other root', 'server root'].map((commonName) => createRootCa({ commonName, keyType: 'ecdsa-p256', validitySeconds: 86_400 })));
    const upstreamCa = await createRootCa({ commonName: 'upstream root', keyType: 'ecdsa-p256', validitySeconds: 86_400 });
    const gatewayClientCa = await createRootCa({ commonName: 'gateway clients root', keyType: 'ecdsa-p256', validitySeconds: 86_400 });
    const strangerCa = await createRootCa({ commonName: 'nobody trusts me', keyType: 'ecdsa-p256', validitySeconds: 86_400 });
    shopCert = await issueCertificate({ issuer: serverCa, commonName: 'shop', dnsNames: ['shop.acme.org'], usage: 'server', validitySeconds: 86_400 });
    const wrongCert = await issueCertificate({ issuer: serverCa, commonName: 'other', dnsNames: ['other.example'], usage: 'server', validitySeconds: 86_400 });
    const upstreamCert = await issueCertificate({ issuer: upstreamCa, dnsNames: ['upstream.internal'], usage: 'server', validitySeconds: 86_400 });
    const strangerCert = await issueCertificate({ issuer: strangerCa, dnsNames: ['whatever.internal'], usage: 'server', validitySeconds: 86_400 });
    const gatewayClient = await issueCertificate({ issuer: gatewayClientCa, commonName: 'gw-client', usage: 'client', validitySeconds: 86_400 });
    secureUpstream = await startTlsApp('secure', { cert: upstreamCert.certPem, key: upstreamCert.keyPem, clientCa: gatewayClientCa.certPem });
    unverifiedUpstream = await startTlsApp('unverified', { cert: strangerCert.certPem, key: strangerCert.keyPem, clientCa: gatewayClientCa.certPem });
    for (const [name, cn, dns] of [['exact', 'client.acme.org', []], ['suffixSan', 'anyone', ['a.partner.org']], ['nomatch', 'intruder', ['intruder.example']]] as const) {
      clients[name] = await issueCertificate({ issuer: clientsCa, commonName: cn, dnsNames: [...dns], usage: 'client', validitySeconds: 86_400 });
    }
    clients['otherCa'] = await issueCertificate({ issuer: otherCa, commonName: 'client.acme.org', usage: 'client', validitySeconds: 86_400 });

    // the user's journey, through the CLI: secrets from files, then the resources
    const secrets: Array<[string[], string]> = [
      [['tls-ca', 'clients-ca', '--cert', write('clients-ca.crt', clientsCa.certPem)], 'clients-ca'],
      [['tls', 'shop-cert', '--cert', write('shop.crt', shopCert.certPem), '--key', write('shop.key', shopCert.keyPem)], 'shop-cert'],
      [['tls', 'wrong-cert', '--cert', write('wrong.crt', wrongCert.certPem), '--key', write('wrong.key', wrongCert.keyPem)], 'wrong-cert'],
      [['tls-ca', 'upstream-ca', '--cert', write('upstream-ca.crt', upstreamCa.certPem)], 'upstream-ca'],
      [['tls', 'gw-client', '--cert', write('gw-client.crt', gatewayClient.certPem), '--key', write('gw-client.key', gatewayClient.keyPem)], 'gw-client'],
    ];
    for (const [args, name] of secrets) expect((await bed.cli(['secret', 'create', ...args])).code, name).toBe(0);
    const route = (name: string, host: string, service: string, extra = ''): string => `type: Route\nname: ${name}\ngateway: edge\nhost: ${host}\n${extra}routes:\n- prefix: /\n  route: { service: ${service} }\n`;
    const run = await bed.apply(
      [
        'type: Mesh\nname: default\n',
        `type: Gateway\nname: edge\nlisteners:\n- port: ${port}\n`,
        `type: Service\nname: app\nendpoints:\n- { address: 127.0.0.1, port: ${app.port} }\n`,
        `type: Service\nname: secure\nendpoints:\n- { address: 127.0.0.1, port: ${secureUpstream.port} }\ntls: { caSecret: upstream-ca, clientCertificateSecret: gw-client, sni: upstream.internal }\n`,
        `type: Service\nname: unverified\nendpoints:\n- { address: 127.0.0.1, port: ${unverifiedUpstream.port} }\ntls: { clientCertificateSecret: gw-client }\n`,
        route('shop', 'shop.acme.org', 'app', 'tls:\n  clientValidationCa: { name: clients-ca }\n  serverCertificate: { name: shop-cert }\nvalidation:\n  clientCertificate:\n    subjectMatches: [ { exact: client.acme.org }, { hasSuffix: .partner.org } ]\n'),
        route('open', 'open.acme.org', 'app'),
        route('mismatch', 'mismatch.acme.org', 'app', 'tls:\n  serverCertificate: { name: wrong-cert }\n'),
        route('secure', 'secure.acme.org', 'secure', 'tls:\n  serverCertificate: { name: shop-cert }\n'),
        route('noverify', 'noverify.acme.org', 'unverified', 'tls:\n  serverCertificate: { name: shop-cert }\n'),
      ].join('---\n'),
    );
    applyWarnings = run.stderr;
    edge = await bed.readyEnvoy('edge');
  });

  afterAll(async () => {
    await bed?.stop();
    await Promise.all([app, secureUpstream, unverifiedUpstream].map((a) => a?.close()));
  });

  const shop = (client?: IssuedCertificate): Promise<number | 'handshake'> =>
    httpsOutcome(port, { host: 'shop.acme.org', ca: serverCa.certPem, ...(client !== undefined ? { cert: client.certPem, key: client.keyPem } : {}) });

  it('a route with a client CA refuses the handshake without a client certificate, and with one from another CA', async () => {
    expect(await shop()).toBe('handshake');
    expect(await shop(clients['otherCa'])).toBe('handshake');
  });

  it('admits a certificate whose CN or DNS SAN a matcher hits, and answers 403 to one from the right CA that no matcher hits', async () => {
    expect(await shop(clients['exact'])).toBe(200);
    expect(await shop(clients['suffixSan'])).toBe(200);
    expect(await shop(clients['nomatch'])).toBe(403);
  });

  it('serves each host its own server certificate, chosen by SNI', async () => {
    // when the same listener is reached with two SNIs
    const shopReply = await httpsGet(port, { host: 'shop.acme.org', ca: serverCa.certPem, cert: clients['exact']!.certPem, key: clients['exact']!.keyPem });
    const mismatch = await httpsGet(port, { host: 'mismatch.acme.org', ca: serverCa.certPem, checkName: false });
    // then each got the certificate of its route's secret
    expect(shopReply.serverCertificate.serialNumber).toBe(serialOf(shopCert.certPem));
    expect(mismatch.serverCertificate.subjectaltname).toBe('DNS:other.example');
    // and an SNI no route claims matches no filter chain
    expect(await httpsOutcome(port, { host: 'unknown.acme.org', ca: serverCa.certPem, checkName: false })).toBe('handshake');
  });

  it('serves a route without a server certificate with one meshcp issued for its host, verifiable with the CA the warning names', async () => {
    // given the warning apply printed for the route, naming the command that prints the CA
    const warning = applyWarnings.split('\n').find((l) => l.includes('Route/open:'));
    expect(warning).toContain('not publicly trusted');
    const command = /\((meshcp get [^)]+ -o pem)\)/.exec(warning ?? '')?.[1];
    expect(command).toBeDefined();
    // when the user runs it
    const run = await runCli([...command!.split(' ').slice(1), '--server', bed.server.adminUrl]);
    expect(run.code, run.stderr).toBe(0);
    // then that CA verifies the certificate Envoy presents for the host, name included
    const reply = await httpsGet(port, { host: 'open.acme.org', ca: run.stdout });
    expect(reply.status).toBe(200);
    expect(reply.serverCertificate.subjectaltname).toContain('DNS:open.acme.org');
    // and a client that does not have it refuses the certificate, as warned
    await expect(httpsGet(port, { host: 'open.acme.org', ca: serverCa.certPem })).rejects.toThrow(/unable to verify|self.signed|certificate/i);
  });

  it('warns that a server certificate does not cover its host, and clients that check the name refuse it', async () => {
    expect(applyWarnings).toMatch(/Route\/mismatch: tls.serverCertificate "wrong-cert": its DNS names \(other.example\) do not cover the route's host; clients that verify the name will refuse mismatch.acme.org/);
    await expect(httpsGet(port, { host: 'mismatch.acme.org', ca: serverCa.certPem })).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    expect((await httpsGet(port, { host: 'mismatch.acme.org', ca: serverCa.certPem, checkName: false })).status).toBe(200);
  });

  it('reaches a TLS upstream with the gateway\'s client certificate, verifying it against caSecret and sni', async () => {
    // when a request goes through the route to the mTLS upstream
    const reply = await httpsGet(port, { host: 'secure.acme.org', ca: serverCa.certPem, checkName: false });
    // then the upstream answered and saw the gateway's client certificate
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ app: 'secure', peerSubject: 'gw-client' });
  });

  it('warns that an upstream without caSecret is not verified, and Envoy indeed talks to an upstream nobody trusts', async () => {
    expect(applyWarnings).toContain('Service/unverified: tls without caSecret: gateway edge does not verify the upstream\'s certificate');
    const reply = await httpsGet(port, { host: 'noverify.acme.org', ca: serverCa.certPem, checkName: false });
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ app: 'unverified', peerSubject: 'gw-client' });
  });

  it('follows Envoy\'s edge guidance: no client is internal, x-envoy-* headers from clients are dropped, headers with underscores refused', async () => {
    // given a client on loopback (a private address Envoy would trust by default)
    const open = { host: 'mismatch.acme.org', ca: serverCa.certPem, checkName: false };
    // when it sends Envoy control headers
    const reply = await httpsGet(port, { ...open, headers: { 'x-envoy-upstream-rq-timeout-ms': '1', 'x-envoy-retry-on': '5xx' } });
    // then none reaches the upstream: Envoy treats the client as external (it adds only its address)
    expect(reply.status).toBe(200);
    expect(reply.json().envoyHeaders).toEqual({ 'x-envoy-external-address': '127.0.0.1' });
    // and a header with an underscore is refused before it reaches any upstream
    const served = app.served();
    expect((await httpsGet(port, { ...open, headers: { x_user: 'admin' } })).status).toBe(400);
    expect(app.served()).toBe(served);
  });

  it('Envoy accepted every resource', async () => {
    const rejected = [...(await edge.stats('update_rejected'))].filter(([, v]) => v > 0);
    expect(rejected).toEqual([]);
  });
});

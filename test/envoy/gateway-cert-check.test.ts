/**
 * `meshcp cert check` agrees with real Envoy 1.40: 20 subject matchers (one Route each, all on one
 * gateway) × 10 client certificates from the routes' CA. Each certificate is checked with
 * `meshcp cert check -o json`, then presented to the gateway Envoy for every route's host; a route
 * admits it exactly when Envoy answers 200, and refuses it exactly when Envoy answers 403.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubjectMatcher } from '../../src/api/types.js';
import { createRootCa, issueCertificate, type CaMaterial } from '../../src/ca/pki.js';
import { freePort } from '../helpers/echo-service.js';
import { httpsOutcome, startHttpApp, type RunningApp } from './apps.js';
import type { EnvoyProcess } from './envoy-process.js';
import { printEnvoysOnFailure, Testbed } from './testbed.js';

/** Every kind, on CN and on DNS SAN, with the regex corners the RBAC translation must get right. */
const MATCHERS: readonly SubjectMatcher[] = [
  { exact: 'client.acme.org' },
  { exact: 'other.example' },
  { hasPrefix: 'client-' },
  { hasPrefix: 'svc-' },
  { hasSuffix: '.acme.org' },
  { hasSuffix: '.example' },
  { regex: '^svc-[0-9]+\\.acme\\.org$' },
  { regex: 'client.*' },
  { regex: '(?i)CLIENT\\..*' },
  { regex: '.*,.*' },
  { regex: 'a|client-1' },
  { regex: '[^.]+\\.acme\\.org' },
  { regex: 'CN=client.*' },
  { regex: '.*O=Acme.*' },
  { regex: 'é+' },
  { regex: '(^client|^svc).*' },
  { regex: 'x$|client.*' },
  { regex: '[a-zà-ÿ]+' },
  { regex: '[a-z]+\\.example' },
  { regex: 'αβ.' },
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
  { cn: 'CLIENT.ACME.ORG', dnsSans: ['Client.acme.org'] },
  { cn: 'nobody', dnsSans: ['client', 'evil.example'] },
];

const matcherYaml = (m: SubjectMatcher): string => {
  const [kind, value] = Object.entries(m)[0] as [string, string];
  return `{ ${kind}: ${JSON.stringify(value)} }`;
};

describe('cert check agrees with real Envoy on 20 matchers × 10 certificates', () => {
  let bed: Testbed;
  let app: RunningApp;
  let edge: EnvoyProcess;
  let gatewayPort: number;
  let serverCa: CaMaterial;
  const certFiles: Array<{ certificate: Certificate; certPem: string; keyPem: string; file: string }> = [];
  printEnvoysOnFailure(() => [bed]);

  beforeAll(async () => {
    bed = await Testbed.start('cert-check');
    app = await startHttpApp('shop');
    gatewayPort = await freePort();
    const clientsCa = await createRootCa({ commonName: 'clients root', keyType: 'ecdsa-p256', validitySeconds: 86_400 });
    serverCa = await createRootCa({ commonName: 'server root', keyType: 'ecdsa-p256', validitySeconds: 86_400 });
    const serverCert = await issueCertificate({ issuer: serverCa, commonName: 'gateway', dnsNames: MATCHERS.map((_, i) => `m${i}.test`), usage: 'server', validitySeconds: 86_400 });
    fs.writeFileSync(path.join(bed.dir, 'clients-ca.pem'), clientsCa.certPem);
    fs.writeFileSync(path.join(bed.dir, 'server.crt'), serverCert.certPem);
    fs.writeFileSync(path.join(bed.dir, 'server.key'), serverCert.keyPem);
    for (const [i, certificate] of CERTIFICATES.entries()) {
      const issued = await issueCertificate({ issuer: clientsCa, commonName: certificate.cn, ...(certificate.org !== undefined ? { organization: certificate.org } : {}), dnsNames: certificate.dnsSans, usage: 'client', validitySeconds: 86_400 });
      const file = path.join(bed.dir, `client-${i}.crt`);
      fs.writeFileSync(file, issued.certPem);
      certFiles.push({ certificate, certPem: issued.certPem, keyPem: issued.keyPem, file });
    }
    // the user's journey: secrets from files, then the gateway, the service and the routes
    expect((await bed.cli(['secret', 'create', 'tls-ca', 'clients-ca', '--cert', path.join(bed.dir, 'clients-ca.pem')])).code).toBe(0);
    expect((await bed.cli(['secret', 'create', 'tls', 'gateway-cert', '--cert', path.join(bed.dir, 'server.crt'), '--key', path.join(bed.dir, 'server.key')])).code).toBe(0);
    const routes = MATCHERS.map((m, i) => `type: Route
name: m${i}
gateway: edge
host: m${i}.test
tls:
  clientValidationCa: { name: clients-ca }
  serverCertificate: { name: gateway-cert }
validation:
  clientCertificate:
    subjectMatches: [ ${matcherYaml(m)} ]
routes:
- prefix: /
  route: { service: shop }
`);
    await bed.apply([`type: Mesh\nname: default\n`, `type: Gateway\nname: edge\nlisteners:\n- port: ${gatewayPort}\n`, `type: Service\nname: shop\nendpoints:\n- address: 127.0.0.1\n  port: ${app.port}\n`, ...routes].join('---\n'));
    edge = await bed.readyEnvoy('edge');
  });

  afterAll(async () => {
    await bed?.stop();
    await app?.close();
  });

  it('every verdict of cert check is what Envoy does', async () => {
    const disagreements: string[] = [];
    let admitted = 0;
    let refused = 0;
    for (const { certificate, certPem, keyPem, file } of certFiles) {
      // given cert check's verdict for every route
      const run = await bed.cli(['cert', 'check', '--cert', file, '-o', 'json']);
      expect(run.code, run.stderr).toBe(0);
      const verdicts = new Map((JSON.parse(run.stdout) as Array<{ route: string; admitted: boolean; reason: string }>).map((v) => [v.route, v]));
      expect(verdicts.size).toBe(MATCHERS.length);
      for (const [i, matcher] of MATCHERS.entries()) {
        // when the certificate is presented to the gateway for that route's host
        const outcome = await httpsOutcome(gatewayPort, { host: `m${i}.test`, ca: serverCa.certPem, cert: certPem, key: keyPem });
        const said = verdicts.get(`m${i}`);
        // then 200 exactly when cert check admits it, 403 exactly when it refuses it
        const expected = said?.admitted === true ? 200 : 403;
        if (said?.admitted === true) admitted++;
        else refused++;
        if (outcome !== expected) disagreements.push(`${JSON.stringify(certificate)} × ${JSON.stringify(matcher)}: cert check ${said?.admitted ? 'admits' : 'refuses'} (${said?.reason}), Envoy answered ${String(outcome)}`);
      }
    }
    expect(disagreements).toEqual([]);
    // and the matrix exercises both outcomes widely
    expect(admitted).toBeGreaterThan(30);
    expect(refused).toBeGreaterThan(30);
    expect(await edge.stat('listener_manager.lds.update_rejected')).toBe(0);
  });
});

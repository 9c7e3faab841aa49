/**
 * `meshcp cert check` (SPEC §3) through the CLI and the admin API of a real server: per route,
 * admitted or refused, and why (CA chain, subject matchers).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';
import { BASE_RESOURCES, runCli, startHarness, type CliRun, type Harness } from './harness.js';
import { writeTestPki, type TestPki } from './certs.js';

function indent(text: string): string {
  return text
    .trim()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

function rowsOf(stdout: string): Record<string, string>[] {
  const [header, ...lines] = stdout.trimEnd().split('\n');
  const columns = (header ?? '').split(/ {3,}/);
  return lines.map((line) => Object.fromEntries(line.split(/ {3,}/).map((cell, i) => [columns[i] ?? `#${i}`, cell])));
}

describe('meshcp cert check', () => {
  let h: Harness;
  let pki: TestPki;
  let strangerCert: string;
  let combinedFile: string;
  let pkiDir: string;

  const check = (args: readonly string[]): Promise<CliRun> => runCli(['cert', 'check', ...args, '--server', h.url]);

  beforeAll(async () => {
    pkiDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-cert-check-'));
    pki = await writeTestPki(pkiDir);
    h = await startHarness({
      configYaml: `${BASE_RESOURCES}---
type: Secret
name: my-root-ca
secretType: tls-ca
cert: |
${indent(pki.pem.caCert)}
---
type: Route
name: partners
gateway: edge
host: partners.acme.org
tls:
  clientValidationCa: { name: my-root-ca }
validation:
  clientCertificate:
    subjectMatches: [{ hasSuffix: .acme.org }]
routes: [{ prefix: /, route: { service: shopping-cart } }]
---
type: Route
name: admins
gateway: edge
host: admin.acme.org
tls:
  clientValidationCa: { name: my-root-ca }
validation:
  clientCertificate:
    subjectMatches: [{ exact: admin.acme.org }]
routes: [{ prefix: /, route: { service: shopping-cart } }]
---
type: Route
name: public
gateway: edge
host: www.acme.org
routes: [{ prefix: /, route: { service: shopping-cart } }]
`,
    });
    const stranger = await createRootCa({ commonName: 'Stranger CA', validitySeconds: 30 * 86_400 });
    const strangerLeaf = await issueCertificate({ issuer: stranger, commonName: 'client.acme.org', usage: 'client', validitySeconds: 30 * 86_400 });
    strangerCert = path.join(h.dir, 'stranger.pem');
    fs.writeFileSync(strangerCert, strangerLeaf.certPem);
    combinedFile = path.join(h.dir, 'combined.pem');
    fs.writeFileSync(combinedFile, `${pki.pem.leafCert}${pki.pem.leafKey}`);
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
    fs.rmSync(pkiDir, { recursive: true, force: true });
  });

  it('says for every route whether the certificate is admitted, and why', async () => {
    // when
    const run = await check(['--cert', pki.leafCert]);
    // then
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout.split('\n')[0]?.split(/ {3,}/)).toEqual(['ROUTE', 'HOST', 'ADMITTED', 'REASON']);
    const rows = rowsOf(run.stdout);
    expect(rows.map((r) => [r['ROUTE'], r['ADMITTED']])).toEqual([
      ['admins', 'no'],
      ['partners', 'yes'],
      ['public', 'yes'],
    ]);
    expect(rows[0]?.['REASON']).toMatch(/^HTTP 403: none of 1 subject matcher\(s\) hit CN "client.acme.org"/);
    expect(rows[1]?.['REASON']).toMatch(/subjectMatches\[0\] .* hit the CN "client.acme.org"/);
    expect(rows[2]?.['REASON']).toMatch(/no client certificate is requested/);
  });

  it('refuses a certificate from another CA at the TLS handshake, and exits non-zero for --route', async () => {
    // when
    const run = await check(['--cert', strangerCert, '--route', 'partners']);
    // then
    expect(run.code).toBe(1);
    expect(rowsOf(run.stdout)).toEqual([{ ROUTE: 'partners', HOST: 'partners.acme.org', ADMITTED: 'no', REASON: expect.stringMatching(/^TLS handshake fails: issuer ".*Stranger CA.*" is not the route's client CA/) }]);
    expect(run.stderr).toMatch(/^Error: route "partners" would refuse this certificate: TLS handshake fails/);
  });

  it('exits zero for --route when the route admits it, and prints JSON with -o json', async () => {
    // when
    const run = await check(['--cert', pki.leafCert, '--route', 'partners', '-o', 'json']);
    // then
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(run.stdout)).toEqual([{ mesh: 'default', route: 'partners', host: 'partners.acme.org', admitted: true, reason: expect.stringContaining('hit the CN') }]);
  });

  it('sends only the certificates of a combined cert+key file', async () => {
    // when
    const run = await check(['--cert', combinedFile, '--route', 'partners']);
    // then
    expect(run.code).toBe(0);
    expect(run.stdout + run.stderr).not.toMatch(/PRIVATE KEY/);
  });

  it('names an unknown route, an unreadable file and a file without a certificate', async () => {
    // when
    const unknown = await check(['--cert', pki.leafCert, '--route', 'nope']);
    const missing = await check(['--cert', path.join(h.dir, 'nope.pem')]);
    const keyOnly = await check(['--cert', pki.leafKey]);
    // then
    expect(unknown).toMatchObject({ code: 1, stderr: 'Error: Route/nope not found in mesh "default"\n' });
    expect(missing).toMatchObject({ code: 1, stderr: `Error: --cert ${path.join(h.dir, 'nope.pem')}: no such file\n` });
    expect(keyOnly.code).toBe(1);
    expect(keyOnly.stderr).toMatch(/holds no PEM certificate/);
  });

  it('rejects a malformed certificate through the API with a 400', async () => {
    // when
    const res = await fetch(`${h.url}/api/cert-check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cert: fs.readFileSync(pki.malformedPem, 'utf8') }) });
    // then
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: string[] }).errors[0]).toMatch(/^cert: /);
  });
});

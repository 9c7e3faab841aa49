import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './harness.js';

function tempDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-validate-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('meshcp validate -f', () => {
  it('prints every error of every file, naming file, document, resource and field, and exits non-zero', async () => {
    // given: two files, three independent mistakes
    const dir = tempDir({
      'a.yaml': `type: Mesh
name: default
---
type: Dataplane
name: web
networking:
  address: 127.0.0.1
  inboud: []
`,
      'b.yaml': `type: Route
name: r1
host: shop.acme.org
validation:
  clientCertificate:
    subjectMatches:
    - regex: '(?=x)client'
routes:
- prefix: /
  route: { service: nowhere }
`,
    });
    // when
    const run = await runCli(['validate', '-f', dir]);
    // then
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/a\.yaml#2 Dataplane\/web: networking\.inboud: .*inbound/);
    expect(run.stderr).toMatch(/b\.yaml#1 Route\/r1: validation\.clientCertificate\.subjectMatches\[0\]\.regex: /);
    expect(run.stderr.split('\n').filter((l) => l.startsWith('Error: ')).length).toBeGreaterThanOrEqual(3);
  });

  it('accepts a valid file set, including references, and exits 0', async () => {
    // given
    const dir = tempDir({
      'mesh.yaml': `type: Mesh
name: default
---
type: Service
name: shopping-cart
endpoints: [ { address: 127.0.0.1, port: 9001 } ]
---
type: Gateway
name: edge
listeners: [ { port: 8443 } ]
---
type: Route
name: r1
host: shop.acme.org
routes:
- prefix: /
  route: { service: shopping-cart }
`,
    });
    // when
    const run = await runCli(['validate', '-f', path.join(dir, 'mesh.yaml')]);
    // then: the one warning is the route's mesh-issued certificate (the checks apply and serve run, issue #13)
    expect(run.stderr).toMatch(/^warning: Route\/r1: no tls\.serverCertificate: shop\.acme\.org is served with a certificate issued by the mesh CA[^\n]*\n$/);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('4 resource(s) valid\n');
  });

  it('reports a reference to a missing service', async () => {
    // given: a schema-valid route whose service exists nowhere
    const dir = tempDir({
      'r.yaml': `type: Gateway
name: edge
listeners: [ { port: 8443 } ]
---
type: Route
name: r1
host: shop.acme.org
routes:
- prefix: /
  route: { service: nowhere }
`,
    });
    // when
    const run = await runCli(['validate', '-f', dir]);
    // then
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/Route\/r1: routes\[0\]\.route\.service: .*nowhere/);
  });
});

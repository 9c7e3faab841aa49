/** `get` tables fit 120 columns; `-o wide` shows every cell whole (issue #13). */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fitRows, TABLE_WIDTH } from '../../src/cli/table-fit.js';
import { runBin } from './bin.js';
import { writeTestPki } from './certs.js';
import { BASE_RESOURCES, startHarness, type Harness } from './harness.js';

describe('fitRows', () => {
  it('narrows the widest column first and marks the cut', () => {
    // given
    const headers = ['NAME', 'LONG'];
    const rows = [['a', 'x'.repeat(200)]];
    // when
    const [row] = fitRows(headers, rows, 40);
    // then
    expect(row).toEqual(['a', `${'x'.repeat(32)}…`]);
    expect(`${(row ?? [])[0]?.padEnd(4)}   ${(row ?? [])[1]}`.length).toBe(40);
  });

  it('leaves a table that fits alone, and never cuts below 8 characters or a header', () => {
    // given
    const headers = ['A', 'B', 'C'];
    const rows = [['short', 'cells', 'here']];
    const many = [['y'.repeat(30), 'z'.repeat(30), 'w'.repeat(30)]];
    // when / then
    expect(fitRows(headers, rows, 40)).toEqual(rows);
    expect(fitRows(['A-VERY-LONG-HEADER', 'B', 'C'], many, 10)[0]?.map((c) => c.length)).toEqual([18, 8, 8]);
  });
});

describe('meshcp get -o wide', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
    const pki = await writeTestPki(path.join(h.dir, 'pki'));
    fs.writeFileSync(path.join(h.dir, 'base.yaml'), BASE_RESOURCES);
    expect((await h.cli(['apply', '-f', path.join(h.dir, 'base.yaml')])).code).toBe(0);
    expect((await h.cli(['secret', 'create', 'tls-ca', 'a-client-ca-with-a-rather-long-descriptive-name', '--cert', pki.caCert])).code).toBe(0);
    expect((await h.cli(['secret', 'create', 'tls', 'my-tls-cert', '--cert', pki.leafCert, '--key', pki.leafKey])).code).toBe(0);
    const paths = ['/carts', '/products', '/orders', '/customers', '/inventory', '/payments'].flatMap((p) => ['--path', `${p}=shopping-cart`]);
    const created = await h.cli(['route', 'create', 'ecommerce', '--hostname', 'ecommerce.acme.org', '--client-ca-secret', 'a-client-ca-with-a-rather-long-descriptive-name', '--server-certificate-secret', 'my-tls-cert', ...paths]);
    expect(created.code).toBe(0);
  });

  afterAll(async () => {
    await h.stop();
  });

  it.each([['secrets'], ['routes']])('get %s fits 120 columns; -o wide shows what was cut', async (type) => {
    // when
    const table = await h.cli(['get', type]);
    const wide = await h.cli(['get', type, '-o', 'wide']);
    // then
    expect(table.code).toBe(0);
    expect(wide.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(TABLE_WIDTH);
    expect(table.stdout).toContain('…');
    expect(wide.stdout.trimEnd().split('\n').some((l) => l.length > TABLE_WIDTH)).toBe(true);
    expect(wide.stdout).not.toContain('…');
    expect(wide.stdout.split('\n')[0]?.split(/\s{3,}/)).toEqual(lines[0]?.split(/\s{3,}/));
  });

  it('get secrets -o wide has the whole fingerprint', async () => {
    // given
    const fingerprint = (JSON.parse((await h.cli(['get', 'secret', 'my-tls-cert', '-o', 'json'])).stdout) as { fingerprintSha256: string }).fingerprintSha256;
    // when
    const wide = await h.cli(['get', 'secrets', '-o', 'wide']);
    const table = await h.cli(['get', 'secrets']);
    // then
    expect(wide.stdout).toContain(fingerprint);
    expect(table.stdout).not.toContain(fingerprint);
    expect(table.stdout).toContain(fingerprint.slice(0, 20));
  });

  it('route list takes -o wide too', async () => {
    // when
    const table = await h.cli(['route', 'list']);
    const wide = await h.cli(['route', 'list', '-o', 'wide']);
    // then
    expect(table.stdout.trimEnd().split('\n').every((l) => l.length <= TABLE_WIDTH)).toBe(true);
    expect(wide.stdout).toContain('/payments=shopping-cart');
  });
});

describe('meshcp get meshes', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h.stop();
  });

  it('shows each mesh\'s mTLS backend (type/name) and mode, or off', async () => {
    // given
    const file = path.join(h.dir, 'meshes.yaml');
    fs.writeFileSync(
      file,
      `type: Mesh
name: payments
mtls:
  enabledBackend: ca-1
  backends: [ { name: ca-1, type: builtin }, { name: ca-2, type: builtin } ]
---
type: Mesh
name: migrating
mtls:
  enabledBackend: ca-1
  backends: [ { name: ca-1, type: builtin, mode: PERMISSIVE } ]
---
type: Mesh
name: plain
`,
    );
    expect((await h.cli(['apply', '-f', file])).code).toBe(0);
    // when
    const run = await runBin(['get', 'meshes', '--server', h.url]);
    // then
    expect(run.code).toBe(0);
    const [header, ...rows] = run.stdout.trimEnd().split('\n').map((l) => l.split(/ {3,}/));
    expect(header).toEqual(['NAME', 'MTLS', 'MODE', 'BACKENDS', 'AGE']);
    expect(rows.map((r) => r.slice(0, 4))).toEqual(
      expect.arrayContaining([
        ['payments', 'builtin/ca-1', 'STRICT', 'ca-1(builtin),ca-2(builtin)'],
        ['migrating', 'builtin/ca-1', 'PERMISSIVE', 'ca-1(builtin)'],
        ['plain', 'off', '-', '-'],
      ]),
    );
  });
});

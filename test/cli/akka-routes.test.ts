/**
 * The Akka / Kalix route commands as an Akka user types them (issue #13): the route descriptors
 * of the Akka docs (seed 002) applied verbatim from test/fixtures/akka, `--hostname` / `--path`,
 * `routes` as an alias, `route export | list | edit`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeTestPki } from './certs.js';
import { BASE_RESOURCES, startHarness, type Harness } from './harness.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'akka');
const DESCRIPTORS = ['client-ca-route.yaml', 'subject-exact-route.yaml', 'subject-suffix-route.yaml', 'server-certificate-route.yaml'];

describe('Akka route descriptors and route commands', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness();
    const pki = await writeTestPki(path.join(h.dir, 'pki'));
    fs.writeFileSync(path.join(h.dir, 'base.yaml'), `${BASE_RESOURCES}---\ntype: Service\nname: product-info\nendpoints:\n- address: 127.0.0.1\n  port: 9002\n`);
    expect((await h.cli(['apply', '-f', path.join(h.dir, 'base.yaml')])).code).toBe(0);
    // The secrets the docs' descriptors name, created with the docs' commands.
    expect((await h.cli(['secret', 'create', 'tls-ca', 'my-root-ca', '--cert', pki.caCert])).code).toBe(0);
    expect((await h.cli(['secret', 'create', 'tls', 'my-tls-cert', '--key', pki.leafKey, '--cert', pki.leafCert])).code).toBe(0);
  });

  afterEach(async () => {
    await h.stop();
  });

  it.each(DESCRIPTORS)('applies the Akka docs descriptor %s verbatim with route create NAME -f, and exports it back unchanged', async (fixture) => {
    // given
    const file = path.join(FIXTURES, fixture);
    const text = fs.readFileSync(file, 'utf8');
    // when
    const created = await h.cli(['route', 'create', 'my-route', '-f', file]);
    const exported = await h.cli(['route', 'export', 'my-route']);
    // then
    expect(created).toMatchObject({ code: 0, stdout: 'Route/my-route created\n' });
    expect(exported.code).toBe(0);
    expect(YAML.parse(exported.stdout)).toEqual(YAML.parse(text));
    expect(exported.stdout).not.toMatch(/^(type|name|mesh):/m);
    const full = YAML.parse((await h.cli(['route', 'get', 'my-route'])).stdout) as Record<string, unknown>;
    expect(full).toMatchObject({ type: 'Route', name: 'my-route', mesh: 'default', host: 'ecommerce.acme.org' });
  });

  it('takes the akka CLI spellings --hostname and --path, and `routes` as an alias of `route`', async () => {
    // when: the example of the akka routes reference
    const created = await h.cli([
      'routes', 'create', 'my-ecommerce-project', '--hostname', 'ecommerce.acme.org', '--path', '/carts=shopping-cart', '--path', '/products=product-info', '--server', h.url,
    ]);
    // then
    // (no tls.serverCertificate: the one warning is that the mesh CA issues it, issue #13)
    expect(created).toMatchObject({ code: 0, stdout: 'Route/my-ecommerce-project created\n', stderr: expect.stringMatching(/^Warning: Route\/my-ecommerce-project: no tls\.serverCertificate: ecommerce\.acme\.org is served with a certificate issued by the mesh CA, which is not publicly trusted;[^\n]*\n$/) as unknown });
    const descriptor = YAML.parse((await h.cli(['route', 'export', 'my-ecommerce-project'])).stdout) as unknown;
    expect(descriptor).toEqual({
      host: 'ecommerce.acme.org',
      routes: [
        { prefix: '/carts', route: { service: 'shopping-cart' } },
        { prefix: '/products', route: { service: 'product-info' } },
      ],
    });

    // when: the docs' update, through the alias
    const updated = await h.cli(['routes', 'update', 'my-ecommerce-project', '--client-ca-secret', 'my-root-ca', '--server', h.url]);
    // then
    expect(updated).toMatchObject({ code: 0, stdout: 'Route/my-ecommerce-project updated\n' });
    expect(YAML.parse((await h.cli(['route', 'export', 'my-ecommerce-project'])).stdout)).toMatchObject({ tls: { clientValidationCa: { name: 'my-root-ca' } } });
  });

  it('refuses --host and --hostname that disagree', async () => {
    // when
    const run = await h.cli(['route', 'create', 'r', '--host', 'a.acme.org', '--hostname', 'b.acme.org', '--path', '/=shopping-cart']);
    // then
    expect(run).toMatchObject({ code: 1, stderr: 'Error: --host a.acme.org and --hostname b.acme.org disagree: they are the same flag, give one\n' });
  });

  it('lists routes with route list and routes list', async () => {
    // given
    await h.cli(['route', 'create', 'shop', '-f', path.join(FIXTURES, 'client-ca-route.yaml')]);
    // when
    const list = await h.cli(['route', 'list']);
    const alias = await h.cli(['routes', 'list', '--server', h.url]);
    // then
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^MESH\s+NAME\s+/);
    expect(list.stdout).toMatch(/default\s+shop\s+.*ecommerce\.acme\.org\s+my-root-ca/);
    expect(alias.stdout).toBe(list.stdout);
  });

  it('route update NAME -f replaces the route with the exported, edited descriptor', async () => {
    // given
    await h.cli(['route', 'create', 'shop', '-f', path.join(FIXTURES, 'subject-exact-route.yaml')]);
    const exported = (await h.cli(['route', 'export', 'shop'])).stdout;
    const file = path.join(h.dir, 'shop.yaml');
    fs.writeFileSync(file, exported.replace('- exact: client.acme.org', '- hasSuffix: .acme.org'));
    // when
    const updated = await h.cli(['route', 'update', 'shop', '-f', file]);
    // then
    expect(updated).toMatchObject({ code: 0, stdout: 'Route/shop updated\n' });
    expect(YAML.parse((await h.cli(['route', 'export', 'shop'])).stdout)).toEqual(YAML.parse(fs.readFileSync(path.join(FIXTURES, 'subject-suffix-route.yaml'), 'utf8')));
  });

  it('reads the descriptor from stdin with -f -', async () => {
    // when
    const run = await h.cli(['route', 'create', 'shop', '-f', '-'], fs.readFileSync(path.join(FIXTURES, 'server-certificate-route.yaml'), 'utf8'));
    // then
    expect(run).toMatchObject({ code: 0, stdout: 'Route/shop created\n' });
  });

  it('names the file, the field and the fix when a descriptor is wrong', async () => {
    // given
    const typo = path.join(h.dir, 'typo.yaml');
    fs.writeFileSync(typo, fs.readFileSync(path.join(FIXTURES, 'client-ca-route.yaml'), 'utf8').replace('clientValidationCa', 'clientValidationCA'));
    const named = path.join(h.dir, 'named.yaml');
    fs.writeFileSync(named, `name: other\n${fs.readFileSync(path.join(FIXTURES, 'client-ca-route.yaml'), 'utf8')}`);
    const missing = path.join(h.dir, 'nope.yaml');
    // when
    const typoRun = await h.cli(['route', 'create', 'shop', '-f', typo]);
    const namedRun = await h.cli(['route', 'create', 'shop', '-f', named]);
    const missingRun = await h.cli(['route', 'create', 'shop', '-f', missing]);
    // then
    expect(typoRun.code).toBe(1);
    expect(typoRun.stderr).toMatch(new RegExp(`^Error: ${typo.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}#1 Route/shop: tls\\.clientValidationCA: .*clientValidationCa`));
    expect(namedRun).toMatchObject({ code: 1, stderr: `Error: ${named}: name: "other" does not match the route "shop" on the command line (remove name from the file, or use that name)\n` });
    expect(missingRun).toMatchObject({ code: 1, stderr: `Error: -f ${missing}: no such file (give the route descriptor YAML, e.g. from \`meshcp route export NAME\`)\n` });
    expect((await h.cli(['route', 'list'])).stdout).not.toContain('shop');
  });
});

describe('meshcp route edit', () => {
  let h: Harness;
  const savedEditor = { EDITOR: process.env['EDITOR'], VISUAL: process.env['VISUAL'] };

  beforeEach(async () => {
    h = await startHarness();
    const pki = await writeTestPki(path.join(h.dir, 'pki'));
    fs.writeFileSync(path.join(h.dir, 'base.yaml'), BASE_RESOURCES);
    expect((await h.cli(['apply', '-f', path.join(h.dir, 'base.yaml')])).code).toBe(0);
    expect((await h.cli(['secret', 'create', 'tls-ca', 'my-root-ca', '--cert', pki.caCert])).code).toBe(0);
    expect((await h.cli(['route', 'create', 'my-route', '-f', path.join(FIXTURES, 'subject-exact-route.yaml')])).code).toBe(0);
  });

  afterEach(async () => {
    for (const [k, v] of Object.entries(savedEditor)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await h.stop();
  });

  /** An "editor" that rewrites the file it is given, as a user would in vi. */
  function editorScript(name: string, body: string): string {
    const script = path.join(h.dir, name);
    fs.writeFileSync(script, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return script;
  }

  async function descriptor(): Promise<unknown> {
    return YAML.parse((await h.cli(['route', 'export', 'my-route'])).stdout);
  }

  it('applies what the editor saved', async () => {
    // given
    process.env['EDITOR'] = editorScript('edit.sh', `sed -i 's/- exact: client.acme.org/- hasSuffix: .acme.org/' "$1"`);
    // when
    const run = await h.cli(['route', 'edit', 'my-route']);
    // then
    expect(run).toMatchObject({ code: 0, stdout: 'Route/my-route updated\n' });
    expect(await descriptor()).toEqual(YAML.parse(fs.readFileSync(path.join(FIXTURES, 'subject-suffix-route.yaml'), 'utf8')));
  });

  it('uses $VISUAL when $EDITOR is not set', async () => {
    // given
    delete process.env['EDITOR'];
    process.env['VISUAL'] = editorScript('visual.sh', `sed -i 's/ecommerce.acme.org/shop.acme.org/' "$1"`);
    // when
    const run = await h.cli(['route', 'edit', 'my-route']);
    // then
    expect(run).toMatchObject({ code: 0, stdout: 'Route/my-route updated\n' });
    expect(await descriptor()).toMatchObject({ host: 'shop.acme.org' });
  });

  it('cancels when the file is saved unchanged', async () => {
    // given
    const before = await descriptor();
    process.env['EDITOR'] = 'true';
    // when
    const run = await h.cli(['route', 'edit', 'my-route']);
    // then
    expect(run).toMatchObject({ code: 0, stdout: '', stderr: 'Edit cancelled, no changes made.\n' });
    expect(await descriptor()).toEqual(before);
  });

  it('applies nothing from an invalid edit and keeps the edited file', async () => {
    // given
    const before = await descriptor();
    process.env['EDITOR'] = editorScript('break.sh', `sed -i 's/^host:/hots:/' "$1"`);
    // when
    const run = await h.cli(['route', 'edit', 'my-route']);
    // then
    expect(run.code).toBe(1);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^Error: .*my-route\.yaml#1 Route\/my-route: hots: .*host/);
    const kept = /your edit is kept in (\S+) /.exec(lines[lines.length - 1] ?? '')?.[1];
    expect(kept).toBeDefined();
    expect(fs.readFileSync(kept ?? '', 'utf8')).toContain('hots: ecommerce.acme.org');
    expect(await descriptor()).toEqual(before);
    fs.rmSync(path.dirname(kept ?? ''), { recursive: true, force: true });
  });

  it('applies nothing when the editor fails', async () => {
    // given
    const before = await descriptor();
    process.env['EDITOR'] = editorScript('fail.sh', `sed -i 's/^host:.*/host: other.acme.org/' "$1"; exit 3`);
    // when
    const run = await h.cli(['route', 'edit', 'my-route']);
    // then
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Error: the editor ".*fail\.sh" exited with code 3; nothing applied/);
    expect(await descriptor()).toEqual(before);
    const kept = /your edit is kept in (\S+)\)/.exec(run.stderr)?.[1];
    expect(kept).toBeDefined();
    fs.rmSync(path.dirname(kept ?? ''), { recursive: true, force: true });
  });
});

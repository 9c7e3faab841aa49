import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildRouteDescriptor, subjectToMatcher } from '../../src/cli/route.js';
import { writeTestPki, type TestPki } from './certs.js';
import { BASE_RESOURCES, startHarness, type Harness } from './harness.js';

describe('subject wildcards', () => {
  it('turns * into hasSuffix, hasPrefix, exact or an RE2 regex', () => {
    expect(subjectToMatcher('*.acme.org')).toEqual({ hasSuffix: '.acme.org' });
    expect(subjectToMatcher('client-*')).toEqual({ hasPrefix: 'client-' });
    expect(subjectToMatcher('client.acme.org')).toEqual({ exact: 'client.acme.org' });
    expect(subjectToMatcher('svc-*.acme.org')).toEqual({ regex: 'svc-.*\\.acme\\.org' });
    expect(subjectToMatcher('*')).toEqual({ regex: '.*' });
  });
});

describe('route descriptor merge', () => {
  it('merges flags into an existing route: subjects are added once, path prefixes replaced by prefix', () => {
    // given
    const existing = {
      type: 'Route',
      name: 'r',
      mesh: 'default',
      host: 'a.acme.org',
      tls: { clientValidationCa: { name: 'ca' } },
      validation: { clientCertificate: { subjectMatches: [{ exact: 'x' }] } },
      routes: [{ prefix: '/', route: { service: 'a' } }],
    };
    // when
    const merged = buildRouteDescriptor('r', 'default', existing, {
      clientCertificateSubject: ['x', '*.acme.org'],
      removeClientCertificateSubject: [],
      pathPrefix: ['/=b', '/api=c'],
      removePathPrefix: [],
    });
    // then
    expect(merged).toEqual({
      type: 'Route',
      name: 'r',
      mesh: 'default',
      host: 'a.acme.org',
      tls: { clientValidationCa: { name: 'ca' } },
      validation: { clientCertificate: { subjectMatches: [{ exact: 'x' }, { hasSuffix: '.acme.org' }] } },
      routes: [
        { prefix: '/', route: { service: 'b' } },
        { prefix: '/api', route: { service: 'c' } },
      ],
    });
  });
});

describe('meshcp route (the Kalix journey)', () => {
  let h: Harness;
  let pki: TestPki;

  beforeEach(async () => {
    h = await startHarness();
    pki = await writeTestPki(path.join(h.dir, 'pki'));
    fs.writeFileSync(path.join(h.dir, 'base.yaml'), BASE_RESOURCES);
    expect((await h.cli(['apply', '-f', path.join(h.dir, 'base.yaml')])).code).toBe(0);
  });

  afterEach(async () => {
    await h.stop();
  });

  it('creates a CA secret and a client-certificate route, edits it, and applies the edited descriptor', async () => {
    // when: secret create tls-ca
    const secret = await h.cli(['secret', 'create', 'tls-ca', 'my-root-ca', '--cert', pki.caCert]);
    // then
    expect(secret).toMatchObject({ code: 0, stdout: 'Secret/my-root-ca created\n' });

    // when: route create
    const created = await h.cli(['route', 'create', 'ecommerce', '--host', 'ecommerce.acme.org', '--client-ca-secret', 'my-root-ca', '--path-prefix', '/=shopping-cart']);
    // then
    // (no tls.serverCertificate: the one warning is that the mesh CA issues it, issue #13)
    expect(created.stderr).toMatch(/^Warning: Route\/ecommerce: no tls\.serverCertificate: ecommerce\.acme\.org is served with a certificate issued by the mesh CA[^\n]*\n$/);
    expect(created).toMatchObject({ code: 0, stdout: 'Route/ecommerce created\n' });

    // when: route update with a wildcard subject
    const updated = await h.cli(['route', 'update', 'ecommerce', '--client-certificate-subject', '*.acme.org']);
    // then
    expect(updated).toMatchObject({ code: 0, stdout: 'Route/ecommerce updated\n' });

    // when: route get -o yaml
    const got = await h.cli(['route', 'get', 'ecommerce', '-o', 'yaml']);
    // then
    expect(got.code).toBe(0);
    const descriptor = YAML.parse(got.stdout) as Record<string, unknown>;
    expect(descriptor).toEqual({
      type: 'Route',
      name: 'ecommerce',
      mesh: 'default',
      host: 'ecommerce.acme.org',
      tls: { clientValidationCa: { name: 'my-root-ca' } },
      validation: { clientCertificate: { subjectMatches: [{ hasSuffix: '.acme.org' }] } },
      routes: [{ prefix: '/', route: { service: 'shopping-cart' } }],
    });

    // when: the descriptor is edited and applied back
    const edited = got.stdout.replace('- hasSuffix: .acme.org', () => "- hasSuffix: .acme.org\n      - regex: '^svc-[0-9]+\\.acme\\.org$'");
    const file = path.join(h.dir, 'ecommerce.yaml');
    fs.writeFileSync(file, edited);
    const applied = await h.cli(['apply', '-f', file]);
    // then
    expect(applied.stderr).toBe('');
    expect(applied).toMatchObject({ code: 0, stdout: 'Route/ecommerce updated\n' });
    const final = YAML.parse((await h.cli(['route', 'get', 'ecommerce'])).stdout) as { validation: unknown };
    expect(final.validation).toEqual({ clientCertificate: { subjectMatches: [{ hasSuffix: '.acme.org' }, { regex: '^svc-[0-9]+\\.acme\\.org$' }] } });

    // when: the route table
    const table = await h.cli(['get', 'routes']);
    // then
    expect(table.stdout.split('\n')[0]).toMatch(/^MESH\s+NAME\s+GATEWAY\s+HOST\s+CLIENT CA\s+SERVER CERT\s+PATHS\s+AGE$/);
    expect(table.stdout).toMatch(/default\s+ecommerce\s+-\s+ecommerce\.acme\.org\s+my-root-ca\s+-\s+\/=shopping-cart\s+\d+s/);

    // when: route delete
    const deleted = await h.cli(['route', 'delete', 'ecommerce']);
    // then
    expect(deleted).toMatchObject({ code: 0, stdout: 'Route/ecommerce deleted\n' });
    expect((await h.cli(['route', 'get', 'ecommerce'])).stderr).toBe('Error: Route/ecommerce not found in mesh "default"\n');
  });

  it('refuses to create a route twice and to update a missing one', async () => {
    // given
    await h.cli(['route', 'create', 'r', '--host', 'r.acme.org', '--path-prefix', '/=shopping-cart']);
    // when
    const twice = await h.cli(['route', 'create', 'r', '--host', 'r.acme.org', '--path-prefix', '/=shopping-cart']);
    const missing = await h.cli(['route', 'update', 'nope', '--host', 'x.acme.org']);
    // then
    expect(twice).toMatchObject({ code: 1, stderr: 'Error: Route/r: Route/r in mesh "default" already exists\n' });
    expect(missing).toMatchObject({ code: 1, stderr: 'Error: Route/nope not found in mesh "default" (create it with `meshcp route create`)\n' });
  });

  it('says what is missing from route create', async () => {
    // when
    const noHost = await h.cli(['route', 'create', 'r', '--path-prefix', '/=shopping-cart']);
    const badPrefix = await h.cli(['route', 'create', 'r', '--host', 'r.acme.org', '--path-prefix', 'shopping-cart']);
    // then
    expect(noHost).toMatchObject({ code: 1, stderr: 'Error: --host is required, e.g. --host ecommerce.acme.org (or give a route descriptor with -f FILE)\n' });
    expect(badPrefix).toMatchObject({ code: 1, stderr: 'Error: --path-prefix expects /PREFIX=SERVICE (e.g. /=shopping-cart), got "shopping-cart"\n' });
  });
});

/**
 * Security issue #9, hole 3: a Mesh with a provided CA whose key is inline (base64 PEM) must never
 * show that key: not in `get -o yaml|json`, not in the admin API's JSON, not in a dry run, not in
 * errors.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa } from '../../src/ca/pki.js';
import { runCli } from '../cli/harness.js';
import { errorsOf, rawRequest, startTestServer, type TestServer } from './admin-server.js';

/** Pieces of a key that must never appear: its base64 (as written inline) and its decoded PEM body. */
function keyFragments(keyPem: string): string[] {
  const inline = Buffer.from(keyPem).toString('base64');
  const body = keyPem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
  return [inline.slice(100, 160), inline.slice(-120, -60), ...body.slice(1, 4)];
}

function meshYaml(name: string, certPem: string, keyPem: string): string {
  return `type: Mesh
name: ${name}
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: provided
    conf:
      cert: { inline: ${Buffer.from(certPem).toString('base64')} }
      key: { inline: ${Buffer.from(keyPem).toString('base64')} }
`;
}

describe('inline CA keys', () => {
  let t: TestServer;
  let ca: { certPem: string; keyPem: string };
  let other: { certPem: string; keyPem: string };
  const outputs: string[] = [];

  beforeAll(async () => {
    t = await startTestServer();
    ca = await createRootCa({ commonName: 'inline test CA', validitySeconds: 365 * 86400 });
    other = await createRootCa({ commonName: 'other CA', validitySeconds: 365 * 86400 });
  });

  afterAll(async () => {
    await t.stop();
    fs.rmSync(t.dir, { recursive: true, force: true });
  });

  const expectNoKey = (text: string, keyPem: string): void => {
    for (const fragment of keyFragments(keyPem)) expect(text).not.toContain(fragment);
    expect(text).not.toContain('PRIVATE KEY');
  };

  it('are redacted in get -o yaml|json, the API views, and dry runs', async () => {
    // given
    const file = path.join(t.dir, 'mesh.yaml');
    fs.writeFileSync(file, meshYaml('inline', ca.certPem, ca.keyPem));
    const dryRun = await runCli(['apply', '-f', file, '--dry-run', '--server', t.url]);
    const apply = await runCli(['apply', '-f', file, '--server', t.url]);
    expect(apply.stdout).toBe('Mesh/inline created\n');

    // when
    const yaml = await runCli(['get', 'meshes', 'inline', '-o', 'yaml', '--server', t.url]);
    const json = await runCli(['get', 'meshes', 'inline', '-o', 'json', '--server', t.url]);
    const list = await runCli(['get', 'meshes', '-o', 'yaml', '--server', t.url]);
    const one = await rawRequest(t.port, { method: 'GET', path: '/api/meshes/inline' });
    const all = await rawRequest(t.port, { method: 'GET', path: '/api/meshes' });

    // then: the key is a placeholder; the certificate (public) is still there
    expect(yaml.stdout).toContain('inline: <redacted>');
    expect(yaml.stdout).toContain(Buffer.from(ca.certPem).toString('base64').slice(0, 60));
    expect((JSON.parse(json.stdout) as { mtls: { backends: { conf: { key: unknown } }[] } }).mtls.backends[0]?.conf.key).toEqual({ inline: '<redacted>' });
    for (const text of [dryRun.stdout, dryRun.stderr, apply.stderr, yaml.stdout, json.stdout, list.stdout, one.text, all.text, t.logText()]) {
      outputs.push(text);
      expectNoKey(text, ca.keyPem);
    }
  });

  it('are not echoed by errors, including when the key is in the wrong place', async () => {
    // given: a key that does not match the certificate, and a key pasted into a string field
    const mismatched = meshYaml('mismatch', ca.certPem, other.keyPem);
    const misplaced = `type: Mesh\nname: misplaced\nmtls:\n  backends:\n  - name: x\n    type: builtin\n    mode: ${Buffer.from(other.keyPem).toString('base64')}\n`;

    // when
    const replies = [
      await rawRequest(t.port, { method: 'POST', path: '/api/apply', headers: { 'content-type': 'application/yaml' }, body: mismatched }),
      await rawRequest(t.port, { method: 'POST', path: '/api/apply?dryRun=true', headers: { 'content-type': 'application/yaml' }, body: misplaced }),
      await rawRequest(t.port, { method: 'POST', path: '/api/apply', headers: { 'content-type': 'application/yaml' }, body: misplaced.replace(/\n/g, '\n  ').replace(/^/, 'x: ') }),
    ];

    // then: refused, and no piece of either key
    expect(replies[0]?.status).toBe(400);
    expect(errorsOf(replies[0] ?? { status: 0, text: '', json: {} }).join('\n')).toMatch(/mtls\.backends\[0\]\.conf\.key: does not match the CA certificate/);
    expect(replies[1]?.status).toBe(400);
    expect(errorsOf(replies[1] ?? { status: 0, text: '', json: {} }).join('\n')).toMatch(/mode: expected one of "STRICT", "PERMISSIVE", got a string of \d+ characters \(not shown\)/);
    for (const reply of replies) {
      expectNoKey(reply.text, other.keyPem);
      expectNoKey(reply.text, ca.keyPem);
    }
    expectNoKey(t.logText(), other.keyPem);
  });
});

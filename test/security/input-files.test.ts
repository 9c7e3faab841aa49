/**
 * Security issue #9, hole 5: through the admin API a `file:` (Mesh provided CA) or
 * `certFile`/`keyFile` (Secret) must not make the server read its own files, and the answer must
 * not tell an existing path from a missing one. `--config` files and `validate -f` may use them,
 * resolved relative to the YAML file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa } from '../../src/ca/pki.js';
import { runCli } from '../cli/harness.js';
import { errorsOf, rawRequest, snapshotDir, startTestServer, type TestServer } from './admin-server.js';

function fileMesh(name: string, certFile: string, keyFile: string): string {
  return `type: Mesh
name: ${name}
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: provided
    conf:
      cert: { file: ${JSON.stringify(certFile)} }
      key: { file: ${JSON.stringify(keyFile)} }
`;
}

describe('file references', () => {
  let t: TestServer;
  let pkiDir: string;

  beforeAll(async () => {
    t = await startTestServer();
    // A usable CA on the server's disk: if the server read it, the apply would succeed.
    pkiDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-sec-pki-'));
    const ca = await createRootCa({ commonName: 'on-disk CA', validitySeconds: 365 * 86400 });
    fs.writeFileSync(path.join(pkiDir, 'ca.crt'), ca.certPem);
    fs.writeFileSync(path.join(pkiDir, 'ca.key'), ca.keyPem, { mode: 0o600 });
  });

  afterAll(async () => {
    await t.stop();
    fs.rmSync(t.dir, { recursive: true, force: true });
    fs.rmSync(pkiDir, { recursive: true, force: true });
  });

  it('are refused through the API with one answer, whether or not the path exists', async () => {
    // given
    const before = snapshotDir(t.dataDir);
    const post = (body: string) => rawRequest(t.port, { method: 'POST', path: '/api/apply', headers: { 'content-type': 'application/yaml' }, body });

    // when: an existing CA, an unreadable system file, and a missing path
    const existing = await post(fileMesh('probe', path.join(pkiDir, 'ca.crt'), path.join(pkiDir, 'ca.key')));
    const shadow = await post(fileMesh('probe', '/etc/shadow', '/etc/shadow'));
    const missing = await post(fileMesh('probe', path.join(pkiDir, 'nope.crt'), path.join(pkiDir, 'nope.key')));
    const secret = await post(`type: Secret\nname: s\nsecretType: tls\ncertFile: ${path.join(pkiDir, 'ca.crt')}\nkeyFile: /etc/shadow\n`);

    // then: the same refusal for all three, naming the fields, not the paths
    for (const reply of [existing, shadow, missing]) expect(reply.status).toBe(400);
    expect(errorsOf(existing)).toEqual(errorsOf(shadow));
    expect(errorsOf(existing)).toEqual(errorsOf(missing));
    expect(errorsOf(existing)).toEqual([
      'Mesh/probe: mtls.backends[0].conf.cert.file: file references are not accepted through the admin API (the server does not read its files for API clients): inline the PEM, or use a Secret; only --config files may name files',
      'Mesh/probe: mtls.backends[0].conf.key.file: file references are not accepted through the admin API (the server does not read its files for API clients): inline the PEM, or use a Secret; only --config files may name files',
    ]);
    for (const reply of [existing, shadow, missing, secret]) {
      expect(reply.text).not.toMatch(/ENOENT|EACCES|no such file|no PEM|malformed|\/etc\/shadow/);
      expect(reply.text).not.toContain(pkiDir);
    }
    expect(secret.status).toBe(400);
    expect(errorsOf(secret).join('\n')).toMatch(/certFile: the admin API does not read files/);
    expect(snapshotDir(t.dataDir)).toEqual(before);
  });

  it('in --config files and validate -f resolve relative to the YAML file', async () => {
    // given: a config directory with the CA next to the YAML that names it relatively
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-sec-cfg-'));
    try {
      fs.copyFileSync(path.join(pkiDir, 'ca.crt'), path.join(dir, 'ca.crt'));
      fs.copyFileSync(path.join(pkiDir, 'ca.key'), path.join(dir, 'ca.key'));
      const good = path.join(dir, 'mesh.yaml');
      fs.writeFileSync(good, fileMesh('relative', 'ca.crt', 'ca.key'));
      const badDir = path.join(dir, 'bad');
      fs.mkdirSync(badDir);
      const bad = path.join(badDir, 'mesh.yaml');
      fs.writeFileSync(bad, fileMesh('broken', 'ca.crt', 'ca.key'));

      // when: validated from another working directory
      const ok = await runCli(['validate', '-f', good]);
      const broken = await runCli(['validate', '-f', bad]);

      // then: the good one reads its neighbours; the bad one names the path it resolved
      // (its only remark: mTLS with no TrafficPermission denies every call)
      expect(ok.stderr).toMatch(/^warning: Mesh\/relative: mtls\.enabledBackend: mTLS is on \(backend "ca-1"\) and mesh "relative" has no TrafficPermission[^\n]*\n$/);
      expect(ok.stdout).toBe('1 resource(s) valid\n');
      expect(broken.code).not.toBe(0);
      expect(broken.stderr).toContain(`mtls.backends[0].conf.cert.file: cannot read "${path.join(badDir, 'ca.crt')}": ENOENT`);

      // and: serve takes the same files as --config
      const serveDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-sec-srv-'));
      fs.mkdirSync(path.join(serveDir, 'config'));
      fs.copyFileSync(path.join(pkiDir, 'ca.crt'), path.join(serveDir, 'config', 'ca.crt'));
      fs.copyFileSync(path.join(pkiDir, 'ca.key'), path.join(serveDir, 'config', 'ca.key'));
      const served = await startTestServer({ configYaml: fileMesh('relative', 'ca.crt', 'ca.key'), dir: serveDir });
      try {
        const mesh = await rawRequest(served.port, { method: 'GET', path: '/api/meshes/relative' });
        expect(mesh.status).toBe(200);
        expect(mesh.json['origin']).toBe('config');
      } finally {
        await served.stop();
        fs.rmSync(serveDir, { recursive: true, force: true });
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

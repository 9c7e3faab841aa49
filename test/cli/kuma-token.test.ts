/**
 * `meshcp token generate` as `kumactl generate dataplane-token`: the control plane signs (SPEC §3),
 * and `--data-dir` never creates a signing key (it used to sign with a fresh one and exit 0, and
 * the proxy was refused later with "invalid token signature").
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SIGNING_KEY_FILE } from '../../src/auth/token.js';
import { verifyToken } from '../helpers/verify-token.js';
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';
import { startServer } from '../../src/cli/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { runCli, startHarness, type CliRun, type Harness } from './harness.js';

/** `token generate` prints the token on process.stdout (so `> web-01.token` works); capture it. */
async function tokenRun(args: readonly string[]): Promise<CliRun> {
  let printed = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed += chunk.toString();
    return true;
  });
  try {
    const run = await runCli(['token', 'generate', ...args]);
    return { ...run, stdout: run.stdout + printed };
  } finally {
    spy.mockRestore();
  }
}

describe('meshcp token generate', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h.stop();
  });

  it('asks the control plane (--server), which signs with the key it verifies tokens with', async () => {
    // given: a running control plane
    // when
    const run = await tokenRun(['--name', 'web-01', '--mesh', 'default', '--valid-for', '2h', '--server', h.url]);
    // then
    expect(run.code, run.stderr).toBe(0);
    const key = fs.readFileSync(path.join(h.dataDir, SIGNING_KEY_FILE));
    const verified = verifyToken(run.stdout.trim(), key);
    expect(verified).toMatchObject({ ok: true, claims: { name: 'web-01', mesh: 'default' } });
    if (verified.ok) expect(verified.claims.exp - verified.claims.iat).toBe(7200);
  });

  it('signs offline with --data-dir of the control plane: the same key', async () => {
    // given
    // when
    const run = await tokenRun(['--name', 'web-02', '--data-dir', h.dataDir]);
    // then
    expect(run.code, run.stderr).toBe(0);
    expect(verifyToken(run.stdout.trim(), fs.readFileSync(path.join(h.dataDir, SIGNING_KEY_FILE)))).toMatchObject({ ok: true, claims: { name: 'web-02' } });
  });

  it('refuses --data-dir without a signing key, and creates none', async () => {
    // given: a directory that is not a control plane's data directory
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-token-'));
    // when
    const run = await tokenRun(['--name', 'web-01', '--data-dir', dir]);
    // then
    expect(run.code).not.toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`Error: --data-dir ${dir}: no token signing key (${path.join(dir, SIGNING_KEY_FILE)}); a new key would sign tokens the control plane refuses.`);
    expect(run.stderr).toContain('`meshcp serve` creates the key in its own --data-dir (default ./.meshcp, relative to where serve was started) as it starts, with any --auth, before its admin API answers');
    expect(run.stderr).toContain('drop --data-dir to have the running control plane sign the token (--server)');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('signs with --data-dir of a `serve --auth none` as soon as it answers: serve makes the key as it starts, whatever --auth says', async () => {
    // given: serve --auth none, ready
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-token-none-'));
    const dataDir = path.join(dir, 'data');
    const server = await startServer({ config: [], dataDir, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'none', xdsPlaintext: true }, silentLogger());
    try {
      // when
      const run = await tokenRun(['--name', 'web-01', '--data-dir', dataDir]);
      // then
      expect(run.code, run.stderr).toBe(0);
      expect(verifyToken(run.stdout.trim(), fs.readFileSync(path.join(dataDir, SIGNING_KEY_FILE)))).toMatchObject({ ok: true, claims: { name: 'web-01' } });
    } finally {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports the server\'s refusal of a bad name in one line, and an unreachable server by its flag', async () => {
    // given
    // when
    const bad = await tokenRun(['--name', 'Web_01', '--server', h.url]);
    const down = await tokenRun(['--name', 'web-01', '--server', 'http://127.0.0.1:1']);
    // then
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/^Error: name: invalid name "Web_01"/m);
    expect(down.code).not.toBe(0);
    expect(down.stderr).toMatch(/cannot reach the meshcp admin API at http:\/\/127\.0\.0\.1:1/);
  });
});

describe('meshcp token generate against an admin API that requires mTLS', () => {
  it('is authenticated like any admin call: refused without a client certificate, signed with one', async () => {
    // given: serve --admin-tls-cert/--admin-tls-key/--admin-client-ca
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-token-mtls-'));
    const ca = await createRootCa({ commonName: 'Admin CA', validitySeconds: 86_400 });
    const serving = await issueCertificate({ issuer: ca, commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'], usage: 'server', validitySeconds: 86_400 });
    const operator = await issueCertificate({ issuer: ca, commonName: 'operator', usage: 'client', validitySeconds: 86_400 });
    const write = (name: string, text: string): string => {
      fs.writeFileSync(path.join(dir, name), text);
      return path.join(dir, name);
    };
    const dataDir = path.join(dir, 'data');
    const server = await startServer(
      {
        config: [],
        dataDir,
        xdsAddress: '127.0.0.1:0',
        adminAddress: '127.0.0.1:0',
        auth: 'token',
        xdsPlaintext: true,
        adminTlsCert: write('admin.crt', serving.certPem),
        adminTlsKey: write('admin.key', serving.keyPem),
        adminClientCa: write('ca.crt', ca.certPem),
      },
      silentLogger(),
    );
    try {
      // when
      const anonymous = await tokenRun(['--name', 'web-01', '--server', server.adminUrl, '--admin-ca-cert', path.join(dir, 'ca.crt')]);
      const operatorRun = await tokenRun([
        '--name', 'web-01', '--server', server.adminUrl, '--admin-ca-cert', path.join(dir, 'ca.crt'),
        '--client-cert', write('operator.crt', operator.certPem), '--client-key', write('operator.key', operator.keyPem),
      ]);
      // then
      expect(anonymous.code).not.toBe(0);
      expect(anonymous.stdout).toBe('');
      expect(operatorRun.code, operatorRun.stderr).toBe(0);
      expect(verifyToken(operatorRun.stdout.trim(), fs.readFileSync(path.join(dataDir, SIGNING_KEY_FILE)))).toMatchObject({ ok: true, claims: { name: 'web-01', mesh: 'default' } });
    } finally {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('meshcp apply -f', () => {
  it('names a missing file or directory', async () => {
    // given
    const missing = path.join(os.tmpdir(), 'meshcp-no-such-dir-for-apply');
    // when
    const run = await runCli(['apply', '-f', missing, '--server', 'http://127.0.0.1:1']);
    // then
    expect(run.code).not.toBe(0);
    expect(run.stderr).toBe(`Error: ${missing}: cannot read: ENOENT\n`);
  });
});

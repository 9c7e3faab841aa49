/**
 * TLS problems as the user meets them through the installed bin, each named with the flag that
 * fixes it instead of "cannot reach … is meshcp serve running?": an admin API whose certificate
 * the CLI does not trust, one that requires a client certificate, http:// against https://;
 * `bootstrap envoy` fetching the xDS CA from an mTLS admin API; `bootstrap grpc` aimed at the TLS
 * xDS port; an agent given the wrong xDS CA.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { waitFor } from '../helpers/wait.js';
import { BUILT_BIN, runBin } from './bin.js';

describe('TLS problems are named with the flag that fixes them', () => {
  let dir: string;
  let server: RunningServer;
  let https: string;
  const files: Record<string, string> = {};
  const write = (name: string, text: string): string => {
    files[name] = path.join(dir, name);
    fs.writeFileSync(files[name], text);
    return files[name];
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-admin-tls-'));
    const ca = await createRootCa({ commonName: 'Admin CA', validitySeconds: 86_400 });
    const other = await createRootCa({ commonName: 'Some other CA', validitySeconds: 86_400 });
    const serving = await issueCertificate({ issuer: ca, commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'], usage: 'server', validitySeconds: 86_400 });
    const operator = await issueCertificate({ issuer: ca, commonName: 'operator', usage: 'client', validitySeconds: 86_400 });
    write('other-ca.crt', other.certPem);
    write('operator.crt', operator.certPem);
    write('operator.key', operator.keyPem);
    server = await startServer(
      {
        config: [],
        dataDir: path.join(dir, 'data'),
        xdsAddress: '127.0.0.1:0',
        adminAddress: '127.0.0.1:0',
        auth: 'none',
        adminTlsCert: write('admin.crt', serving.certPem),
        adminTlsKey: write('admin.key', serving.keyPem),
        adminClientCa: write('ca.crt', ca.certPem),
      },
      silentLogger(),
    );
    https = server.adminUrl;
  });

  afterAll(async () => {
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an untrusted admin certificate names --admin-ca-cert, not "is meshcp serve running?"', async () => {
    // when
    const run = await runBin(['get', 'meshes', '--server', https]);
    // then
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/does not trust .*--admin-ca-cert FILE/);
    expect(run.stderr).not.toMatch(/is `meshcp serve` running/);
  });

  it('a certificate from another CA says it does not chain to the --admin-ca-cert given', async () => {
    // when
    const run = await runBin(['get', 'meshes', '--server', https, '--admin-ca-cert', files['other-ca.crt']!]);
    // then
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/does not chain to --admin-ca-cert/);
  });

  it('an admin API requiring a client certificate names --client-cert and --client-key', async () => {
    // when
    const run = await runBin(['get', 'meshes', '--server', https, '--admin-ca-cert', files['ca.crt']!]);
    // then
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/client certificate.*--client-cert FILE --client-key FILE/);
  });

  it('http:// against the HTTPS admin API says to use https://', async () => {
    // when
    const run = await runBin(['get', 'meshes', '--server', https.replace('https://', 'http://')]);
    // then
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`speaks HTTPS, not plain HTTP: use --server ${https}`);
  });

  it('with the CA and a client certificate it answers, and bootstrap envoy fetches the xDS CA through it', async () => {
    // given
    const tls = ['--server', https, '--admin-ca-cert', files['ca.crt']!, '--client-cert', files['operator.crt']!, '--client-key', files['operator.key']!];
    // when
    const meshes = await runBin(['get', 'meshes', ...tls]);
    const bootstrap = await runBin(['bootstrap', 'envoy', '--name', 'edge', '--xds-address', server.xdsAddress, ...tls]);
    // then
    expect(meshes.stderr).toBe('');
    expect(meshes.code).toBe(0);
    expect(bootstrap.stderr).toBe('');
    expect(bootstrap.code).toBe(0);
    expect(YAML.stringify(YAML.parse(bootstrap.stdout))).toContain('inline_string');
    expect(bootstrap.stdout).toContain((server.xdsCaPem ?? 'no xDS CA').trim().split('\n')[1]!);
  });

  it('bootstrap grpc aimed at the TLS xDS port warns that the app can never connect there', async () => {
    // when
    const run = await runBin(['bootstrap', 'grpc', '--name', 'web', '--xds-address', server.xdsAddress]);
    // then: the bootstrap is still written, with the warning and the fix
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^warning: --xds-address \S+ answers with TLS .* it can never connect; run `meshcp agent --xds-proxy-address/m);
  });

  it('an agent given the wrong xDS CA says why it reconnects: --xds-ca-cert and GET /api/xds-ca', async () => {
    // given: a CA that did not sign meshcp's xDS certificate (the token is never sent: TLS fails first)
    const tokenFile = write('web.token', 'not-a-token');
    const agent = spawn(process.execPath, [BUILT_BIN, 'agent', '--name', 'web', '--token-file', tokenFile, '--cert-dir', path.join(dir, 'web'), '--xds-address', server.xdsAddress, '--xds-ca-cert', files['other-ca.crt']!, '--xds-proxy-address', `unix://${path.join(dir, 'web-xds.sock')}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    agent.stdout.on('data', (d: Buffer) => (output += d.toString()));
    agent.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      // when / then
      await waitFor('the agent names the fix', () => output.includes('GET /api/xds-ca'), { timeoutMs: 60_000 });
      expect(output).toContain(`does not verify with --xds-ca-cert ${files['other-ca.crt']}`);
      expect(output).not.toContain('DEP0123');
    } finally {
      agent.kill('SIGKILL');
    }
  });
});

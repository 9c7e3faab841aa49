/**
 * The admin client's TLS files from the environment, beside MESHCP_SERVER:
 * MESHCP_CA_CERT, MESHCP_CLIENT_CERT, MESHCP_CLIENT_KEY, against a serve that requires mTLS.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { runCli } from './harness.js';

const ENV = ['MESHCP_SERVER', 'MESHCP_CA_CERT', 'MESHCP_ADMIN_CA_CERT', 'MESHCP_CLIENT_CERT', 'MESHCP_CLIENT_KEY'] as const;

describe('admin client TLS from the environment', () => {
  let dir: string;
  let server: RunningServer;
  const files: Record<string, string> = {};
  const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-env-'));
    const ca = await createRootCa({ commonName: 'Admin CA', validitySeconds: 86_400 });
    const serving = await issueCertificate({ issuer: ca, commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'], usage: 'server', validitySeconds: 86_400 });
    const operator = await issueCertificate({ issuer: ca, commonName: 'operator', usage: 'client', validitySeconds: 86_400 });
    const write = (name: string, text: string): string => {
      files[name] = path.join(dir, name);
      fs.writeFileSync(files[name], text);
      return files[name];
    };
    server = await startServer(
      {
        config: [],
        dataDir: path.join(dir, 'data'),
        xdsAddress: '127.0.0.1:0',
        adminAddress: '127.0.0.1:0',
        auth: 'none',
        xdsPlaintext: true,
        adminTlsCert: write('admin.crt', serving.certPem),
        adminTlsKey: write('admin.key', serving.keyPem),
        adminClientCa: write('ca.crt', ca.certPem),
      },
      silentLogger(),
    );
    write('operator.crt', operator.certPem);
    write('operator.key', operator.keyPem);
  });

  afterEach(() => {
    for (const k of ENV) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  afterAll(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('talks to an mTLS admin API with MESHCP_SERVER, MESHCP_CA_CERT, MESHCP_CLIENT_CERT and MESHCP_CLIENT_KEY set, and no flags', async () => {
    // given
    process.env['MESHCP_SERVER'] = server.adminUrl;
    process.env['MESHCP_CA_CERT'] = files['ca.crt'];
    process.env['MESHCP_CLIENT_CERT'] = files['operator.crt'];
    process.env['MESHCP_CLIENT_KEY'] = files['operator.key'];
    // when
    const run = await runCli(['get', 'meshes']);
    // then
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout.split('\n')[0]).toMatch(/^NAME\s+/);
  });

  it('is refused without the client certificate variables', async () => {
    // given
    process.env['MESHCP_SERVER'] = server.adminUrl;
    process.env['MESHCP_CA_CERT'] = files['ca.crt'];
    // when
    const run = await runCli(['get', 'meshes']);
    // then
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Error: /);
  });

  it('a flag wins over its variable', async () => {
    // given
    process.env['MESHCP_SERVER'] = server.adminUrl;
    process.env['MESHCP_CA_CERT'] = path.join(dir, 'nope.crt');
    process.env['MESHCP_CLIENT_CERT'] = files['operator.crt'];
    process.env['MESHCP_CLIENT_KEY'] = files['operator.key'];
    // when
    const run = await runCli(['get', 'meshes', '--admin-ca-cert', files['ca.crt'] ?? '']);
    // then
    expect(run).toMatchObject({ code: 0, stderr: '' });
  });

  it('takes MESHCP_ADMIN_CA_CERT, and the old --ca-cert with a warning naming --admin-ca-cert', async () => {
    // given
    process.env['MESHCP_SERVER'] = server.adminUrl;
    process.env['MESHCP_CLIENT_CERT'] = files['operator.crt'];
    process.env['MESHCP_CLIENT_KEY'] = files['operator.key'];
    // when
    process.env['MESHCP_ADMIN_CA_CERT'] = files['ca.crt'];
    const fromEnv = await runCli(['get', 'meshes']);
    delete process.env['MESHCP_ADMIN_CA_CERT'];
    const deprecated = await runCli(['get', 'meshes', '--ca-cert', files['ca.crt'] ?? '']);
    // then
    expect(fromEnv).toMatchObject({ code: 0, stderr: '' });
    expect(deprecated.code).toBe(0);
    expect(deprecated.stderr).toBe('Warning: --ca-cert is deprecated for the admin API: use --admin-ca-cert (on `bootstrap` and `agent`, the xDS CA is --xds-ca-cert)\n');
  });
});

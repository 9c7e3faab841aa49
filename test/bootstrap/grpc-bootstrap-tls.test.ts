/**
 * `meshcp bootstrap grpc --xds-ca-cert FILE` (SPEC §2 "Proxyless gRPC and TLS"): gRFC A65 `tls` channel
 * credentials and the token in node.metadata, for gRPC clients that speak TLS to meshcp directly
 * (test/peers/grpc-go-mesh.test.ts runs grpc-go on it); bad input gets a clear error.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa } from '../../src/ca/pki.js';
import { runCli } from '../cli/harness.js';

describe('meshcp bootstrap grpc --xds-ca-cert', () => {
  let dir: string;
  let caFile: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-grpc-tls-'));
    caFile = path.join(dir, 'xds-ca.pem');
    fs.writeFileSync(caFile, (await createRootCa({ commonName: 'xds ca', keyType: 'ecdsa-p256', validitySeconds: 3600 })).certPem);
    fs.writeFileSync(path.join(dir, 'token'), 'the-token\n');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes tls channel credentials with the CA file, and the token in node.metadata, for a non-loopback meshcp', async () => {
    // when
    const run = await runCli(['bootstrap', 'grpc', '--name', 'web-1', '--token-file', path.join(dir, 'token'), '--xds-address', 'meshcp.internal:5678', '--xds-ca-cert', caFile, '--cert-dir', path.join(dir, 'certs')]);

    // then
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const bootstrap = JSON.parse(run.stdout) as { xds_servers: Array<Record<string, unknown>>; node: { id: string; metadata: Record<string, string> }; certificate_providers: Record<string, unknown> };
    expect(bootstrap.xds_servers).toEqual([
      { server_uri: 'meshcp.internal:5678', channel_creds: [{ type: 'tls', config: { ca_certificate_file: caFile, refresh_interval: '1s' } }], server_features: ['xds_v3'] },
    ]);
    expect(bootstrap.node.id).toBe('web-1');
    expect(bootstrap.node.metadata).toEqual({ mesh: 'default', flavor: 'grpc', token: 'the-token' });
    expect(Object.keys(bootstrap.certificate_providers)).toEqual(['meshcp']);
  });

  it('refuses a CA file that is missing or holds no certificate, and --xds-plaintext with it', async () => {
    // given
    const notPem = path.join(dir, 'not.pem');
    fs.writeFileSync(notPem, 'hello\n');
    const args = ['bootstrap', 'grpc', '--name', 'web-1', '--token', 't'];

    // when
    const missing = await runCli([...args, '--xds-ca-cert', path.join(dir, 'missing.pem')]);
    const garbage = await runCli([...args, '--xds-ca-cert', notPem]);
    const plaintext = await runCli([...args, '--xds-ca-cert', caFile, '--xds-plaintext']);
    const replicas = await runCli([...args, '--xds-ca-cert', caFile, '--xds-address', 'a:1', '--xds-address', 'b:1']);

    // then: each names the flag and the file, and prints no bootstrap
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/--xds-ca-cert.*missing\.pem/);
    expect(garbage.code).not.toBe(0);
    expect(garbage.stderr).toMatch(/not\.pem.*holds no PEM certificate/);
    expect(plaintext.code).not.toBe(0);
    expect(plaintext.stderr).toMatch(/--xds-plaintext cannot be combined with --xds-ca-cert/);
    expect(replicas.code).not.toBe(0);
    expect(replicas.stderr).toMatch(/takes one --xds-address/);
    for (const run of [missing, garbage, plaintext, replicas]) expect(run.stdout).toBe('');
  });

  it('warns when the app would connect without a token', async () => {
    // when
    const run = await runCli(['bootstrap', 'grpc', '--name', 'web-1', '--xds-ca-cert', caFile]);

    // then
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/no --token or --token-file/);
    expect((JSON.parse(run.stdout) as { node: { metadata: Record<string, string> } }).node.metadata['token']).toBeUndefined();
  });
});

/**
 * Every bootstrap `meshcp bootstrap envoy` writes passes `envoy --mode validate` on Envoy 1.40:
 * TLS and plaintext xDS, SotW and Delta, one replica or several (IPs and DNS names), and each
 * admin interface choice. The compose kits' bootstraps are validated in test/compose.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa } from '../../src/ca/pki.js';
import { runCli } from '../cli/harness.js';
import { get, validateBootstrap } from '../helpers/envoy-bootstrap.js';

describe('meshcp bootstrap envoy: Envoy 1.40 accepts every variant', () => {
  let dir: string;
  let caFile: string;
  let tokenFile: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-bootstraps-'));
    caFile = path.join(dir, 'xds-ca.pem');
    fs.writeFileSync(caFile, (await createRootCa({ commonName: 'xds ca', keyType: 'ecdsa-p256', validitySeconds: 3600 })).certPem);
    tokenFile = path.join(dir, 'web.token');
    fs.writeFileSync(tokenFile, 'not-a-real-token\n');
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const variants: Record<string, string[]> = {
    'TLS, one replica, admin on the default Unix socket': ['--xds-address', '127.0.0.1:5678'],
    'TLS, Delta ADS': ['--xds-address', '127.0.0.1:5678', '--delta'],
    'TLS, two replicas by DNS name': ['--xds-address', 'meshcp-1:5678', '--xds-address', 'meshcp-2:5678'],
    'TLS, two replicas by IP': ['--xds-address', '10.0.0.1:5678,10.0.0.2:5678'],
    'admin on an explicit Unix socket': ['--admin-address', 'unix:///run/envoy/admin.sock'],
    'admin on a TCP port (opt-in)': ['--admin-address', '127.0.0.1:9901'],
    'no admin interface': ['--admin-address', 'none'],
  };

  for (const [label, args] of Object.entries(variants)) {
    it(label, async () => {
      // given / when
      const run = await runCli(['bootstrap', 'envoy', '--name', 'web', '--token-file', tokenFile, '--xds-ca-cert', caFile, ...args]);
      // then
      expect(run.code, run.stderr).toBe(0);
      expect(validateBootstrap(run.stdout)).toEqual({ ok: true });
    });
  }

  it('plaintext (development), with its warning', async () => {
    const run = await runCli(['bootstrap', 'envoy', '--name', 'web', '--token-file', tokenFile, '--xds-plaintext']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/WITHOUT TLS/);
    expect(validateBootstrap(run.stdout)).toEqual({ ok: true });
  });

  it('puts the admin interface on a Unix socket only its owner can open, by default', async () => {
    const run = await runCli(['bootstrap', 'envoy', '--name', 'web', '--token-file', tokenFile, '--xds-ca-cert', caFile]);
    const doc = YAML.parse(run.stdout) as Record<string, unknown>;
    expect(get(doc, 'admin', 'address')).toEqual({ pipe: { path: 'envoy-admin-web.sock', mode: 0o600 } });
    const tcp = await runCli(['bootstrap', 'envoy', '--name', 'web', '--token-file', tokenFile, '--xds-ca-cert', caFile, '--admin-address', '127.0.0.1:9901']);
    expect(tcp.stderr).toMatch(/warning: --admin-address 127\.0\.0\.1:9901: .*every local user.*Prefer unix:\/\/PATH/);
    expect(get(YAML.parse((await runCli(['bootstrap', 'envoy', '--name', 'web', '--token-file', tokenFile, '--xds-ca-cert', caFile, '--admin-address', 'none'])).stdout), 'admin')).toBeUndefined();
  });

  it('refuses a bootstrap Envoy would refuse, with Envoy\'s reason (the check can fail)', () => {
    const verdict = validateBootstrap({ static_resources: { clusters: [{ name: 'x', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'x', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'not-an-ip', port_value: 1 } } } }] }] } }] } });
    expect(verdict.ok).toBe(false);
    expect(verdict.error).toMatch(/malformed IP address: not-an-ip/);
  });
});

/**
 * SPEC §2 "xDS is TLS by default": `meshcp bootstrap envoy` writes the control-plane CA into the
 * xDS cluster's transport_socket (fetched from the admin API unless --xds-ca-cert is given), the
 * result is a valid Envoy Bootstrap; `--xds-plaintext` leaves TLS out and warns. `meshcp bootstrap
 * grpc` keeps the app's plaintext xDS on loopback (the agent's xDS proxy).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envoyBootstrap, XDS_CLUSTER_NAME } from '../../src/bootstrap/envoy.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { runCli } from '../cli/harness.js';
import { get, validateBootstrap } from '../helpers/envoy-bootstrap.js';

const TLS_SOCKET = ['static_resources', 'clusters', 0, 'transport_socket'] as const;

describe('meshcp bootstrap envoy over TLS', () => {
  let dir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-bootstrap-tls-'));
    server = await startServer({ config: [], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'none' }, silentLogger());
  });

  afterAll(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('fetches the CA from --server and writes it into the xDS cluster: a bootstrap Envoy accepts', async () => {
    // given a running meshcp serving xDS over TLS
    // when a bootstrap is printed against its admin API
    const run = await runCli(['bootstrap', 'envoy', '--name', 'edge', '--xds-address', server.xdsAddress, '--server', server.adminUrl]);

    // then the xDS cluster speaks TLS to meshcp, trusting exactly the published CA, pinned to the host it dials
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const bootstrap = YAML.parse(run.stdout) as Record<string, unknown>;
    expect(get(bootstrap, 'static_resources', 'clusters', 0, 'name')).toBe(XDS_CLUSTER_NAME);
    const socket = get(bootstrap, ...TLS_SOCKET);
    expect(socket).toMatchObject({
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        common_tls_context: {
          alpn_protocols: ['h2'],
          validation_context: { trusted_ca: { inline_string: server.xdsCaPem }, match_typed_subject_alt_names: [{ san_type: 'IP_ADDRESS', matcher: { exact: '127.0.0.1' } }] },
        },
      },
    });
    // and Envoy 1.40 accepts it as it would at start
    expect(validateBootstrap(run.stdout)).toEqual({ ok: true });
  });

  it('uses --xds-ca-cert instead of the admin API, with SNI for a DNS host', async () => {
    // given the CA saved to a file, and no admin API reachable at --server
    const caFile = path.join(dir, 'xds-ca.pem');
    fs.writeFileSync(caFile, server.xdsCaPem!);

    // when a bootstrap is printed for a DNS xDS host
    const run = await runCli(['bootstrap', 'envoy', '--name', 'edge', '--xds-address', 'meshcp.internal:5678', '--xds-ca-cert', caFile, '--server', 'http://127.0.0.1:1']);

    // then the CA comes from the file, and the host is both the SNI and the expected DNS SAN
    expect(run.code).toBe(0);
    const bootstrap = YAML.parse(run.stdout) as Record<string, unknown>;
    expect(get(bootstrap, ...TLS_SOCKET, 'typed_config', 'sni')).toBe('meshcp.internal');
    expect(get(bootstrap, ...TLS_SOCKET, 'typed_config', 'common_tls_context', 'validation_context', 'trusted_ca', 'inline_string')).toBe(server.xdsCaPem);
    expect(get(bootstrap, ...TLS_SOCKET, 'typed_config', 'common_tls_context', 'validation_context', 'match_typed_subject_alt_names', 0)).toEqual({ san_type: 'DNS', matcher: { exact: 'meshcp.internal' } });
    expect(validateBootstrap(bootstrap)).toEqual({ ok: true });
  });

  it('--xds-plaintext leaves TLS out and warns on stderr', async () => {
    // given / when
    const run = await runCli(['bootstrap', 'envoy', '--name', 'edge', '--xds-plaintext', '--server', 'http://127.0.0.1:1']);

    // then
    expect(run.code).toBe(0);
    expect(get(YAML.parse(run.stdout), ...TLS_SOCKET)).toBeUndefined();
    expect(run.stderr).toMatch(/^warning: --xds-plaintext/);
  });

  it('fails in one line naming the URL and the fix when the admin API is unreachable', async () => {
    // given no admin API on that port
    // when
    const run = await runCli(['bootstrap', 'envoy', '--name', 'edge', '--server', 'http://127.0.0.1:1']);

    // then
    expect(run.code).not.toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('http://127.0.0.1:1/api/xds-ca');
    expect(run.stderr).toContain('connection refused');
    expect(run.stderr).toContain('--xds-ca-cert FILE');
  });

  it('takes the xDS CA under its deprecated name --ca-cert, with a warning naming --xds-ca-cert', async () => {
    // given
    const caFile = path.join(dir, 'xds-ca.pem');
    fs.writeFileSync(caFile, server.xdsCaPem!);
    // when
    const run = await runCli(['bootstrap', 'envoy', '--name', 'edge', '--ca-cert', caFile, '--server', 'http://127.0.0.1:1']);
    // then
    expect(run.code).toBe(0);
    expect(get(YAML.parse(run.stdout), ...TLS_SOCKET, 'typed_config', 'common_tls_context', 'validation_context', 'trusted_ca', 'inline_string')).toBe(server.xdsCaPem);
    expect(run.stderr).toBe("Warning: --ca-cert is deprecated here: use --xds-ca-cert (the CA of meshcp's xDS certificate; the admin API's CA is --admin-ca-cert)\n");
  });

  it('refuses a --xds-ca-cert that holds no certificate', async () => {
    // given a file with a key instead of a certificate
    const bad = path.join(dir, 'not-a-cert.pem');
    fs.writeFileSync(bad, 'hello\n');

    // when
    const run = await runCli(['bootstrap', 'envoy', '--name', 'edge', '--xds-ca-cert', bad]);

    // then
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`--xds-ca-cert "${bad}" holds no PEM certificate`);
  });
});

describe('meshcp bootstrap grpc through the agent xDS proxy', () => {
  it('points at a loopback address without a token', async () => {
    // given / when a bootstrap for an app behind `meshcp agent --xds-proxy-address 127.0.0.1:15010`
    const run = await runCli(['bootstrap', 'grpc', '--name', 'web', '--xds-address', '127.0.0.1:15010', '--cert-dir', '/tmp/web']);

    // then it names the proxy, and holds no token: the agent adds it
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(get(doc, 'xds_servers', 0, 'server_uri')).toBe('127.0.0.1:15010');
    expect(get(doc, 'node', 'metadata')).toEqual({ mesh: 'default', flavor: 'grpc' });
  });

  it('refuses a non-loopback address unless --xds-plaintext: grpc-js would send its token in clear', async () => {
    // given / when
    const refused = await runCli(['bootstrap', 'grpc', '--name', 'web', '--xds-address', '10.0.0.5:5678']);
    const allowed = await runCli(['bootstrap', 'grpc', '--name', 'web', '--xds-address', '10.0.0.5:5678', '--xds-plaintext']);

    // then
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('--xds-proxy-address');
    expect(allowed.code).toBe(0);
    expect(allowed.stderr).toMatch(/^warning: --xds-plaintext/);
  });
});

describe('envoyBootstrap', () => {
  it('has no transport_socket without a CA (the library default for plaintext callers)', () => {
    // given / when
    const bootstrap = envoyBootstrap({ name: 'edge', mesh: 'default', xdsAddress: '127.0.0.1:5678' });

    // then
    expect(get(bootstrap, ...TLS_SOCKET)).toBeUndefined();
  });
});

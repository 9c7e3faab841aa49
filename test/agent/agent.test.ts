import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentAuthError, startAgent, type RunningAgent } from '../../src/agent/agent.js';
import { generateToken, loadOrCreateSigningKey } from '../../src/auth/token.js';
import { certificateInfo } from '../../src/ca/cert-info.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { extensionValue, verify, x509Text } from '../ca/openssl.js';
import { runCli } from '../cli/harness.js';
import { waitFor } from '../helpers/wait.js';
import { bufferLogger } from '../helpers/log-buffer.js';

const CONFIG = `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
    dpCert:
      rotation:
        expiration: 3s
---
type: Dataplane
name: web-01
networking:
  address: 127.0.0.1
  inbound:
  - port: 18080
    tags: { kuma.io/service: web }
`;


describe('meshcp agent', () => {
  let dir: string;
  let server: RunningServer;
  let token: string;
  const serverLogs = bufferLogger('debug');
  const agents: RunningAgent[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-agent-'));
    fs.writeFileSync(path.join(dir, 'config.yaml'), CONFIG);
    const dataDir = path.join(dir, 'data');
    server = await startServer({ config: [path.join(dir, 'config.yaml')], dataDir, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'token', xdsPlaintext: true }, serverLogs.log);
    token = generateToken({ name: 'web-01', mesh: 'default', validForSeconds: 3600 }, await loadOrCreateSigningKey(dataDir));
  });

  afterAll(async () => {
    for (const agent of agents) agent.stop();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes cert.pem, key.pem and ca.pem, rewrites them at every rotation, and never logs a key', async () => {
    // given
    const certDir = path.join(dir, 'certs');
    const agentLogs = bufferLogger('debug');
    const agent = startAgent({ name: 'web-01', mesh: 'default', token, certDir, xdsAddress: server.xdsAddress, log: agentLogs.log });
    agents.push(agent);
    // when
    await agent.ready;
    // then
    const files = { cert: path.join(certDir, 'cert.pem'), key: path.join(certDir, 'key.pem'), ca: path.join(certDir, 'ca.pem') };
    const first = fs.readFileSync(files.cert, 'utf8');
    expect(fs.statSync(files.key).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(files.key, 'utf8')).toContain('PRIVATE KEY');
    const checked = verify(files.cert, { caFile: files.ca, purpose: 'sslserver' });
    expect(checked.stdout + checked.stderr).toContain('OK');
    const text = x509Text(first);
    expect(text).toContain('URI:spiffe://default/web');
    expect(extensionValue(text, 'X509v3 Basic Constraints')).toBe('CA:FALSE');
    const info = certificateInfo(first);
    expect(info.notAfter.getTime() - Date.now()).toBeLessThanOrEqual(3000);
    expect(info.serialHex).toBe(agent.serial());

    // when the certificate reaches 4/5 of its 3 s lifetime
    const rotated = await waitFor('a rotated cert.pem', () => {
      const current = fs.readFileSync(files.cert, 'utf8');
      return current !== first ? current : undefined;
    }, { timeoutMs: 20_000 });
    // then
    expect(certificateInfo(rotated).serialHex).not.toBe(info.serialHex);
    await waitFor('the agent to log the rotation', () => agentLogs.text().includes('rotated the workload certificate'));
    const again = verify(files.cert, { caFile: files.ca });
    expect(again.stdout + again.stderr).toContain('OK');
    expect(certificateInfo(fs.readFileSync(files.cert, 'utf8')).notAfter.getTime()).toBeGreaterThan(info.notAfter.getTime());
    expect(agentLogs.text()).toContain(info.serialHex);
    expect(serverLogs.text()).toContain('rotated workload certificate');
    expect(serverLogs.text()).not.toContain('PRIVATE KEY');
    expect(agentLogs.text()).not.toContain('PRIVATE KEY');
    expect(serverLogs.text()).not.toContain(token);
  });

  it('reports the certificate in the identity status', async () => {
    // given / when
    const response = await fetch(`${server.adminUrl}/api/identities?mesh=default`);
    const body = (await response.json()) as { items: { name: string; connected: boolean; regenerations: number; spiffeIds: string[] }[] };
    // then
    const web = body.items.find((i) => i.name === 'web-01');
    expect(web).toMatchObject({ connected: true, spiffeIds: ['spiffe://default/web'] });
    expect(web?.regenerations).toBeGreaterThanOrEqual(1);
  });

  it('stops with an error when the token is refused', async () => {
    // given
    const agent = startAgent({ name: 'web-01', mesh: 'default', token: 'bad.token.value', certDir: path.join(dir, 'refused'), xdsAddress: server.xdsAddress, log: bufferLogger('debug').log });
    agents.push(agent);
    // when
    const error = await agent.done.then(
      () => undefined,
      (err: unknown) => err,
    );
    // then
    expect(error).toBeInstanceOf(AgentAuthError);
    expect((error as AgentAuthError).code).toBe(grpc.status.UNAUTHENTICATED);
    expect(fs.existsSync(path.join(dir, 'refused', 'key.pem'))).toBe(false);
  });

  it('exits non-zero from the CLI when the token is for another proxy', async () => {
    // given
    const tokenFile = path.join(dir, 'other.token');
    fs.writeFileSync(tokenFile, generateToken({ name: 'backend-01', mesh: 'default', validForSeconds: 3600 }, await loadOrCreateSigningKey(path.join(dir, 'data'))));
    // when
    const run = await runCli(['agent', '--name', 'web-01', '--token-file', tokenFile, '--cert-dir', path.join(dir, 'cli-certs'), '--xds-address', server.xdsAddress, '--xds-plaintext']);
    // then
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('meshcp refused this agent (PERMISSION_DENIED)');
    expect(run.stderr).toContain('is for "backend-01", not "web-01"');
  });
});

describe('meshcp agent across a control plane restart', () => {
  it('reconnects, and writes the new certificate issued by the restarted control plane from the same stored CA', async () => {
    // given
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-agent-restart-'));
    fs.writeFileSync(path.join(dir, 'config.yaml'), CONFIG.replace('expiration: 3s', 'expiration: 1h'));
    const dataDir = path.join(dir, 'data');
    const options = (xdsAddress: string): Parameters<typeof startServer>[0] => ({ config: [path.join(dir, 'config.yaml')], dataDir, xdsAddress, adminAddress: '127.0.0.1:0', auth: 'token', xdsPlaintext: true });
    let server = await startServer(options('127.0.0.1:0'), bufferLogger('debug').log);
    const address = server.xdsAddress;
    const token = generateToken({ name: 'web-01', mesh: 'default', validForSeconds: 3600 }, await loadOrCreateSigningKey(dataDir));
    const certDir = path.join(dir, 'certs');
    const agent = startAgent({ name: 'web-01', mesh: 'default', token, certDir, xdsAddress: address, log: bufferLogger('debug').log, reconnect: { initialMs: 100, maxMs: 500 } });
    try {
      await agent.ready;
      const before = agent.serial();
      const bundle = fs.readFileSync(path.join(certDir, 'ca.pem'), 'utf8');
      const oldCert = path.join(dir, 'old-cert.pem');
      fs.copyFileSync(path.join(certDir, 'cert.pem'), oldCert);
      // when
      await server.close();
      server = await startServer(options(address), bufferLogger('debug').log);
      // then
      await waitFor('a new certificate after the restart', () => agent.serial() !== before, { timeoutMs: 20_000 });
      expect(fs.readFileSync(path.join(certDir, 'ca.pem'), 'utf8')).toBe(bundle);
      const checked = verify(path.join(certDir, 'cert.pem'), { caFile: path.join(certDir, 'ca.pem') });
      expect(checked.status).toBe(0);
      // and: the certificate issued before the restart still verifies against the (same) CA
      expect(verify(oldCert, { caFile: path.join(certDir, 'ca.pem') }).status).toBe(0);
    } finally {
      agent.stop();
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

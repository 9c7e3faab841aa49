/**
 * SPEC §2 "Proxyless gRPC and TLS", end to end: meshcp serves xDS over TLS only (token auth on);
 * each @grpc/grpc-js-xds workload talks plaintext xDS to its own agent's loopback xDS proxy, which
 * relays over TLS and adds the token the app's bootstrap does not hold. Mesh mTLS (STRICT) and
 * RBAC work through it: a TrafficPermission allows, and deleting it denies.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent/agent.js';
import { XdsProxy } from '../../src/agent/xds-proxy.js';
import { generateToken, loadOrCreateSigningKey } from '../../src/auth/token.js';
import { grpcBootstrap } from '../../src/bootstrap/grpc.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { LISTENER_TYPE } from '../../src/snapshot/types.js';
import { callWho, freePort, startXdsEchoServer } from '../helpers/echo-service.js';
import { FakeEnvoy } from '../helpers/fake-envoy.js';
import { bufferLogger } from '../helpers/log-buffer.js';
import { loadGrpcXdsWithRbac } from '../helpers/mesh-tls.js';
import { waitFor } from '../helpers/wait.js';

const grpcXds = await loadGrpcXdsWithRbac();

const PERMISSION = `---
type: TrafficPermission
name: web-to-backend
sources: [ { match: { kuma.io/service: web } } ]
destinations: [ { match: { kuma.io/service: backend } } ]
`;

const meshYaml = (backendPort: number, webPort: number, withPermission: boolean): string => `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
    mode: STRICT
---
type: Dataplane
name: backend-1
networking:
  address: 127.0.0.1
  inbound: [{ port: ${backendPort}, tags: { kuma.io/service: backend, kuma.io/protocol: grpc } }]
---
type: Dataplane
name: web
networking:
  address: 127.0.0.1
  inbound: [{ port: ${webPort}, tags: { kuma.io/service: web, kuma.io/protocol: grpc } }]
${withPermission ? PERMISSION : ''}`;

type Outcome = { ok: true; peer: string } | { ok: false; code: number };

async function call(client: grpc.Client): Promise<Outcome> {
  try {
    const reply = await callWho(client, 5000);
    return { ok: true, peer: reply.peerUris.join(',') };
  } catch (err) {
    return { ok: false, code: (err as grpc.ServiceError).code };
  }
}

describe('proxyless gRPC through the agent xDS proxy, with meshcp serving TLS only', () => {
  let dir: string;
  let configFile: string;
  let server: RunningServer;
  let backendPort: number;
  let webPort: number;
  let tokens: Record<string, string>;
  const relayLogs = bufferLogger('debug');
  const cleanup: Array<() => Promise<void> | void> = [];
  const proxies: Record<string, string> = {};

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-xds-tls-e2e-'));
    [backendPort, webPort] = [await freePort(), await freePort()];
    configFile = path.join(dir, 'mesh.yaml');
    fs.writeFileSync(configFile, meshYaml(backendPort, webPort, true));
    const dataDir = path.join(dir, 'data');
    // Default options: TLS xDS (no xdsPlaintext), token authentication.
    server = await startServer({ config: [configFile], dataDir, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'token' }, bufferLogger().log);
    cleanup.push(() => server.close());
    const ca = await (await fetch(`${server.adminUrl}/api/xds-ca`)).text();
    const credentials = grpc.credentials.createSsl(Buffer.from(ca));
    const key = await loadOrCreateSigningKey(dataDir);
    tokens = {};
    for (const name of ['backend-1', 'web']) {
      const token = generateToken({ name, mesh: 'default', validForSeconds: 3600 }, key);
      tokens[name] = token;
      const agent = startAgent({ name, mesh: 'default', token, certDir: path.join(dir, name), xdsAddress: server.xdsAddress, log: relayLogs.log, credentials });
      cleanup.push(() => agent.stop());
      const proxy = new XdsProxy({ listenAddress: '127.0.0.1:0', upstreamAddress: server.xdsAddress, credentials, token, mesh: 'default', log: relayLogs.log });
      proxies[name] = `127.0.0.1:${await proxy.listen()}`;
      cleanup.push(() => proxy.close());
      await agent.ready;
    }
  });

  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('allows web → backend over mesh mTLS, then denies once the TrafficPermission is deleted', async () => {
    // given grpc-js-xds workloads whose bootstraps name their agent's loopback proxy and hold no token
    const bootstrapFor = (name: string): Record<string, unknown> => grpcBootstrap({ name, mesh: 'default', xdsAddress: proxies[name]!, certDir: path.join(dir, name) });
    expect(JSON.stringify(bootstrapFor('web'))).not.toContain(tokens['web']!);
    const backend = await startXdsEchoServer('backend-1', backendPort, bootstrapFor('backend-1'), new grpcXds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()));
    cleanup.push(backend.stop);
    const client = new grpc.Client('xds:///backend', new grpcXds.XdsChannelCredentials(grpc.credentials.createInsecure()), {
      'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrapFor('web')),
    });
    cleanup.push(() => client.close());

    // when web calls backend with the permission in place
    const allowed = await waitFor('an allowed call', async () => {
      const r = await call(client);
      return r.ok ? r : undefined;
    }, { timeoutMs: 30_000 });

    // then the call went over mTLS: the server saw web's SPIFFE identity
    expect(allowed.peer).toBe('spiffe://default/web');

    // when the permission is deleted
    const before = server.config.loads;
    fs.writeFileSync(configFile, meshYaml(backendPort, webPort, false));
    await waitFor('config reload', () => server.config.loads > before);

    // then the same call is denied by the server's RBAC
    const denied = await waitFor('a denied call', async () => {
      const r = await call(client);
      return !r.ok && r.code === grpc.status.PERMISSION_DENIED ? r : undefined;
    }, { timeoutMs: 30_000 });
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('serves an app whose request has no token, and ends its stream with meshcp\'s status when meshcp refuses', async () => {
    // given a plaintext client of web's proxy without a token, and one of a proxy holding a token for another name
    const ok = new FakeEnvoy({ address: proxies['web']!, mode: 'delta', node: { id: 'web', metadata: { flavor: 'grpc' } } });
    const wrongProxy = new XdsProxy({
      listenAddress: '127.0.0.1:0',
      upstreamAddress: server.xdsAddress,
      credentials: grpc.credentials.createSsl(Buffer.from(server.xdsCaPem!)),
      token: tokens['backend-1']!,
      mesh: 'default',
      log: relayLogs.log,
    });
    const wrongAddress = `127.0.0.1:${await wrongProxy.listen()}`;
    const refused = new FakeEnvoy({ address: wrongAddress, mode: 'sotw', node: { id: 'web', metadata: {} } });
    // and, for reference, the same request straight to meshcp over TLS
    const direct = new FakeEnvoy({
      address: server.xdsAddress,
      mode: 'sotw',
      node: { id: 'web', metadata: { mesh: 'default', flavor: 'grpc', token: tokens['backend-1']! } },
      credentials: grpc.credentials.createSsl(Buffer.from(server.xdsCaPem!)),
    });
    try {
      // when both ask for listeners
      ok.subscribe(LISTENER_TYPE, []);
      refused.subscribe(LISTENER_TYPE, []);
      direct.subscribe(LISTENER_TYPE, []);

      // then the first is served through the relay (delta too); the second ends with exactly the status meshcp gives
      expect((await ok.nextOf(LISTENER_TYPE, 10_000)).resources.length).toBeGreaterThan(0);
      const expected = await direct.closed(10_000);
      expect(expected.code).not.toBe(grpc.status.OK);
      expect(await refused.closed(10_000)).toEqual(expected);
    } finally {
      ok.close();
      direct.close();
      refused.close();
      await wrongProxy.close();
    }
  });

  it('never logs a token or a private key', () => {
    // given everything the agents and relays logged
    const text = relayLogs.text();
    // then neither tokens nor keys are in it
    expect(text.length).toBeGreaterThan(0);
    for (const token of Object.values(tokens)) expect(text).not.toContain(token);
    expect(text).not.toMatch(/PRIVATE KEY/);
  });
});

describe('the agent xDS proxy address', () => {
  it('must be loopback: the proxy is plaintext and speaks with the agent\'s token', () => {
    // given / when / then
    const make = (listenAddress: string): XdsProxy =>
      new XdsProxy({ listenAddress, upstreamAddress: '127.0.0.1:1', credentials: grpc.credentials.createInsecure(), token: 't', mesh: 'default', log: bufferLogger().log });
    expect(() => make('0.0.0.0:15010')).toThrow(/not a loopback address/);
    expect(() => make('10.0.0.5:15010')).toThrow(/--xds-proxy-address "10\.0\.0\.5:15010"/);
    expect(() => make('127.0.0.1:0')).not.toThrow();
  });
});

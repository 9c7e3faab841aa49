/**
 * `meshcp agent` behind real proxyless gRPC peers (SPEC §3 agent, §4): grpc-js-xds server and
 * client read the files the agents keep current through their file_watcher providers, and calls
 * keep succeeding over mesh mTLS while both certificates rotate, and while the mesh switches CA.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgent, type RunningAgent } from '../../src/agent/agent.js';
import { grpcBootstrap } from '../../src/bootstrap/grpc.js';
import { parseCertificates } from '../../src/ca/pem.js';
import { createRootCa } from '../../src/ca/pki.js';
import { createIntermediateCa } from '../helpers/intermediate-ca.js';
import { verify } from '../ca/openssl.js';
import { silentLogger } from '../../src/log/logger.js';
import { startControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { callWho, freePort, startXdsEchoServer } from '../helpers/echo-service.js';
import { loadGrpcXdsWithRbac } from '../helpers/mesh-tls.js';
import { waitFor } from '../helpers/wait.js';

const grpcXds = await loadGrpcXdsWithRbac();

interface MeshOptions {
  readonly enabled?: string;
  readonly expiration?: string;
  /** Files of a provided CA for backend ca-2 (chain: intermediate first, up to the root); builtin otherwise. */
  readonly provided?: { readonly cert: string; readonly key: string };
}

const ca2 = (options: MeshOptions): string =>
  options.provided
    ? `type: provided
    conf:
      cert: { file: ${options.provided.cert} }
      key: { file: ${options.provided.key} }`
    : 'type: builtin';

const meshYaml = (backendPort: number, webPort: number, options: MeshOptions = {}): string => `type: Mesh
name: default
mtls:
  enabledBackend: ${options.enabled ?? 'ca-1'}
  backends:
  - name: ca-1
    type: builtin
    dpCert: { rotation: { expiration: ${options.expiration ?? '5s'} } }
  - name: ca-2
    ${ca2(options)}
    dpCert: { rotation: { expiration: ${options.expiration ?? '5s'} } }
---
type: Dataplane
name: backend-1
networking:
  address: 127.0.0.1
  inbound: [{ port: ${backendPort}, tags: { kuma.io/service: backend, kuma.io/protocol: grpc } }]
---
type: Dataplane
name: web-1
networking:
  address: 127.0.0.1
  inbound: [{ port: ${webPort}, tags: { kuma.io/service: web, kuma.io/protocol: grpc } }]
---
type: TrafficPermission
name: web-to-backend
sources: [ { match: { kuma.io/service: web } } ]
destinations: [ { match: { kuma.io/service: backend } } ]
`;

interface RunningPeers {
  readonly cp: TestControlPlane;
  readonly backendPort: number;
  readonly webPort: number;
  readonly backendAgent: RunningAgent;
  readonly webAgent: RunningAgent;
  readonly client: grpc.Client;
  /** A new channel as web-1, with its own connection: its first call is a fresh TLS handshake. */
  freshClient(): grpc.Client;
}

const cleanup: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup.length = 0;
});

/** backend-1 (xDS server) and web-1 (xDS client), each with a `meshcp agent` keeping its certificate files. */
async function startPeers(options: MeshOptions): Promise<RunningPeers> {
  const backendPort = await freePort();
  const webPort = await freePort();
  const cp = await startControlPlane(meshYaml(backendPort, webPort, options));
  cleanup.push(() => cp.stop());
  const agentFor = (name: string): RunningAgent => {
    const agent = startAgent({ name, mesh: 'default', token: 'unused', certDir: path.join(cp.dir, name), xdsAddress: cp.address, log: silentLogger() });
    cleanup.push(() => agent.stop());
    return agent;
  };
  const backendAgent = agentFor('backend-1');
  const webAgent = agentFor('web-1');
  await Promise.all([backendAgent.ready, webAgent.ready]);
  const server = await startXdsEchoServer(
    'backend-1',
    backendPort,
    grpcBootstrap({ name: 'backend-1', mesh: 'default', xdsAddress: cp.address, certDir: path.join(cp.dir, 'backend-1') }),
    new grpcXds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()),
  );
  cleanup.push(server.stop);
  const bootstrap = JSON.stringify(grpcBootstrap({ name: 'web-1', mesh: 'default', xdsAddress: cp.address, certDir: path.join(cp.dir, 'web-1') }));
  const open = (options: grpc.ChannelOptions): grpc.Client => {
    const client = new grpc.Client('xds:///backend', new grpcXds.XdsChannelCredentials(grpc.credentials.createInsecure()), {
      'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': bootstrap,
      ...options,
    });
    cleanup.push(() => client.close());
    return client;
  };
  const client = open({});
  return { cp, backendPort, webPort, backendAgent, webAgent, client, freshClient: () => open({ 'grpc.use_local_subchannel_pool': 1 }) };
}

/** Calls until `done` holds, every 5th call on a fresh connection; returns the failures and the number of calls. */
async function callUntil(peers: RunningPeers, what: string, done: () => boolean, timeoutMs: number): Promise<{ failures: string[]; calls: number }> {
  const failures: string[] = [];
  let calls = 0;
  await waitFor(
    what,
    async () => {
      const fresh = calls % 5 === 4 ? peers.freshClient() : undefined;
      try {
        const reply = await callWho(fresh ?? peers.client, 5000);
        if (reply.peerUris[0] !== 'spiffe://default/web') failures.push(`unexpected peer ${reply.peerUris.join(',')}`);
      } catch (err) {
        failures.push(`${fresh ? 'fresh connection' : 'call'}: ${(err as Error).message}`);
      } finally {
        fresh?.close();
      }
      calls++;
      return done();
    },
    { timeoutMs, intervalMs: 25 },
  );
  return { failures, calls };
}

describe('meshcp agent with proxyless gRPC peers', () => {
  it('keeps calls flowing over mTLS while the agents rotate both certificates', async () => {
    // given: a STRICT mesh, and an agent per workload keeping its certificate files
    // 10 s: rotation at about 8 s leaves 2 s for the agent to write the files and gRPC's
    // file_watcher (1 s refresh) to load them before the old certificate expires, even on a
    // loaded machine; with 5 s the margin was 1 s and a fresh handshake could meet an expired one.
    const peers = await startPeers({ expiration: '10s' });
    const { backendAgent, webAgent, cp } = peers;
    const backendSerials = new Set([backendAgent.serial()]);
    const webSerials = new Set([webAgent.serial()]);
    const first = await waitFor('a call admitted over mTLS', () => callWho(peers.client), { timeoutMs: 30_000 });
    expect(first.peerUris).toEqual(['spiffe://default/web']);

    // when: calls keep flowing through at least three rotations of both certificates, and a while after
    let afterRotations = 0;
    const { failures, calls } = await callUntil(
      peers,
      'three rotations of both certificates, with calls after them',
      () => {
        backendSerials.add(backendAgent.serial());
        webSerials.add(webAgent.serial());
        const rotated = backendSerials.size >= 4 && webSerials.size >= 4;
        if (rotated) afterRotations++;
        // The file_watcher providers re-read the files every second: keep calling past that.
        return rotated && afterRotations >= 60;
      },
      120_000,
    );

    // then: not one call failed, and every rotation brought a new serial (the one the server presents from cert.pem)
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(60);
    expect(backendSerials.size).toBeGreaterThanOrEqual(4);
    expect(webSerials.size).toBeGreaterThanOrEqual(4);
    expect(cp.controlPlane.identities.getStatus('default', 'backend-1')?.regenerations).toBeGreaterThanOrEqual(3);
  }, 150_000);

  it('keeps calls and new handshakes succeeding while the mesh switches from a builtin CA to a provided one with an intermediate', async () => {
    // given: a provided CA, root → intermediate, in files (chain: intermediate first)
    const caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-provided-'));
    cleanup.push(() => fs.rmSync(caDir, { recursive: true, force: true }));
    const root = await createRootCa({ commonName: 'Provided Root', validitySeconds: 86_400 * 365 });
    const intermediate = await createIntermediateCa({ issuer: root, commonName: 'Provided Intermediate', validitySeconds: 86_400 * 30 });
    const provided = { cert: path.join(caDir, 'chain.pem'), key: path.join(caDir, 'intermediate.key') };
    fs.writeFileSync(provided.cert, intermediate.chainPem);
    fs.writeFileSync(provided.key, intermediate.keyPem);
    fs.writeFileSync(path.join(caDir, 'root.pem'), root.certPem);
    const peers = await startPeers({ expiration: '1h', provided });
    const { cp, backendAgent, webAgent } = peers;
    await waitFor('a call admitted over mTLS', () => callWho(peers.client), { timeoutMs: 30_000 });
    const firstSerials = [backendAgent.serial(), webAgent.serial()];
    const roots = (name: string): number => parseCertificates(fs.readFileSync(path.join(cp.dir, name, 'ca.pem'), 'utf8')).length;

    // when: enabledBackend changes while calls flow
    await cp.writeConfig(meshYaml(peers.backendPort, peers.webPort, { enabled: 'ca-2', expiration: '1h', provided }));
    let afterSwitch = 0;
    const { failures } = await callUntil(
      peers,
      'the switch to complete, with calls after it',
      () => {
        const complete = !cp.controlPlane.identities.switching('default') && roots('backend-1') === 1 && roots('web-1') === 1;
        if (complete) afterSwitch++;
        return complete && afterSwitch >= 60;
      },
      60_000,
    );

    // then
    expect(failures).toEqual([]);
    expect(backendAgent.serial()).not.toBe(firstSerials[0]);
    expect(webAgent.serial()).not.toBe(firstSerials[1]);
    expect(cp.controlPlane.identities.getStatus('default', 'web-1')?.backend).toBe('ca-2');
    // and: both workloads' certificates chain to the provided root through its intermediate (openssl verify)
    for (const name of ['backend-1', 'web-1']) {
      const certFile = path.join(cp.dir, name, 'cert.pem');
      expect(parseCertificates(fs.readFileSync(certFile, 'utf8')).length).toBe(2);
      const result = verify(certFile, { caFile: path.join(caDir, 'root.pem'), untrusted: provided.cert });
      expect(result.stdout.trim(), result.stderr).toBe(`${certFile}: OK`);
    }
  });
});

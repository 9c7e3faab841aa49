/**
 * An Envoy sidecar and a proxyless grpc-js application in one mesh (STRICT mTLS, builtin CA),
 * calling each other both ways over mesh mTLS: the app behind Envoy calls the proxyless server
 * through its outbound listener, and the proxyless client calls the sidecar's inbound listener.
 * Each side sees the other's SPIFFE ID, and TrafficPermissions decide both directions.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent/agent.js';
import { XdsProxy } from '../../src/agent/xds-proxy.js';
import { grpcBootstrap } from '../../src/bootstrap/grpc.js';
import { callWho, echoServiceDefinition, freePort, startXdsEchoServer, WHO_PATH } from '../helpers/echo-service.js';
import { silentLogger } from '../../src/log/logger.js';
import { loadGrpcXdsWithRbac } from '../helpers/mesh-tls.js';
import { waitFor } from '../helpers/wait.js';
import type { EnvoyProcess } from './envoy-process.js';
import { printEnvoysOnFailure, Testbed } from './testbed.js';

const grpcXds = await loadGrpcXdsWithRbac();

interface XfccReply {
  readonly server: string;
  readonly peerUris: readonly string[];
  readonly xfcc?: string;
}

/** The app behind the Envoy sidecar: plaintext gRPC; it learns its caller from Envoy's x-forwarded-client-cert. */
async function startAppBehindSidecar(): Promise<{ port: number; stop: () => Promise<void> }> {
  const server = new grpc.Server();
  server.addService(echoServiceDefinition, {
    Who: (call: grpc.ServerUnaryCall<unknown, XfccReply>, callback: grpc.sendUnaryData<XfccReply>) => {
      const xfcc = call.metadata.get('x-forwarded-client-cert')[0];
      callback(null, { server: 'sidecar-app', peerUris: [], ...(xfcc !== undefined ? { xfcc: String(xfcc) } : {}) });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { port, stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())) };
}

function callXfcc(client: grpc.Client): Promise<XfccReply> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest<Record<string, never>, XfccReply>(
      WHO_PATH,
      (v) => Buffer.from(JSON.stringify(v)),
      (b) => JSON.parse(b.toString('utf8')) as XfccReply,
      {},
      new grpc.Metadata(),
      { deadline: Date.now() + 5000 },
      (err, reply) => (err || !reply ? reject(err ?? new Error('empty reply')) : resolve(reply)),
    );
  });
}

const outcome = async <T>(call: () => Promise<T>): Promise<T | number> => {
  try {
    return await call();
  } catch (err) {
    return (err as grpc.ServiceError).code;
  }
};

describe('an Envoy sidecar and a proxyless grpc-js app in one mesh', () => {
  let bed: Testbed;
  let sidecar: EnvoyProcess;
  let outbound: number;
  let proxylessClient: grpc.Client;
  let sidecarCaller: grpc.Client;
  const cleanup: Array<() => Promise<void> | void> = [];
  printEnvoysOnFailure(() => [bed]);

  const permissions = (both: boolean): string => `type: TrafficPermission
name: sidecar-to-proxyless
sources: [ { match: { kuma.io/service: sidecar } } ]
destinations: [ { match: { kuma.io/service: proxyless } } ]
${both ? `---
type: TrafficPermission
name: proxyless-to-sidecar
sources: [ { match: { kuma.io/service: proxyless } } ]
destinations: [ { match: { kuma.io/service: sidecar } } ]
` : ''}`;

  beforeAll(async () => {
    bed = await Testbed.start('interop');
    const app = await startAppBehindSidecar();
    cleanup.push(app.stop);
    const [proxylessPort, sidecarInbound] = [await freePort(), await freePort()];
    outbound = await freePort();
    await bed.apply(`type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends: [ { name: ca-1, type: builtin, mode: STRICT, conf: { caCert: { keyType: ECDSA } } } ]
---
type: Dataplane
name: proxyless
networking:
  address: 127.0.0.1
  inbound: [ { port: ${proxylessPort}, tags: { kuma.io/service: proxyless, kuma.io/protocol: grpc } } ]
---
type: Dataplane
name: sidecar
networking:
  address: 127.0.0.1
  inbound: [ { port: ${sidecarInbound}, servicePort: ${app.port}, tags: { kuma.io/service: sidecar, kuma.io/protocol: grpc } } ]
  outbound: [ { port: ${outbound}, tags: { kuma.io/service: proxyless } } ]
---
${permissions(true)}`);

    // the proxyless workload: its agent (certificates + xDS relay over TLS), an xDS server, an xDS client
    const ca = await (await fetch(`${bed.server.adminUrl}/api/xds-ca`)).text();
    const credentials = grpc.credentials.createSsl(Buffer.from(ca));
    const token = (await bed.cli(['token', 'generate', '--name', 'proxyless'])).stdout.trim();
    const certDir = path.join(bed.dir, 'proxyless');
    const agent = startAgent({ name: 'proxyless', mesh: 'default', token, certDir, xdsAddress: bed.server.xdsAddress, log: silentLogger(), credentials });
    cleanup.push(() => agent.stop());
    const relay = new XdsProxy({ listenAddress: '127.0.0.1:0', upstreamAddress: bed.server.xdsAddress, credentials, token, mesh: 'default', log: silentLogger() });
    const relayAddress = `127.0.0.1:${await relay.listen()}`;
    cleanup.push(() => relay.close());
    await agent.ready;
    expect(fs.existsSync(path.join(certDir, 'cert.pem'))).toBe(true);
    const bootstrap = grpcBootstrap({ name: 'proxyless', mesh: 'default', xdsAddress: relayAddress, certDir });
    const server = await startXdsEchoServer('proxyless', proxylessPort, bootstrap, new grpcXds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()));
    cleanup.push(server.stop);
    proxylessClient = new grpc.Client('xds:///sidecar', new grpcXds.XdsChannelCredentials(grpc.credentials.createInsecure()), {
      'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrap),
    });
    cleanup.push(() => proxylessClient.close());

    // the Envoy sidecar, and its app's plaintext channel to the sidecar's outbound listener
    sidecar = await bed.readyEnvoy('sidecar');
    sidecarCaller = new grpc.Client(`127.0.0.1:${outbound}`, grpc.credentials.createInsecure());
    cleanup.push(() => sidecarCaller.close());
  });

  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn();
    await bed?.stop();
  });

  it('the app behind Envoy calls the proxyless server, which sees the sidecar\'s SPIFFE ID', async () => {
    const reply = await waitFor('a call through the sidecar', async () => {
      const r = await outcome(() => callWho(sidecarCaller));
      return typeof r === 'number' ? undefined : r;
    });
    expect(reply).toEqual({ server: 'proxyless', peerUris: ['spiffe://default/sidecar'] });
  });

  it('the proxyless client calls the app behind Envoy, which learns the caller\'s SPIFFE ID from Envoy', async () => {
    const reply = await waitFor('a proxyless call to the sidecar', async () => {
      const r = await outcome(() => callXfcc(proxylessClient));
      return typeof r === 'number' ? undefined : r;
    });
    expect(reply.server).toBe('sidecar-app');
    expect(reply.xfcc).toContain('URI=spiffe://default/proxyless');
  });

  it('a permission deleted denies that direction only: Envoy\'s RBAC refuses the proxyless caller, the other way still works', async () => {
    // when the permission for proxyless → sidecar goes
    const ldsBefore = await sidecar.stat('listener_manager.lds.update_success');
    expect((await bed.cli(['delete', 'trafficpermission', 'proxyless-to-sidecar'])).code).toBe(0);
    await sidecar.waitStat('listener_manager.lds.update_success', (v) => v > ldsBefore);
    // then the proxyless client is refused (Envoy answers 403, which gRPC reports as PERMISSION_DENIED)
    const denied = await waitFor('the proxyless call to be denied', async () => {
      const r = await outcome(() => callXfcc(proxylessClient));
      return r === grpc.status.PERMISSION_DENIED ? r : undefined;
    });
    expect(denied).toBe(grpc.status.PERMISSION_DENIED);
    // and the sidecar still reaches the proxyless server
    expect(await callWho(sidecarCaller)).toEqual({ server: 'proxyless', peerUris: ['spiffe://default/sidecar'] });
    expect(await sidecar.stat('listener_manager.lds.update_rejected')).toBe(0);
  });
});

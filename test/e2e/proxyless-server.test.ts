/**
 * Real peers: an xDS-enabled gRPC server (grpc-js-xds XdsServer) gets its server Listener from
 * meshcp via `server_listener_resource_name_template`, and a grpc-js-xds client reaches it
 * through `xds:///backend`.
 */
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { afterEach, describe, expect, it } from 'vitest';
import { grpcBootstrap } from '../../src/bootstrap/grpc.js';
import { grpcServerListenerName } from '../../src/envoy/names.js';
import { LISTENER_TYPE } from '../../src/snapshot/types.js';
import { callWho, freePort, startXdsEchoServer } from '../helpers/echo-service.js';
import { startControlPlane } from '../helpers/control-plane.js';
import { waitFor } from '../helpers/wait.js';

grpcXds.register();

const yaml = (backendPort: number): string => `type: Mesh
name: default
---
type: Dataplane
mesh: default
name: backend-1
networking:
  address: 127.0.0.1
  inbound:
  - port: ${backendPort}
    tags: { kuma.io/service: backend, kuma.io/protocol: grpc }
`;

describe('xDS-enabled gRPC server through meshcp (real grpc-js-xds peers)', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanup.reverse()) await fn();
    cleanup.length = 0;
  });

  it('serves once meshcp sends its server Listener, and a proxyless client reaches it', async () => {
    // given: meshcp with a Dataplane for the server's port
    const port = await freePort();
    const cp = await startControlPlane(yaml(port));
    cleanup.push(cp.stop);

    // when: the xDS server starts with a bootstrap naming it backend-1
    const server = await startXdsEchoServer('backend-1', port, grpcBootstrap({ name: 'backend-1', mesh: 'default', xdsAddress: cp.address }));
    cleanup.push(server.stop);

    // then: it asked for and ACKed exactly the Listener named by the template
    const lds = await waitFor('the server Listener ACKed', () => {
      const t = cp.controlPlane.status.get('backend-1')?.types.get(LISTENER_TYPE);
      return t?.lastAckedVersion !== undefined && t.lastAckedVersion === t.lastSentVersion ? t : undefined;
    });
    expect(lds.lastSentNames).toEqual([grpcServerListenerName('127.0.0.1', port)]);
    expect(lds.nackCount).toBe(0);

    // and: a proxyless client resolving xds:///backend is answered by that server
    const client = new grpc.Client('xds:///backend', grpc.credentials.createInsecure(), {
      'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(grpcBootstrap({ name: 'web', mesh: 'default', xdsAddress: cp.address })),
    });
    cleanup.push(() => client.close());
    let reply: Awaited<ReturnType<typeof callWho>> | undefined;
    await waitFor('a call answered by backend-1', async () => {
      reply = await callWho(client);
      return true;
    });
    expect(reply?.server).toBe('backend-1');
    expect(server.calls()).toBeGreaterThan(0);
  });
});

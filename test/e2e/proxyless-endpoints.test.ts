/**
 * Real peer: a @grpc/grpc-js-xds client resolves xds:///backend through meshcp and calls real
 * gRPC servers on 127.0.0.1. Endpoints are added and removed in the watched file while calls
 * flow; no call may fail.
 */
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { afterEach, describe, expect, it } from 'vitest';
import { grpcBootstrap } from '../../src/bootstrap/grpc.js';
import { demoDataplanes } from '../../src/demo/config.js';
import { callWho, startEchoServer } from '../helpers/echo-service.js';
import { startControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { waitFor } from '../helpers/wait.js';

grpcXds.register();

/** The demo's Dataplanes in a mesh without mTLS: web plus one backend Dataplane per port (named after its port). */
function meshYaml(backendPorts: number[]): string {
  return `type: Mesh\nname: default\n---\n${demoDataplanes(backendPorts.map((port) => ({ name: `backend-${port}`, port })), 1)}`;
}

describe('proxyless gRPC client through meshcp (real grpc-js-xds peer)', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanup.reverse()) await fn();
    cleanup.length = 0;
  });

  it('follows endpoint additions and removals while calls flow, with no failed call', async () => {
    // given: two real gRPC servers, meshcp knowing only the first
    const a = await startEchoServer('A');
    const b = await startEchoServer('B');
    cleanup.push(a.stop, b.stop);
    const cp: TestControlPlane = await startControlPlane(meshYaml([a.port]));
    cleanup.push(cp.stop);
    const bootstrap = grpcBootstrap({ name: 'web', mesh: 'default', xdsAddress: cp.address });
    const client = new grpc.Client('xds:///backend', grpc.credentials.createInsecure(), {
      'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrap),
    });
    cleanup.push(() => client.close());

    // a continuous call loop, recording every answer and every failure
    const answers: string[] = [];
    const failures: string[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        try {
          answers.push((await callWho(client)).server);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    })();
    cleanup.push(async () => {
      running = false;
      await loop;
    });

    // then: traffic reaches A
    await waitFor('a call answered by A', () => answers.includes('A'));
    expect(b.calls()).toBe(0);

    // when: a second backend Dataplane is added to the watched file
    await cp.writeConfig(meshYaml([a.port, b.port]));
    // then: traffic reaches both
    await waitFor('a call answered by B', () => answers.includes('B'));

    // when: the first backend is removed
    await cp.writeConfig(meshYaml([b.port]));
    // then: traffic stops reaching A: 100 consecutive answers from B, and A's count stays still
    await waitFor('100 consecutive answers from B', () => answers.length >= 100 && answers.slice(-100).every((s) => s === 'B'));
    const aCalls = a.calls();
    const mark = answers.length;
    await waitFor('50 more calls', () => answers.length >= mark + 50);
    expect(a.calls()).toBe(aCalls);

    running = false;
    await loop;
    expect(failures).toEqual([]);
    // and the proxy's status shows the ACKed updates
    const status = cp.controlPlane.status.get('web');
    expect(status?.activeStreams).toBeGreaterThan(0);
    expect([...(status?.types.values() ?? [])].every((t) => t.nackCount === 0)).toBe(true);
  });
});

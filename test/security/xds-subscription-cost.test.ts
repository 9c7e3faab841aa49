/**
 * One proxy must not be able to freeze the control plane. Before: per-name state copied whole maps
 * once per dropped name, so a stream that subscribed 20,000 unknown EDS names and then sent `[]`
 * held the event loop for 73 s (every other proxy waited); 200k EDS names turned a 7 MiB request
 * into a 21.7 MB response. Now a subscription change costs the names it changes (counted by the
 * server: maps copied, names scanned, names released), names per stream and streams per proxy are
 * capped, and unknown EDS names get at most MAX_ABSENT_ANSWERS empty answers.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ABSENT_ANSWERS } from '../../src/xds/limits.js';
import { ENDPOINT_TYPE, LISTENER_TYPE } from '../../src/snapshot/types.js';
import type { FakeEnvoy } from '../helpers/fake-envoy.js';
import { waitFor } from '../helpers/wait.js';
import { TWO_MESHES, startTestServer, type TestServer } from './xds-harness.js';

const unknownNames = (count: number, prefix: string): string[] => Array.from({ length: count }, (_, i) => `${prefix}-${i}`.padEnd(200, 'x'));

describe('what one stream can make the control plane do', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer(TWO_MESHES);
  }, 60_000);

  afterAll(async () => {
    await t.close();
  });

  const counters = (): { namesReleased: number; holdingCopies: number; namesScanned: number } => ({ ...t.server.controlPlane.xds.counters });
  const proxy = (mesh: string, mode: 'sotw' | 'delta' = 'sotw'): FakeEnvoy => t.client({ mode, node: { id: 'web-01', metadata: { mesh, token: t.token('web-01', mesh) } } });

  it('answers 10,000 unknown EDS names with a bounded response, and drops them for one copy of the holding', async () => {
    // given: web-01 subscribes to 10,000 unknown EDS names of 200 characters (2 MB of request)
    const attacker = proxy('default');
    attacker.subscribe(ENDPOINT_TYPE, unknownNames(10_000, 'ghost'));
    const answer = await attacker.nextOf(ENDPOINT_TYPE, 20_000);
    // then: only MAX_ABSENT_ANSWERS of them get an (empty) answer
    expect(answer.resources.length).toBeLessThanOrEqual(MAX_ABSENT_ANSWERS);
    attacker.ack(answer);
    const before = counters();
    // when: it drops them all
    attacker.send({ typeUrl: ENDPOINT_TYPE, names: [], nonce: answer.nonce });
    const emptied = await attacker.nextOf(ENDPOINT_TYPE, 20_000);
    // then: the change cost one copy of what it held, not one per name
    expect(emptied.resources).toEqual([]);
    const after = counters();
    expect(after.holdingCopies - before.holdingCopies).toBeLessThanOrEqual(2);
    expect(after.namesReleased - before.namesReleased).toBeGreaterThanOrEqual(answer.resources.length);
    // and: another proxy is served
    const other = proxy('other');
    other.send({ typeUrl: LISTENER_TYPE, names: [] });
    expect((await other.nextOf(LISTENER_TYPE, 20_000)).typeUrl).toBe(LISTENER_TYPE);
    t.closeClients();
  }, 60_000);

  it('narrows a Delta subscription of 10,000 names without a pass over everything it holds', async () => {
    // given: 10,000 unknown EDS names subscribed on a Delta stream, reported absent
    const client = proxy('default', 'delta');
    const names = unknownNames(10_000, 'delta');
    client.send({ typeUrl: ENDPOINT_TYPE, subscribe: names });
    const first = await client.nextOf(ENDPOINT_TYPE, 20_000);
    expect(first.removed).toHaveLength(10_000);
    client.ack(first);
    const before = counters();
    // when: 5,000 are dropped 100 at a time, then the other 5,000 at once
    for (let i = 0; i < 50; i++) client.send({ typeUrl: ENDPOINT_TYPE, unsubscribe: names.slice(i * 100, (i + 1) * 100) });
    client.send({ typeUrl: ENDPOINT_TYPE, unsubscribe: names.slice(5_000) });
    await client.barrier(ENDPOINT_TYPE, 20_000);
    // then: each request cost the names it carried
    const after = counters();
    expect(after.namesReleased - before.namesReleased).toBe(10_000);
    expect(after.namesScanned - before.namesScanned).toBe(0);
    expect(after.holdingCopies - before.holdingCopies).toBe(0);
    t.closeClients();
  }, 60_000);

  it('closes a stream that subscribes to more than 10,000 names of a type', async () => {
    // given
    const sotw = proxy('default');
    const delta = proxy('default', 'delta');
    // when: SotW in one request; Delta in two
    sotw.subscribe(ENDPOINT_TYPE, unknownNames(10_001, 'many'));
    delta.send({ typeUrl: ENDPOINT_TYPE, subscribe: unknownNames(6_000, 'a') });
    delta.send({ typeUrl: ENDPOINT_TYPE, subscribe: unknownNames(6_000, 'b') });
    // then
    for (const client of [sotw, delta]) {
      const status = await client.closed(20_000);
      expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(status.details).toContain('at most 10000 per type');
    }
    t.closeClients();
  }, 60_000);

  it('closes a stream that asks for a resource name over 1024 characters', async () => {
    const client = proxy('default');
    client.subscribe(ENDPOINT_TYPE, ['x'.repeat(1025)]);
    const status = await client.closed(20_000);
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toContain('1025 characters long');
    t.closeClients();
  });

  it('lets one proxy hold 32 streams, and refuses the 33rd until one ends', async () => {
    // given: 32 streams of web-01, each served
    const streams: FakeEnvoy[] = [];
    for (let i = 0; i < 32; i++) {
      const client = proxy('other');
      client.send({ typeUrl: LISTENER_TYPE, names: [] });
      await client.nextOf(LISTENER_TYPE, 20_000);
      streams.push(client);
    }
    // when
    const extra = proxy('other');
    extra.send({ typeUrl: LISTENER_TYPE, names: [] });
    // then
    const status = await extra.closed(20_000);
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toContain('at most 32');
    expect(t.server.controlPlane.status.get('web-01', 'other')?.activeStreams).toBe(32);
    // and: once one ends, a new one is served
    streams[0]!.close();
    await waitFor('the server to see the stream end', () => t.server.controlPlane.status.get('web-01', 'other')?.activeStreams === 31);
    const replacement = proxy('other');
    replacement.send({ typeUrl: LISTENER_TYPE, names: [] });
    expect((await replacement.nextOf(LISTENER_TYPE, 20_000)).typeUrl).toBe(LISTENER_TYPE);
    t.closeClients();
  }, 60_000);
});

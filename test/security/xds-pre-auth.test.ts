/**
 * What a caller that has not authenticated can make the xDS port do (limits.ts). Before: unlimited
 * streams per connection (60,000 idle streams on one connection cost about 480 MiB), no deadline
 * for a stream's first request, and 16 MiB messages decoded whole before the token was checked
 * (20 bad-token 7.6 MiB requests took RSS from 129 to 577 MiB). Each attack runs against
 * `meshcp serve`; sizes are read from the server's counters, not from clocks.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { protoCodec } from '../../src/xds/codec.js';
import { jsonToStruct } from '../../src/xds/struct.js';
import { CLUSTER_TYPE, LISTENER_TYPE } from '../../src/snapshot/types.js';
import { waitFor } from '../helpers/wait.js';
import { TWO_MESHES, logLinesSince, startTestServer, type TestServer } from './xds-harness.js';
import { ADS_SOTW, RawConnection, type RawStream } from './xds-raw-client.js';

const MIB = 1024 * 1024;
const sotwRequest = protoCodec('envoy.service.discovery.v3.DiscoveryRequest');

function request(node: { id: string; metadata?: Record<string, string> } | undefined, names: readonly string[] = []): Buffer {
  return sotwRequest.serialize({
    ...(node ? { node: { id: node.id, cluster: 'test', metadata: jsonToStruct(node.metadata ?? {}) } } : {}),
    type_url: CLUSTER_TYPE,
    resource_names: [...names],
  });
}

/** About `bytes` of resource names. */
function namesOf(bytes: number): string[] {
  return Array.from({ length: Math.floor(bytes / 102) }, (_, i) => `name-${i}`.padEnd(100, 'x'));
}

describe('before a stream has authenticated', () => {
  let t: TestServer;
  const connections: RawConnection[] = [];
  const connect = (): RawConnection => {
    const c = new RawConnection(t.server.xdsAddress);
    connections.push(c);
    return c;
  };

  beforeAll(async () => {
    t = await startTestServer(TWO_MESHES);
  }, 60_000);

  afterAll(async () => {
    for (const c of connections) c.destroy();
    await t.close();
  });

  const xds = (): TestServer['server']['controlPlane']['xds'] => t.server.controlPlane.xds;

  it('decodes only the node of 20 bad-token requests of 3.5 MiB, and refuses each with one log line', async () => {
    // given
    const decodedBefore = xds().stats.decodedRequests;
    const logFrom = t.logs.text().length;
    const body = request({ id: 'web-01', metadata: { mesh: 'default', token: 'not.a.token' } }, namesOf(3.5 * MIB));
    expect(body.length).toBeGreaterThan(3.4 * MIB);
    // when
    const connection = connect();
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () => {
        const stream = connection.open(ADS_SOTW);
        stream.send(body);
        return stream.closed();
      }),
    );
    // then: refused, with nothing but the node decoded, and one line each
    expect(statuses.map((s) => s.code)).toEqual(Array.from({ length: 20 }, () => grpc.status.UNAUTHENTICATED));
    expect(xds().stats.decodedRequests).toBe(decodedBefore);
    const lines = logLinesSince(t.logs, logFrom).filter((l) => Number(l['level']) >= 40);
    expect(lines).toHaveLength(20);
    expect(lines.every((l) => l.msg.startsWith('refused an xDS stream'))).toBe(true);
    expect(t.server.controlPlane.status.size).toBe(0);
  }, 60_000);

  it('refuses a node over 256 KiB as INVALID_ARGUMENT before decoding it, with one short log line', async () => {
    // given
    const logFrom = t.logs.text().length;
    const stream = connect().open(ADS_SOTW);
    // when: a 1 MiB node.id
    stream.send(request({ id: 'x'.repeat(MIB), metadata: { mesh: 'default' } }));
    const status = await stream.closed();
    // then
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toContain('node is over 262144 bytes');
    const lines = logLinesSince(t.logs, logFrom).filter((l) => Number(l['level']) >= 40);
    expect(lines).toHaveLength(1);
    expect(JSON.stringify(lines[0]).length).toBeLessThan(500);
  });

  it('refuses a message over 4 MiB on its length prefix (RESOURCE_EXHAUSTED), and keeps serving', async () => {
    // given
    const stream = connect().open(ADS_SOTW);
    // when: a 5 MiB message is announced and sent
    stream.send(request({ id: 'web-01', metadata: { mesh: 'default' } }, namesOf(5 * MIB)));
    // then
    expect((await stream.closed()).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const healthy = connect().open('/grpc.health.v1.Health/Check');
    healthy.send(Buffer.alloc(0));
    healthy.end();
    expect((await healthy.closed()).code).toBe(grpc.status.OK);
  });

  it('lets one connection hold at most 100 streams at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS)', async () => {
    // given
    const connection = connect();
    // when: 250 streams are opened and none sends a request
    const streams: RawStream[] = Array.from({ length: 250 }, () => connection.open(ADS_SOTW));
    await waitFor('the server to take the streams it allows', () => xds().sizes.streams >= 100, { timeoutMs: 20_000 });
    // and: one more stream opened on a connection of its own is served, so the server is not just slow
    const other = connect().open(ADS_SOTW);
    await waitFor('the other connection served', () => xds().sizes.streams === 101, { timeoutMs: 20_000 });
    // then: the first connection never has more than 100 of its streams open on the server (the
    // client holds the rest back, as SETTINGS_MAX_CONCURRENT_STREAMS asks; the server refuses any over)
    expect(xds().sizes.streams).toBe(101);
    expect(streams.filter((s) => s.isClosed)).toHaveLength(0);
    other.cancel();
    connection.destroy();
    await waitFor('the streams released', () => xds().sizes.streams === 0, { timeoutMs: 20_000 });
  }, 60_000);
});

describe('connection and stream deadlines', () => {
  let t: TestServer;
  const connections: RawConnection[] = [];

  beforeAll(async () => {
    // Short deadlines so the test waits on the server's own events, not on minutes.
    t = await startTestServer(TWO_MESHES, 'token', {
      xdsLimits: { firstRequestTimeoutMs: 300, connectionIdleMs: 500, maxConnectionAgeMs: 1_500, maxConnectionAgeGraceMs: 300 },
    });
  }, 60_000);

  afterAll(async () => {
    for (const c of connections) c.destroy();
    await t.close();
  });

  it('closes 50 streams that never send a request (DEADLINE_EXCEEDED), one log line each, nothing kept', async () => {
    // given
    const logFrom = t.logs.text().length;
    const connection = new RawConnection(t.server.xdsAddress);
    connections.push(connection);
    // when
    const streams = Array.from({ length: 50 }, () => connection.open(ADS_SOTW));
    const statuses = await Promise.all(streams.map((s) => s.closed()));
    // then
    expect(statuses.map((s) => s.code)).toEqual(Array.from({ length: 50 }, () => grpc.status.DEADLINE_EXCEEDED));
    expect(logLinesSince(t.logs, logFrom).filter((l) => l.msg.startsWith('refused an xDS stream: no request within'))).toHaveLength(50);
    await waitFor('the streams released', () => t.server.controlPlane.xds.sizes.streams === 0);
    expect(t.server.controlPlane.status.size).toBe(0);
  });

  it('closes a connection that holds no stream (idle)', async () => {
    // given / when: a connection that opens nothing
    const connection = new RawConnection(t.server.xdsAddress);
    connections.push(connection);
    // then: the server sends a GOAWAY and closes it
    await connection.closed();
    expect(connection.receivedGoaway).toBe(true);
  });

  it('asks an authenticated proxy to reconnect once its connection is old, and lets it', async () => {
    // given: web-01, connected and served
    const client = t.client({ mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'default', token: t.token('web-01', 'default') } } });
    client.send({ typeUrl: LISTENER_TYPE, names: [] });
    await client.nextOf(LISTENER_TYPE, 20_000);
    // when: its connection passes the age limit and the grace
    const status = await client.closed(20_000);
    // then: the stream ended as a transport would (UNAVAILABLE); a new stream is served
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    const again = t.client({ mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'default', token: t.token('web-01', 'default') } } });
    again.send({ typeUrl: LISTENER_TYPE, names: [] });
    expect((await again.nextOf(LISTENER_TYPE, 20_000)).typeUrl).toBe(LISTENER_TYPE);
    t.closeClients();
  }, 60_000);
});

describe('memory per connection', () => {
  let t: TestServer;

  beforeAll(async () => {
    // Streams per connection lifted, so the HTTP/2 memory limit is the one that acts.
    t = await startTestServer(TWO_MESHES, 'token', { xdsLimits: { maxStreamsPerConnection: 100_000, maxSessionMemoryMiB: 1 } });
  }, 60_000);

  afterAll(async () => {
    await t.close();
  });

  it('refuses the streams of a connection past its HTTP/2 memory, then the connection', async () => {
    // given
    const connection = new RawConnection(t.server.xdsAddress);
    // when: 5,000 idle streams on it
    const streams = Array.from({ length: 5_000 }, () => connection.open(ADS_SOTW));
    await waitFor('refusals', () => streams.some((s) => s.isClosed), { timeoutMs: 20_000 });
    await waitFor('the connection refused', () => connection.isClosed || streams.every((s) => s.isClosed), { timeoutMs: 20_000 });
    // then: streams were refused with ENHANCE_YOUR_CALM (Node then closes a connection that had 100 refused)
    const refused = await Promise.all(streams.filter((s) => s.isClosed).map((s) => s.closed()));
    expect(refused.filter((s) => s.rstCode === 11).length).toBeGreaterThan(0);
    expect(t.server.controlPlane.xds.sizes.streams).toBeLessThan(5_000);
    connection.destroy();
    await waitFor('the streams released', () => t.server.controlPlane.xds.sizes.streams === 0, { timeoutMs: 20_000 });
  }, 60_000);
});

/**
 * A client that stops reading must not make the server queue responses. Before: a SotW request
 * with an empty nonce forced a new full response without an ACK, so a client that kept sending it
 * and never read piled up responses (1,089 queued in a probe). Now at most one response per type
 * awaits its ACK on a stream, whatever the client sends, and writes honour grpc-js backpressure
 * (writer.ts, test/xds/writer.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER_TYPE, ENDPOINT_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { protoCodec } from '../../src/xds/codec.js';
import { jsonToStruct } from '../../src/xds/struct.js';
import { waitFor } from '../helpers/wait.js';
import { TWO_MESHES, startTestServer, type TestServer } from './xds-harness.js';
import { ADS_SOTW, RawConnection } from './xds-raw-client.js';

const sotwRequest = protoCodec('envoy.service.discovery.v3.DiscoveryRequest');

describe('responses a client that does not ACK can make the server send', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer(TWO_MESHES);
  }, 60_000);

  afterAll(async () => {
    await t.close();
  });

  const sent = (typeUrl: string): number => t.server.controlPlane.status.get('web-01', 'default')?.types.get(typeUrl)?.totalUpdates ?? 0;

  it('answers 500 SotW requests with an empty nonce and no ACK with one response', async () => {
    // given
    const client = t.client({ mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'default', token: t.token('web-01', 'default') } } });
    // when: the same request, nonce empty, 500 times, never ACKing
    for (let i = 0; i < 500; i++) client.send({ typeUrl: CLUSTER_TYPE, names: [], nonce: '' });
    // then: the server answered once: the barrier's answer is the next response after the first
    // (the server handles a stream's requests in order, so an answer to any of the 500 would come first)
    await client.nextOf(CLUSTER_TYPE, 20_000);
    await client.barrier(SECRET_TYPE, 20_000);
    expect(client.received.filter((r) => r.typeUrl === CLUSTER_TYPE)).toHaveLength(1);
    expect(sent(CLUSTER_TYPE)).toBe(1);
    t.closeClients();
  }, 60_000);

  it('sends a client that never reads at most one response per type', async () => {
    // given: a raw client whose stream window (1 KiB) is never consumed, asking for five types
    const connection = new RawConnection(t.server.xdsAddress, 1024);
    const stream = connection.open(ADS_SOTW, { read: false });
    const node = { id: 'web-01', cluster: 'test', metadata: jsonToStruct({ mesh: 'default', token: t.token('web-01', 'default') }) };
    const types = [CLUSTER_TYPE, ENDPOINT_TYPE, SECRET_TYPE];
    const sentOf = (): number[] => types.map((type) => t.server.controlPlane.status.sentPerType.get(type) ?? 0);
    const before = sentOf();
    const decodedBefore = t.server.controlPlane.xds.stats.decodedRequests;
    stream.send(sotwRequest.serialize({ node, type_url: CLUSTER_TYPE }));
    // when: 600 more requests with empty nonces, for three types
    for (let i = 0; i < 200; i++) {
      for (const typeUrl of types) stream.send(sotwRequest.serialize({ type_url: typeUrl, resource_names: typeUrl === CLUSTER_TYPE ? [] : [`n-${i}`] }));
    }
    await waitFor('the requests handled', () => t.server.controlPlane.xds.stats.decodedRequests >= decodedBefore + 601, { timeoutMs: 20_000 });
    // The config goes out in one pass once the proxy's certificate is issued: then every type has had its response.
    await waitFor('the config sent', () => sentOf().every((n, i) => n > before[i]!), { timeoutMs: 20_000 });
    // then: one response per type was sent, none more
    expect(sentOf().map((n, i) => n - before[i]!)).toEqual([1, 1, 1]);
    connection.destroy();
  }, 60_000);
});

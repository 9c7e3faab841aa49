/**
 * What the agent's xDS relay sends the next replica when it resumes an app's SotW stream
 * (src/agent/relayed-stream.ts; issue #12): scripted ADS servers stand in for the replicas, so
 * every request that reaches them is recorded exactly. Replica A is cut off at the TCP level (its
 * sockets destroyed, as a SIGKILL does), which the relay sees as UNAVAILABLE.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { XdsProxy } from '../../src/agent/xds-proxy.js';
import { lookupType } from '../../src/protos/load.js';
import { structToJson } from '../../src/xds/struct.js';
import { CLUSTER_TYPE, LISTENER_TYPE } from '../../src/snapshot/types.js';
import { startTcpGate, type TcpGate } from '../helpers/etcd.js';
import { FakeEnvoy } from '../helpers/fake-envoy.js';
import { bufferLogger } from '../helpers/log-buffer.js';
import { waitFor } from '../helpers/wait.js';

const ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const requestType = lookupType('envoy.service.discovery.v3.DiscoveryRequest');
const responseType = lookupType('envoy.service.discovery.v3.DiscoveryResponse');
const identity = (b: Buffer): Buffer => b;

interface Recorded {
  typeUrl: string;
  names: string[];
  version: string;
  nonce: string;
  nodeId?: string;
  token?: unknown;
  nack: boolean;
}

/** An ADS server that records every request and answers the types `answers` lists, with its own nonces. */
async function scriptedReplica(name: string, answers: readonly string[]): Promise<{ address: string; requests: Recorded[]; server: grpc.Server }> {
  const requests: Recorded[] = [];
  let nonces = 0;
  const server = new grpc.Server();
  server.addService(
    { StreamAggregatedResources: { path: ADS_PATH, requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } },
    {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.on('data', (bytes: Buffer) => {
          const r = requestType.toObject(requestType.decode(bytes), { defaults: true }) as { type_url: string; resource_names: string[]; version_info: string; response_nonce: string; node?: { id: string; metadata?: unknown }; error_detail?: unknown };
          requests.push({
            typeUrl: r.type_url,
            names: r.resource_names,
            version: r.version_info,
            nonce: r.response_nonce,
            ...(r.node ? { nodeId: r.node.id, token: structToJson(r.node.metadata)['token'] } : {}),
            nack: r.error_detail != null,
          });
          if (!answers.includes(r.type_url)) return;
          // Answered only when it is a fresh subscription, as a server does (not an ACK of its own nonce).
          if (r.response_nonce.startsWith(`${name}-`)) return;
          call.write(Buffer.from(responseType.encode(responseType.fromObject({ type_url: r.type_url, version_info: 'v1', nonce: `${name}-${++nonces}`, resources: [] })).finish()));
        });
        call.on('end', () => call.end());
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { address: `127.0.0.1:${port}`, requests, server };
}

describe('the relay resuming an app\'s SotW stream on the next replica', () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('re-sends each type\'s last request (node and token on the first, empty nonce, no NACK), and blanks a nonce the new replica never issued', async () => {
    // given: replica A behind a TCP gate (to cut it as a kill does), replica B answering CDS only
    const a = await scriptedReplica('a', [LISTENER_TYPE, CLUSTER_TYPE]);
    const b = await scriptedReplica('b', [CLUSTER_TYPE]);
    cleanup.push(() => a.server.forceShutdown(), () => b.server.forceShutdown());
    const gate: TcpGate = await startTcpGate(a.address);
    cleanup.push(() => gate.close());
    const relay = new XdsProxy({ listenAddress: '127.0.0.1:0', upstreamAddress: [gate.endpoint, b.address], credentials: grpc.credentials.createInsecure(), token: 'the-token', mesh: 'default', log: bufferLogger().log, reconnect: { initialMs: 50, maxMs: 200 } });
    const relayAddress = `127.0.0.1:${await relay.listen()}`;
    cleanup.push(() => relay.close());
    const app = new FakeEnvoy({ address: relayAddress, mode: 'sotw', node: { id: 'web', metadata: { mesh: 'default' } } });
    cleanup.push(() => app.close());
    // and: the app on A, as grpc-js-xds talks (node on its first request only): LDS ACKed, CDS NACKed
    app.send({ typeUrl: LISTENER_TYPE, names: ['l1'] });
    const listeners = await app.nextOf(LISTENER_TYPE);
    app.send({ typeUrl: LISTENER_TYPE, names: ['l1'], version: 'v1', nonce: listeners.nonce, node: null });
    app.send({ typeUrl: CLUSTER_TYPE, names: [], node: null });
    const clusters = await app.nextOf(CLUSTER_TYPE);
    app.send({ typeUrl: CLUSTER_TYPE, names: [], version: '', nonce: clusters.nonce, errorDetail: 'refused', node: null });
    await waitFor('A got the NACK', () => a.requests.some((r) => r.nack));

    // when: A is cut off
    await gate.cut();

    // then: B gets the app's last request per type, the node (with the agent's token) on the first, fresh nonces, no NACK
    await waitFor('the re-sent requests on B', () => b.requests.length >= 2);
    expect(b.requests.slice(0, 2)).toEqual([
      { typeUrl: LISTENER_TYPE, names: ['l1'], version: 'v1', nonce: '', nodeId: 'web', token: 'the-token', nack: false },
      { typeUrl: CLUSTER_TYPE, names: [], version: '', nonce: '', nack: false },
    ]);
    // and: B's answer reaches the app on the same stream
    const fromB = await app.nextOf(CLUSTER_TYPE);
    expect(fromB.nonce).toBe('b-1');
    expect(app.isClosed).toBe(false);

    // when: the app changes its LDS subscription with A's nonce (B has not answered LDS), then ACKs B's CDS
    app.send({ typeUrl: LISTENER_TYPE, names: ['l1', 'l2'], version: 'v1', nonce: listeners.nonce, node: null });
    app.send({ typeUrl: CLUSTER_TYPE, names: [], version: 'v1', nonce: fromB.nonce, node: null });

    // then: the first goes out as a fresh subscription, the ACK of B's own nonce unchanged
    await waitFor('the app\'s later requests on B', () => b.requests.length >= 4);
    expect(b.requests.slice(2)).toEqual([
      { typeUrl: LISTENER_TYPE, names: ['l1', 'l2'], version: 'v1', nonce: '', nack: false },
      { typeUrl: CLUSTER_TYPE, names: [], version: 'v1', nonce: 'b-1', nack: false },
    ]);
    expect(relay.currentUpstream()).toBe(b.address);
  });

  it('passes a refusal through unchanged and does not move on: every replica would refuse alike', async () => {
    // given: a replica that refuses every stream, and a second one that would serve it
    const refusing = new grpc.Server();
    refusing.addService(
      { StreamAggregatedResources: { path: ADS_PATH, requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } },
      { StreamAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => call.once('data', () => call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: 'token is for another proxy' })) },
    );
    const port = await new Promise<number>((resolve, reject) => refusing.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    const other = await scriptedReplica('b', [LISTENER_TYPE]);
    cleanup.push(() => refusing.forceShutdown(), () => other.server.forceShutdown());
    const relay = new XdsProxy({ listenAddress: '127.0.0.1:0', upstreamAddress: [`127.0.0.1:${port}`, other.address], credentials: grpc.credentials.createInsecure(), token: 't', mesh: 'default', log: bufferLogger().log });
    const relayAddress = `127.0.0.1:${await relay.listen()}`;
    cleanup.push(() => relay.close());
    const app = new FakeEnvoy({ address: relayAddress, mode: 'sotw', node: { id: 'web', metadata: {} } });
    cleanup.push(() => app.close());
    // when
    app.send({ typeUrl: LISTENER_TYPE, names: [] });
    // then
    expect(await app.closed()).toEqual({ code: grpc.status.PERMISSION_DENIED, details: 'token is for another proxy' });
    expect(other.requests).toEqual([]);
    expect(relay.currentUpstream()).toBe(`127.0.0.1:${port}`);
  });
});

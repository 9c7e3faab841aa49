/**
 * The gRPC side of the xDS server: Fetch* unary calls, gRPC health, and keepalive detecting a
 * half-open connection (a proxy that vanished without closing its socket).
 */
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { SotwSerializer, toWireResponse, toXdsRequest, XdsServer } from '../../src/xds/server.js';
import { lookupType } from '../../src/protos/load.js';
import { encodeResource } from '../../src/snapshot/encode.js';
import { jsonToStruct } from '../../src/xds/struct.js';
import { StatusRegistry } from '../../src/xds/status.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { ControlledWatcher, cluster, endpoints, listener, route, secret } from '../helpers/controlled-watcher.js';
import { FakeEnvoy, fetchResources, namesOf } from '../helpers/fake-envoy.js';
import { waitFor } from '../helpers/wait.js';

const silentLog = { info: (): void => undefined, warn: (): void => undefined };

const cleanups: (() => void | Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(options: { keepaliveTimeMs?: number; keepaliveTimeoutMs?: number } = {}): Promise<{ server: XdsServer; watcher: ControlledWatcher; status: StatusRegistry; port: number }> {
  const watcher = new ControlledWatcher();
  const status = new StatusRegistry();
  const server = new XdsServer({ watcher, status, log: silentLog, ...options });
  const port = await server.listen('127.0.0.1:0');
  cleanups.push(() => server.forceClose());
  return { server, watcher, status, port };
}

const fullConfig = {
  secrets: [secret('s1')],
  clusters: [cluster('c1'), cluster('c2')],
  endpoints: [endpoints('c1', 8001), endpoints('c2', 8002)],
  listeners: [listener('l1', 10001)],
  routes: [route('r1'), route('r2')],
};

describe('Fetch*', () => {
  it.each([
    { typeUrl: CLUSTER_TYPE, names: [], expected: ['c1', 'c2'] },
    { typeUrl: ENDPOINT_TYPE, names: ['c2', 'unknown'], expected: ['c2', 'unknown'] },
    { typeUrl: LISTENER_TYPE, names: [], expected: ['l1'] },
    { typeUrl: ROUTE_TYPE, names: ['r1'], expected: ['r1'] },
    { typeUrl: SECRET_TYPE, names: ['s1'], expected: ['s1'] },
  ])('answers a unary fetch for $typeUrl', async ({ typeUrl, names, expected }) => {
    // given a proxy with a snapshot
    const { watcher, port } = await startServer();
    const snapshot = watcher.set('fetcher', fullConfig);

    // when it fetches
    const response = await fetchResources(`127.0.0.1:${port}`, typeUrl, { node: { id: 'fetcher' }, names });

    // then it gets the resources, versioned, without a nonce
    expect(response.typeUrl).toBe(typeUrl);
    expect(namesOf(response)).toEqual(expected);
    expect(response.version).toBe(snapshot.typeVersions.get(typeUrl));
    expect(response.nonce).toBe('');
  });

  it('refuses a fetch without a node id', async () => {
    // given a server
    const { port } = await startServer();

    // when a fetch carries no node, then it fails with INVALID_ARGUMENT
    await expect(fetchResources(`127.0.0.1:${port}`, CLUSTER_TYPE, {})).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });
});

interface HealthClient extends grpc.Client {
  check(request: { service: string }, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response?: { status: string }) => void): grpc.ClientUnaryCall;
}

async function checkHealth(port: number, serviceName: string): Promise<string> {
  const Health = grpc.makeClientConstructor(healthService, 'Health');
  const client = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as HealthClient;
  try {
    return await new Promise<string>((resolve, reject) => {
      client.check({ service: serviceName }, { deadline: Date.now() + 5_000 }, (err, response) => (err ? reject(err) : resolve(response?.status ?? '')));
    });
  } finally {
    client.close();
  }
}

describe('gRPC health', () => {
  it('reports NOT_SERVING until setServing(true), then SERVING for the server and the xDS services', async () => {
    // given a server that is not ready yet
    const { server, port } = await startServer();
    expect(await checkHealth(port, '')).toBe('NOT_SERVING');

    // when it becomes ready
    server.setServing(true);

    // then every service reports SERVING
    expect(await checkHealth(port, '')).toBe('SERVING');
    expect(await checkHealth(port, 'envoy.service.discovery.v3.AggregatedDiscoveryService')).toBe('SERVING');
    expect(await checkHealth(port, 'envoy.service.cluster.v3.ClusterDiscoveryService')).toBe('SERVING');

    // when it stops serving, then health follows
    server.setServing(false);
    expect(await checkHealth(port, '')).toBe('NOT_SERVING');
  });
});

/** A TCP relay that can be frozen: it stops forwarding without closing anything (a half-open peer). */
async function startRelay(targetPort: number): Promise<{ port: number; freeze(): void; close(): Promise<void> }> {
  const sockets: net.Socket[] = [];
  const relay = net.createServer((downstream) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.push(downstream, upstream);
    downstream.pipe(upstream);
    upstream.pipe(downstream);
    // A reset on one side is expected when the server gives up on the connection.
    downstream.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    port: (relay.address() as net.AddressInfo).port,
    freeze() {
      for (const socket of sockets) {
        socket.unpipe();
        socket.pause();
      }
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    },
  };
}

describe('keepalive', () => {
  it('detects a half-open connection and releases its stream', async () => {
    // given a server with a short keepalive and a proxy connected through a relay
    const { watcher, status, port } = await startServer({ keepaliveTimeMs: 200, keepaliveTimeoutMs: 200 });
    watcher.set('vanishing', fullConfig);
    const relay = await startRelay(port);
    cleanups.push(() => relay.close());
    const envoy = new FakeEnvoy({
      address: `127.0.0.1:${relay.port}`,
      mode: 'sotw',
      node: { id: 'vanishing' },
      // Its own connection, and no client keepalive that could notice the freeze first.
      channelOptions: { 'grpc.use_local_subchannel_pool': 1, 'grpc.keepalive_time_ms': -1 },
    });
    cleanups.push(() => envoy.close());
    envoy.subscribe(CLUSTER_TYPE, []);
    envoy.ack(await envoy.nextOf(CLUSTER_TYPE));
    expect(status.get('vanishing')?.activeStreams).toBe(1);

    // when the connection goes silent without being closed
    relay.freeze();

    // then the server's keepalive notices, and the stream is released
    await waitFor('the half-open stream to be released', () => status.get('vanishing')?.activeStreams === 0, { timeoutMs: 10_000 });
    expect(status.get('vanishing')?.lastDisconnectedAt).toBeInstanceOf(Date);
  });
});

describe('wire codecs', () => {
  // A serializer per test, as each server has its own: what one caches is seen by no other.
  let wire = new SotwSerializer();
  const sotwResponseBytes = (r: Parameters<SotwSerializer['bytes']>[0]): Buffer => wire.bytes(r);
  beforeEach(() => {
    wire = new SotwSerializer();
  });

  it('serializes a SotW response from its cached resource bytes to the same message as the plain encoding', () => {
    // given a response carrying two resources
    const type = lookupType('envoy.service.discovery.v3.DiscoveryResponse');
    const resources = [encodeResource(CLUSTER_TYPE, cluster('c1')), encodeResource(CLUSTER_TYPE, cluster('c2'))];
    const response = { kind: 'sotw' as const, typeUrl: CLUSTER_TYPE, versionInfo: 'v1', nonce: 'n-1', resources };

    // when it is serialized a third time (from the resource bytes cached on the second) and with the plain encoder
    sotwResponseBytes(response);
    sotwResponseBytes({ ...response, nonce: 'n-0' });
    const fast = type.toObject(type.decode(sotwResponseBytes({ ...response, nonce: 'n-2' })), { defaults: true });
    const plain = type.toObject(type.decode(type.encode(toWireResponse({ ...response, nonce: 'n-2' })).finish()), { defaults: true });

    // then both decode to the same message
    expect(fast).toEqual(plain);
    expect(fast['resources']).toHaveLength(2);
    expect(fast['nonce']).toBe('n-2');
  });

  it('writes the nonce of every response and the version of the list it is sent with, whatever is cached for the list', () => {
    const type = lookupType('envoy.service.discovery.v3.DiscoveryResponse');
    const decode = (bytes: Buffer): Record<string, unknown> => type.toObject(type.decode(bytes), { defaults: true });
    const plain = (r: Parameters<typeof toWireResponse>[0]): Record<string, unknown> => decode(Buffer.from(type.encode(toWireResponse(r)).finish()));
    // given one resource list, serialized twice so its bytes are cached with version v1
    const resources = [encodeResource(CLUSTER_TYPE, cluster('c1'))];
    const response = { kind: 'sotw' as const, typeUrl: CLUSTER_TYPE, versionInfo: 'v1', nonce: 'n-1', resources };
    sotwResponseBytes(response);
    sotwResponseBytes(response);

    // when it is sent with another version, with an empty nonce, and with a nonce longer than 127 bytes (a two-byte length)
    const cases = [
      { ...response, versionInfo: 'v2', nonce: 'n-3' },
      { ...response, nonce: '' },
      { ...response, nonce: `${'x'.repeat(200)}é` },
      { ...response, versionInfo: '', typeUrl: ENDPOINT_TYPE, nonce: 'n-4' },
    ];
    // then each decodes to what the plain encoding of the same response decodes to
    for (const r of cases) expect(decode(sotwResponseBytes(r))).toEqual(plain(r));
    expect(decode(sotwResponseBytes(cases[2]!))['nonce']).toBe(`${'x'.repeat(200)}é`);
    expect(decode(sotwResponseBytes(response))['version_info']).toBe('v1');
  });

  it('frames a SotW response by hand to the bytes protobufjs writes for its head, nonce and resources, first time, second time and cached', () => {
    const type = lookupType('envoy.service.discovery.v3.DiscoveryResponse');
    // What SotwSerializer writes: `{ version_info, type_url }`, then `{ nonce }`, then `{ resources }`, each as protobufjs encodes it.
    const expected = (r: { typeUrl: string; versionInfo: string; nonce: string; resources: readonly ReturnType<typeof encodeResource>[] }): Buffer =>
      Buffer.concat([
        type.encode({ version_info: r.versionInfo, type_url: r.typeUrl }).finish(),
        r.nonce === '' ? Buffer.alloc(0) : type.encode({ nonce: r.nonce }).finish(),
        type.encode({ resources: r.resources.map((x) => ({ type_url: x.typeUrl, value: x.value })) }).finish(),
      ]);
    // given lists with no resource, with small ones, and with a resource past 127 and 16,383 bytes (two- and three-byte lengths)
    const big = encodeResource(CLUSTER_TYPE, { ...cluster('big'), alt_stat_name: 'é'.repeat(9000) });
    expect(big.value.byteLength).toBeGreaterThan(16_383);
    const lists = [[], [encodeResource(CLUSTER_TYPE, cluster('c1'))], [encodeResource(CLUSTER_TYPE, cluster('c1')), big, encodeResource(CLUSTER_TYPE, { ...cluster('c3'), alt_stat_name: 'x'.repeat(150) })]];
    for (const resources of lists) {
      const responses = [
        { kind: 'sotw' as const, typeUrl: CLUSTER_TYPE, versionInfo: 'v1', nonce: 'n-1', resources },
        { kind: 'sotw' as const, typeUrl: CLUSTER_TYPE, versionInfo: 'v1', nonce: '', resources },
        { kind: 'sotw' as const, typeUrl: CLUSTER_TYPE, versionInfo: `é${'v'.repeat(300)}`, nonce: 'n-2', resources },
        { kind: 'sotw' as const, typeUrl: CLUSTER_TYPE, versionInfo: '', nonce: `${'x'.repeat(200)}é`, resources },
        { kind: 'sotw' as const, typeUrl: CLUSTER_TYPE, versionInfo: 'v1', nonce: 'n-3', resources },
      ];
      // when each is serialized (the list uncached, seen once, then cached with version v1)
      // then the bytes are exactly the protobufjs encoding
      for (const r of responses) expect(sotwResponseBytes(r).equals(expected(r))).toBe(true);
    }
  });

  it('reads a request decoded without toObject, node metadata included', () => {
    // given a DiscoveryRequest as Envoy sends its first one, and one with nothing but an ACK
    const type = lookupType('envoy.service.discovery.v3.DiscoveryRequest');
    const first = type.decode(
      type
        .encode(
          type.fromObject({
            type_url: CLUSTER_TYPE,
            resource_names: ['a', 'b'],
            node: { id: 'web-01', cluster: 'c', metadata: jsonToStruct({ mesh: 'm1', flavor: 'grpc', n: 3, ok: true, list: ['x'], nested: { k: 'v' } }) },
            error_detail: { code: 3, message: 'bad config' },
          }),
        )
        .finish(),
    ) as unknown as Record<string, unknown>;
    const ack = type.decode(type.encode(type.fromObject({ type_url: CLUSTER_TYPE, response_nonce: 'n-1', version_info: 'v1' })).finish()) as unknown as Record<string, unknown>;

    // when they are read as the server reads them
    const request = toXdsRequest(first, false);
    const acked = toXdsRequest(ack, false);

    // then every field is as sent, defaults where unset
    expect(request.node).toEqual({ id: 'web-01', cluster: 'c', metadata: { mesh: 'm1', flavor: 'grpc', n: 3, ok: true, list: ['x'], nested: { k: 'v' } } });
    expect(request.resourceNames).toEqual(['a', 'b']);
    expect(request.errorDetail).toBe('bad config');
    expect(acked).toMatchObject({ node: undefined, typeUrl: CLUSTER_TYPE, versionInfo: 'v1', responseNonce: 'n-1', resourceNames: [], errorDetail: undefined });
  });
});

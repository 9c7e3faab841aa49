/**
 * xDS protocol rules, driven over real gRPC by a scripted fake Envoy (Istio
 * `pilot/pkg/xds/ads_test.go`, go-control-plane `server_test.go`). Each rule runs on ADS and
 * on the per-type EDS service, in SotW and in Delta. "Nothing was sent" is proven with a
 * barrier (see `FakeEnvoy.barrier`), never by sleeping.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { XdsServer } from '../../src/xds/server.js';
import { StatusRegistry } from '../../src/xds/status.js';
import { WatchError } from '../../src/snapshot/watcher.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { ControlledWatcher, canonical, cluster, endpoints, listener, route, secret, type TestConfig } from '../helpers/controlled-watcher.js';
import { FakeEnvoy, namesOf, type ReceivedResponse, type XdsMode } from '../helpers/fake-envoy.js';
import { waitFor } from '../helpers/wait.js';

const silentLog = { info: (): void => undefined, warn: (): void => undefined };

interface Transport {
  readonly label: string;
  readonly mode: XdsMode;
  /** The per-type service; ADS when absent. */
  readonly service?: string;
}

const TRANSPORTS: readonly Transport[] = [
  { label: 'ADS SotW', mode: 'sotw' },
  { label: 'ADS Delta', mode: 'delta' },
  { label: 'EDS SotW', mode: 'sotw', service: ENDPOINT_TYPE },
  { label: 'EDS Delta', mode: 'delta', service: ENDPOINT_TYPE },
];
const ADS_TRANSPORTS = TRANSPORTS.filter((t) => t.service === undefined);

/** Endpoints of c1 (and c2) on the given port: a different port is a different content. */
function edsConfig(port: number): TestConfig {
  return {
    clusters: [cluster('c1'), cluster('c2')],
    endpoints: [endpoints('c1', port), endpoints('c2', port + 1000)],
  };
}

function portsOf(response: ReceivedResponse, clusterName = 'c1'): number[] {
  const resource = response.resources.find((r) => r.name === clusterName);
  if (!resource) return [];
  const groups = resource.value['endpoints'] as { lb_endpoints: { endpoint: { address: { socket_address: { port_value: number } } } }[] }[];
  return groups.flatMap((g) => g.lb_endpoints.map((e) => e.endpoint.address.socket_address.port_value));
}

let watcher: ControlledWatcher;
let status: StatusRegistry;
let server: XdsServer;
let address: string;
let envoys: FakeEnvoy[];
let nodeCounter = 0;

beforeEach(async () => {
  watcher = new ControlledWatcher();
  status = new StatusRegistry();
  server = new XdsServer({ watcher, status, log: silentLog });
  address = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
  envoys = [];
});

afterEach(async () => {
  for (const envoy of envoys) envoy.close();
  server.forceClose();
});

function connect(transport: { mode: XdsMode; service?: string }, nodeId: string): FakeEnvoy {
  const envoy = new FakeEnvoy({ address, mode: transport.mode, service: transport.service, node: { id: nodeId } });
  envoys.push(envoy);
  return envoy;
}

function newNode(): string {
  return `proxy-${++nodeCounter}`;
}

function typeStatus(nodeId: string, typeUrl: string) {
  return status.get(nodeId)?.types.get(typeUrl);
}

/** Subscribes EDS c1 and returns the (un-ACKed) first answer. */
async function subscribeEds(envoy: FakeEnvoy, names: readonly string[] = ['c1']): Promise<ReceivedResponse> {
  envoy.subscribe(ENDPOINT_TYPE, names);
  return envoy.nextOf(ENDPOINT_TYPE);
}

async function ackAndWait(envoy: FakeEnvoy, response: ReceivedResponse): Promise<void> {
  envoy.ack(response);
  await waitFor('the ACK to be recorded', () => typeStatus(envoy.nodeId, response.typeUrl)?.lastAckedVersion === response.version, { timeoutMs: 5_000 });
}

describe.each(TRANSPORTS)('$label', (transport) => {
  it('records a NACK, keeps the last ACKed version, does not resend the same content, and sends a later change', async () => {
    // given a proxy that ACKed version 1 and received version 2
    const node = newNode();
    watcher.set(node, edsConfig(8001));
    const envoy = connect(transport, node);
    const first = await subscribeEds(envoy);
    await ackAndWait(envoy, first);
    watcher.set(node, edsConfig(8002));
    const second = await envoy.nextOf(ENDPOINT_TYPE);
    expect(portsOf(second)).toEqual([8002]);

    // when it NACKs version 2, and the same content is published again
    envoy.nack(second, 'endpoint rejected');
    await waitFor('the NACK to be recorded', () => typeStatus(node, ENDPOINT_TYPE)?.nackCount === 1, { timeoutMs: 5_000 });
    watcher.set(node, edsConfig(8002));

    // then the error is recorded, the ACKed version kept, and nothing is resent
    expect(typeStatus(node, ENDPOINT_TYPE)).toMatchObject({ nackCount: 1, lastError: 'endpoint rejected', lastAckedVersion: first.version });
    await envoy.barrier();

    // when the content changes
    watcher.set(node, edsConfig(8003));

    // then the change is sent
    const third = await envoy.nextOf(ENDPOINT_TYPE);
    expect(portsOf(third)).toEqual([8003]);
  });

  it('uses a nonce only once on a stream, across types and updates', async () => {
    // given a stream subscribed to every type the transport serves
    const node = newNode();
    const full = (n: number): TestConfig => ({
      secrets: [secret('s1', `ca-${n}`)],
      clusters: [cluster('c1', n)],
      endpoints: [endpoints('c1', 8000 + n)],
      listeners: [listener('l1', 10000 + n)],
      routes: [route('r1', `d${n}.example`)],
    });
    watcher.set(node, full(1));
    const envoy = connect(transport, node);
    const types = transport.service === undefined ? [SECRET_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE] : [transport.service];
    const initialNames: Record<string, string[]> = { [SECRET_TYPE]: ['s1'], [CLUSTER_TYPE]: [], [ENDPOINT_TYPE]: ['c1'], [LISTENER_TYPE]: [], [ROUTE_TYPE]: ['r1'] };
    for (const type of types) envoy.subscribe(type, initialNames[type]!);

    // when many updates flow and every response is ACKed
    const nonces: string[] = [];
    const takeAndAck = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        const response = await envoy.next();
        nonces.push(response.nonce);
        envoy.ack(response);
      }
    };
    await takeAndAck(types.length);
    for (let n = 2; n <= 6; n++) {
      await waitFor('all ACKs to be recorded', () => types.every((t) => typeStatus(node, t)?.lastAckedVersion === typeStatus(node, t)?.lastSentVersion), { timeoutMs: 5_000 });
      watcher.set(node, full(n));
      await takeAndAck(types.length);
    }

    // then no nonce repeats
    expect(nonces.length).toBe(types.length * 6);
    expect(new Set(nonces).size).toBe(nonces.length);
    expect(nonces.every((n) => n !== '')).toBe(true);
  });

  it('ignores a request carrying a stale nonce', async () => {
    // given version 1 ACKed and version 2 waiting for its ACK
    const node = newNode();
    watcher.set(node, edsConfig(8001));
    const envoy = connect(transport, node);
    const first = await subscribeEds(envoy);
    await ackAndWait(envoy, first);
    watcher.set(node, edsConfig(8002));
    const second = await envoy.nextOf(ENDPOINT_TYPE);

    // when a NACK arrives with the nonce of version 1 (SotW: also changing the subscription;
    // Delta subscription changes are not tied to a nonce, so they would apply)
    envoy.send({ typeUrl: ENDPOINT_TYPE, names: ['c1', 'stale-name'], nonce: first.nonce, errorDetail: 'stale rejection' });
    envoy.send({ typeUrl: ENDPOINT_TYPE, names: ['c1'], nonce: second.nonce, version: second.version });

    // then it is ignored: no NACK recorded, version 2 ACKed, and the next response is the barrier's
    const barrier = await envoy.barrier();
    expect(barrier.resources.map((r) => r.name)).not.toContain('stale-name');
    expect(typeStatus(node, ENDPOINT_TYPE)).toMatchObject({ nackCount: 0, lastAckedVersion: second.version });
  });

  it('answers the first request on a new stream even when it carries a version and nonce of an old stream', async () => {
    // given a proxy that ACKed a response on a stream that is now gone
    const node = newNode();
    watcher.set(node, edsConfig(8001));
    const oldStream = connect(transport, node);
    const old = await subscribeEds(oldStream);
    await ackAndWait(oldStream, old);
    oldStream.close();
    await waitFor('the old stream to close', () => status.get(node)?.activeStreams === 0, { timeoutMs: 5_000 });

    // when a new stream starts with the old version and nonce (Delta: with the versions it holds)
    const envoy = connect(transport, node);
    if (transport.mode === 'sotw') {
      envoy.send({ typeUrl: ENDPOINT_TYPE, names: ['c1'], version: old.version, nonce: old.nonce });
    } else {
      watcher.set(node, edsConfig(8002));
      envoy.send({ typeUrl: ENDPOINT_TYPE, subscribe: ['c1'], nonce: old.nonce, initialVersions: { c1: old.resources[0]!.version } });
    }

    // then it is answered (SotW: the same content again; Delta: what changed since)
    const answer = await envoy.nextOf(ENDPOINT_TYPE);
    expect(namesOf(answer)).toEqual(['c1']);
    expect(portsOf(answer)).toEqual(transport.mode === 'sotw' ? [8001] : [8002]);
    expect(answer.nonce).not.toBe(old.nonce);
  });

  it('answers every requested EDS name: an unknown one with an empty ClusterLoadAssignment (SotW) or in removed_resources (Delta)', async () => {
    // given endpoints for c1 only
    const node = newNode();
    watcher.set(node, { clusters: [cluster('c1')], endpoints: [endpoints('c1', 8001)] });
    const envoy = connect(transport, node);

    // when the proxy asks for c1 and an unknown cluster
    const answer = await subscribeEds(envoy, ['c1', 'ghost']);

    // then both are answered; Delta says "does not exist" with removed_resources rather than a
    // made-up assignment (issue #10 point 4; xDS protocol, "Knowing When a Requested Resource
    // Does Not Exist")
    expect(portsOf(answer)).toEqual([8001]);
    if (transport.mode === 'sotw') {
      expect(namesOf(answer)).toEqual(['c1', 'ghost']);
      expect(answer.resources.find((r) => r.name === 'ghost')!.value).toEqual(canonical(ENDPOINT_TYPE, { cluster_name: 'ghost' }));
    } else {
      expect(namesOf(answer)).toEqual(['c1']);
      expect(answer.removed).toEqual(['ghost']);
    }
  });

  it('resends an EDS name that is unsubscribed and then subscribed again', async () => {
    // given c1 and c2 subscribed and ACKed
    const node = newNode();
    watcher.set(node, edsConfig(8001));
    const envoy = connect(transport, node);
    const first = await subscribeEds(envoy, ['c1', 'c2']);
    expect(namesOf(first)).toEqual(['c1', 'c2']);
    await ackAndWait(envoy, first);

    // when c2 is unsubscribed (SotW answers with c1 alone; Delta needs no answer)
    envoy.unsubscribe(ENDPOINT_TYPE, ['c2']);
    if (transport.mode === 'sotw') {
      const withoutC2 = await envoy.nextOf(ENDPOINT_TYPE);
      expect(namesOf(withoutC2)).toEqual(['c1']);
      await ackAndWait(envoy, withoutC2);
    }
    // and subscribed again
    envoy.subscribe(ENDPOINT_TYPE, transport.mode === 'sotw' ? ['c1', 'c2'] : ['c2']);

    // then c2 is sent again
    const again = await envoy.nextOf(ENDPOINT_TYPE);
    expect(namesOf(again)).toEqual(transport.mode === 'sotw' ? ['c1', 'c2'] : ['c2']);
    expect(portsOf(again, 'c2')).toEqual([9001]);
  });

  it('keeps at most one unacknowledged response per type and coalesces the changes behind it', async () => {
    // given a response that is not ACKed yet
    const node = newNode();
    watcher.set(node, edsConfig(8001));
    const envoy = connect(transport, node);
    const first = await subscribeEds(envoy);
    expect(typeStatus(node, ENDPOINT_TYPE)?.totalUpdates).toBe(1);

    // when three more versions are published quickly
    watcher.set(node, edsConfig(8002));
    watcher.set(node, edsConfig(8003));
    watcher.set(node, edsConfig(8004));

    // then nothing more is sent before the ACK
    expect(typeStatus(node, ENDPOINT_TYPE)?.totalUpdates).toBe(1);
    if (transport.service === undefined) await envoy.barrier();

    // when the first response is ACKed, then the next one carries the latest content only
    envoy.ack(first);
    const next = await envoy.nextOf(ENDPOINT_TYPE);
    expect(portsOf(next)).toEqual([8004]);
    envoy.ack(next);
    await envoy.barrier();
    expect(typeStatus(node, ENDPOINT_TYPE)?.totalUpdates).toBe(transport.service === undefined ? 2 : 3);
  });

  it('closes the stream with INVALID_ARGUMENT when node.id changes', async () => {
    // given an open stream
    const node = newNode();
    watcher.set(node, edsConfig(8001));
    const envoy = connect(transport, node);
    const first = await subscribeEds(envoy);

    // when a later request carries another node id
    envoy.send({ typeUrl: ENDPOINT_TYPE, names: ['c1'], nonce: first.nonce, version: first.version, node: { id: 'someone-else' } });

    // then the stream is closed and the proxy counted as disconnected
    const final = await envoy.closed();
    expect(final.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(final.details).toContain('node.id');
    await waitFor('the stream to be released', () => status.get(node)?.activeStreams === 0, { timeoutMs: 5_000 });
  });

  it.each([
    { what: 'an empty node.id', node: { id: '' } },
    { what: 'no node', node: null },
  ])('closes the stream with INVALID_ARGUMENT when the first request has $what', async ({ node }) => {
    // given a server with config for everyone
    const envoy = connect(transport, 'unused');

    // when the first request has no usable node id
    envoy.send({ typeUrl: ENDPOINT_TYPE, names: ['c1'], subscribe: ['c1'], node });

    // then the stream is closed without an answer
    const final = await envoy.closed();
    expect(final.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(envoy.received).toEqual([]);
  });

  it('closes the stream with the watcher error code when the proxy is refused', async () => {
    // given a watcher that refuses the node
    const node = newNode();
    watcher.refuse(node, new WatchError(grpc.status.PERMISSION_DENIED, 'unknown proxy'));
    const envoy = connect(transport, node);

    // when it subscribes
    envoy.subscribe(ENDPOINT_TYPE, ['c1']);

    // then the stream is closed with the refusal
    expect(await envoy.closed()).toEqual({ code: grpc.status.PERMISSION_DENIED, details: 'unknown proxy' });
  });

  it('keeps connectedSince, lastSentVersion, lastAckedVersion and totalUpdates in the StatusRegistry', async () => {
    // given a connected proxy
    const node = newNode();
    watcher.set(node, edsConfig(8001));
    const before = Date.now();
    const envoy = connect(transport, node);

    // when it receives and ACKs two versions
    const first = await subscribeEds(envoy);
    await ackAndWait(envoy, first);
    watcher.set(node, edsConfig(8002));
    const second = await envoy.nextOf(ENDPOINT_TYPE);
    await ackAndWait(envoy, second);

    // then the registry reflects it
    const proxy = status.get(node)!;
    expect(proxy.activeStreams).toBe(1);
    expect(proxy.connectedSince!.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(proxy.types.get(ENDPOINT_TYPE)).toMatchObject({
      lastSentVersion: second.version,
      lastSentNonce: second.nonce,
      lastAckedVersion: second.version,
      totalUpdates: 2,
      nackCount: 0,
      lastSentNames: ['c1'],
    });

    // when the stream ends, then the proxy is disconnected
    envoy.end();
    await waitFor('the disconnect', () => status.get(node)?.activeStreams === 0, { timeoutMs: 5_000 });
    expect(status.get(node)!.connectedSince).toBeUndefined();
    expect(status.get(node)!.lastDisconnectedAt).toBeInstanceOf(Date);
  });
});

describe.each(ADS_TRANSPORTS)('$label only', (transport) => {
  it('pushes one change in make-before-break order: SDS, CDS, EDS, LDS, RDS', async () => {
    // given a stream subscribed to every type, all ACKed
    const node = newNode();
    const config = (n: number): TestConfig => ({
      secrets: [secret('s1', `ca-${n}`)],
      clusters: [cluster('c1', n)],
      endpoints: [endpoints('c1', 8000 + n)],
      listeners: [listener('l1', 10000 + n)],
      routes: [route('r1', `d${n}.example`)],
    });
    watcher.set(node, config(1));
    const envoy = connect(transport, node);
    envoy.subscribe(ROUTE_TYPE, ['r1']);
    envoy.subscribe(LISTENER_TYPE, []);
    envoy.subscribe(ENDPOINT_TYPE, ['c1']);
    envoy.subscribe(CLUSTER_TYPE, []);
    envoy.subscribe(SECRET_TYPE, ['s1']);
    for (let i = 0; i < 5; i++) envoy.ack(await envoy.next());
    const all = [SECRET_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE];
    await waitFor('all ACKs', () => all.every((t) => typeStatus(node, t)?.lastAckedVersion !== undefined && typeStatus(node, t)?.lastAckedVersion === typeStatus(node, t)?.lastSentVersion), {
      timeoutMs: 5_000,
    });

    // when one snapshot changes all five types
    watcher.set(node, config(2));

    // then they arrive secrets first, then clusters before endpoints before listeners before routes
    const order: string[] = [];
    for (let i = 0; i < 5; i++) order.push((await envoy.next()).typeUrl);
    expect(order).toEqual([SECRET_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE]);
  });

  it('closes the stream with INVALID_ARGUMENT when type_url is empty', async () => {
    // given a proxy
    const node = newNode();
    watcher.set(node, edsConfig(8001));
    const envoy = connect(transport, node);

    // when it sends a request without a type
    envoy.send({ typeUrl: '', names: ['c1'], subscribe: ['c1'] });

    // then the aggregated stream refuses it
    expect((await envoy.closed()).code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('ignores an unknown type_url and keeps serving the stream', async () => {
    // given a proxy
    const node = newNode();
    watcher.set(node, edsConfig(8001));
    const envoy = connect(transport, node);

    // when it asks for a type the server does not know
    envoy.send({ typeUrl: 'type.googleapis.com/example.Unknown', names: ['x'], subscribe: ['x'] });

    // then nothing is sent for it, and the stream still works
    await envoy.barrier();
    expect(portsOf(await subscribeEds(envoy))).toEqual([8001]);
  });
});

describe.each([
  { label: 'ADS SotW', mode: 'sotw' as const, service: undefined },
  { label: 'ADS Delta', mode: 'delta' as const, service: undefined },
  { label: 'per-type SotW', mode: 'sotw' as const, service: 'per-type' },
  { label: 'per-type Delta', mode: 'delta' as const, service: 'per-type' },
])('$label: removal of a full-state resource', ({ mode, service }) => {
  it.each([
    { kind: 'listener', typeUrl: LISTENER_TYPE, make: (names: string[]): TestConfig => ({ listeners: names.map((n, i) => listener(n, 10001 + i)) }) },
    { kind: 'cluster', typeUrl: CLUSTER_TYPE, make: (names: string[]): TestConfig => ({ clusters: names.map((n) => cluster(n)) }) },
  ])('is announced when a $kind disappears (SotW: absent, Delta: removed_resources)', async ({ typeUrl, make }) => {
    // given a wildcard subscription holding two resources, ACKed
    const node = newNode();
    watcher.set(node, make(['a', 'b']));
    const envoy = connect({ mode, service: service === undefined ? undefined : typeUrl }, node);
    envoy.subscribe(typeUrl, []);
    const first = await envoy.nextOf(typeUrl);
    expect(namesOf(first)).toEqual(['a', 'b']);
    await ackAndWait(envoy, first);

    // when b is removed
    watcher.set(node, make(['a']));

    // then the next response tells the proxy to delete it
    const next = await envoy.nextOf(typeUrl);
    if (mode === 'sotw') {
      expect(namesOf(next)).toEqual(['a']);
    } else {
      expect(next.removed).toEqual(['b']);
      expect(namesOf(next)).toEqual([]);
    }
    expect([...envoy.state.get(typeUrl)!.keys()]).toEqual(['a']);
  });
});

describe.each([
  { label: 'ADS', service: undefined },
  { label: 'per-type', service: CLUSTER_TYPE },
])('Delta $label wildcard', ({ service }) => {
  it('answers the first wildcard request even when there is nothing to send', async () => {
    // given a proxy with no clusters at all
    const node = newNode();
    watcher.set(node, { listeners: [listener('l1', 10001)] });
    const envoy = connect({ mode: 'delta', service }, node);

    // when it subscribes to every cluster
    envoy.subscribe(CLUSTER_TYPE, []);

    // then an empty answer lets it finish initializing
    const answer = await envoy.nextOf(CLUSTER_TYPE);
    expect(answer.resources).toEqual([]);
    expect(answer.removed).toEqual([]);
  });
});

describe.each([
  { label: 'ADS', service: undefined },
  { label: 'per-type RDS', service: ROUTE_TYPE },
])('Delta $label named subscription', ({ service }) => {
  it('keeps a route table the client still asks for after the config drops it (a draining listener may use it)', async () => {
    // given routes r1 and r2 subscribed by name and ACKed
    const node = newNode();
    watcher.set(node, { routes: [route('r1'), route('r2')] });
    const envoy = connect({ mode: 'delta', service }, node);
    envoy.subscribe(ROUTE_TYPE, ['r1', 'r2']);
    const first = await envoy.nextOf(ROUTE_TYPE);
    expect(namesOf(first)).toEqual(['r1', 'r2']);
    envoy.ack(first);

    // when r1 leaves the config and r2 changes
    watcher.set(node, { routes: [route('r2', 'r2.example')] });
    const next = await envoy.nextOf(ROUTE_TYPE);
    envoy.ack(next);

    // then r2's change goes out and r1 is not removed: Envoy asks for it only while a listener uses it
    expect(namesOf(next)).toEqual(['r2']);
    expect(next.removed).toEqual([]);
    // and once the client stops asking for it, nothing more is sent
    envoy.unsubscribe(ROUTE_TYPE, ['r1']);
    await envoy.barrier(service === undefined ? SECRET_TYPE : ROUTE_TYPE);
  });
});

describe('Delta reconnect', () => {
  it('sends only what changed against initial_resource_versions', async () => {
    // given a proxy that held c1 and c2 on an earlier stream
    const node = newNode();
    watcher.set(node, edsConfig(8001));
    const oldStream = connect({ mode: 'delta' }, node);
    const old = await subscribeEds(oldStream, ['c1', 'c2']);
    oldStream.close();
    const versions = Object.fromEntries(old.resources.map((r) => [r.name, r.version]));

    // when c1 changed meanwhile and a new stream reports both versions it holds
    watcher.set(node, { clusters: [cluster('c1'), cluster('c2')], endpoints: [endpoints('c1', 8111), endpoints('c2', 9001)] });
    const envoy = connect({ mode: 'delta' }, node);
    envoy.send({ typeUrl: ENDPOINT_TYPE, subscribe: ['c1', 'c2'], initialVersions: versions });

    // then only c1 is sent
    const answer = await envoy.nextOf(ENDPOINT_TYPE);
    expect(namesOf(answer)).toEqual(['c1']);
    expect(portsOf(answer)).toEqual([8111]);
  });
});

describe('per-type services', () => {
  const types = [LISTENER_TYPE, ROUTE_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE, SECRET_TYPE];
  const cases = types.flatMap((typeUrl) => (['sotw', 'delta'] as const).map((mode) => ({ typeUrl, mode, other: typeUrl === CLUSTER_TYPE ? LISTENER_TYPE : CLUSTER_TYPE })));

  it.each(cases)('$typeUrl ($mode) rejects a request for $other', async ({ typeUrl, mode, other }) => {
    // given a per-type stream
    const node = newNode();
    watcher.set(node, edsConfig(8001));
    const envoy = connect({ mode, service: typeUrl }, node);

    // when it asks for another type
    envoy.send({ typeUrl: other, names: [], subscribe: [] });

    // then the stream is closed
    const final = await envoy.closed();
    expect(final.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(final.details).toContain(typeUrl);
  });

  it.each(['sotw', 'delta'] as const)('accept requests without type_url (%s)', async (mode) => {
    // given a per-type CDS stream
    const node = newNode();
    watcher.set(node, edsConfig(8001));
    const envoy = connect({ mode, service: CLUSTER_TYPE }, node);

    // when the request leaves type_url empty
    envoy.send({ names: [], subscribe: [] });

    // then it is served as CDS
    const answer = await envoy.nextOf(CLUSTER_TYPE);
    expect(namesOf(answer)).toEqual(['c1', 'c2']);
  });
});

describe.each(ADS_TRANSPORTS)('$label secrets', (transport) => {
  it('never sends a secret outside the proxy snapshot, and logs the refusal once', async () => {
    // given: a server whose log is captured, and two proxies with their own secrets
    const warnings: Array<{ node?: string; secrets?: string[] }> = [];
    const logged = new XdsServer({ watcher, status, log: { info: () => undefined, warn: (obj: object) => void warnings.push(obj) } });
    const loggedAddress = `127.0.0.1:${await logged.listen('127.0.0.1:0')}`;
    try {
      const [mine, other] = [newNode(), newNode()];
      watcher.set(mine, { secrets: [secret('mine')] });
      watcher.set(other, { secrets: [secret('theirs')] });
      const envoy = new FakeEnvoy({ address: loggedAddress, mode: transport.mode, node: { id: mine } });
      envoys.push(envoy);
      // when: it asks for its own secret and for the other proxy's, twice
      envoy.subscribe(SECRET_TYPE, ['mine', 'theirs']);
      const first = await envoy.nextOf(SECRET_TYPE);
      envoy.ack(first);
      envoy.subscribe(SECRET_TYPE, ['theirs', 'mine']);
      if (transport.mode === 'delta') {
        // (Delta answers a repeated subscription again: its own secret, and "theirs" as absent)
        const again = await envoy.nextOf(SECRET_TYPE);
        expect({ names: namesOf(again), removed: again.removed }).toEqual({ names: ['mine'], removed: ['theirs'] });
        envoy.ack(again);
      }
      await envoy.barrier(ENDPOINT_TYPE);
      // then: only its own secret is ever sent
      expect(namesOf(first)).toEqual(['mine']);
      expect(envoy.received.flatMap((r) => namesOf(r))).not.toContain('theirs');
      // and: the refusal is logged once, naming the node and the secret
      expect(warnings.filter((w) => w.secrets?.includes('theirs'))).toEqual([expect.objectContaining({ node: mine, count: 1, secrets: ['theirs'] })]);
    } finally {
      logged.forceClose();
    }
  });
});

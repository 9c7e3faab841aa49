/**
 * Property test of the xDS server: random request sequences on several concurrent streams
 * (random types including unknown ones, names, versions, nonces that are valid, stale,
 * garbage or of another type, NACKs, node id changes, missing nodes, Delta subscribe and
 * unsubscribe), interleaved with random snapshot publications. Checked:
 * - the server never fails: no uncaught error, no request that blew up inside the session,
 *   and it still serves a fresh stream at the end;
 * - a well-behaved stream running next to the misbehaving ones still converges on the
 *   latest snapshot, even when it shares its node id with them;
 * - per stream: nonces are unique; a type never has two responses outstanding (each
 *   response needs a request that releases the previous one); a NACKed response is never
 *   followed by an identical one unless the subscription changed; a stream is closed with
 *   INVALID_ARGUMENT exactly when it sent an invalid request.
 * - make-before-break (issue #10 point 3), on the well-behaved ADS stream, whose configs have
 *   listeners and routes naming clusters and secrets, with removals and cluster updates, and
 *   which sometimes holds its CDS ACKs as Envoy does while clusters warm: no LDS/RDS ever names
 *   a cluster or secret the client was not sent first, and no CDS (or SDS) drops one that a
 *   listener or route it holds still names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { XdsServer } from '../../src/xds/server.js';
import { StatusRegistry } from '../../src/xds/status.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { ControlledWatcher, canonical, cluster, endpoints, listener, resourcesOf, route, secret, type TestConfig } from '../helpers/controlled-watcher.js';
import { FakeEnvoy, decodeAny, fetchResources, type ReceivedResponse, type SentRequest, type XdsMode } from '../helpers/fake-envoy.js';
import { clusterRoute, tcpListener } from '../helpers/xds-resources.js';
import { waitFor } from '../helpers/wait.js';

const TYPES = [LISTENER_TYPE, ROUTE_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE, SECRET_TYPE];
const UNKNOWN_TYPE = 'type.googleapis.com/example.v1.Unknown';
const NAMES = ['a', 'b', 'c'];

// ---- scenario model ----

interface ConfigSeed {
  clusters: string[];
  timeout: number;
  endpoints: string[];
  port: number;
  listeners: string[];
  routes: string[];
  secrets: string[];
  ca: number;
  /** Which cluster each listener (TCP proxy) and route sends to, as an index into `clusters`. */
  listenerTargets: number[];
  routeTargets: number[];
  /** Whether listeners serve TLS with one of `secrets` (SDS). */
  listenerTls: boolean;
}

interface StreamSpec {
  mode: XdsMode;
  /** Per-type service, or ADS when undefined. */
  service?: string;
  /** 0 and 1: nodes of their own; 2: the node of the well-behaved stream. */
  nodeSlot: number;
}

type NonceChoice = 'latest' | 'older' | 'garbage' | 'empty' | 'otherType';
type NodeChoice = 'same' | 'omit' | 'other' | 'empty';

type Action =
  | {
      kind: 'request';
      stream: number;
      typeUrl: string;
      typePick: number;
      names: string[];
      unsubscribe: string[];
      nonce: NonceChoice;
      version: string;
      nack: boolean;
      node: NodeChoice;
      initialVersions: boolean;
    }
  | { kind: 'reply'; stream: number; pick: number; nack: boolean }
  | { kind: 'publish'; nodeSlot: number; config: ConfigSeed }
  | { kind: 'reopen'; stream: number }
  | { kind: 'roundTrip' }
  | { kind: 'releaseCds' };

interface Scenario {
  goodMode: XdsMode;
  /** The well-behaved stream holds its CDS ACKs until a 'releaseCds' action (Envoy does while clusters warm). */
  holdCdsAcks: boolean;
  streams: StreamSpec[];
  initial: ConfigSeed[];
  actions: Action[];
}

const configArb: fc.Arbitrary<ConfigSeed> = fc.record({
  clusters: fc.subarray(NAMES),
  timeout: fc.integer({ min: 1, max: 2 }),
  endpoints: fc.subarray(NAMES),
  port: fc.integer({ min: 1, max: 2 }),
  listeners: fc.subarray(['a', 'b']),
  routes: fc.subarray(NAMES),
  secrets: fc.subarray(['a', 'b']),
  ca: fc.integer({ min: 1, max: 2 }),
  listenerTargets: fc.array(fc.nat({ max: 5 }), { minLength: 2, maxLength: 2 }),
  routeTargets: fc.array(fc.nat({ max: 5 }), { minLength: 3, maxLength: 3 }),
  listenerTls: fc.boolean(),
});

const streamArb: fc.Arbitrary<StreamSpec> = fc.record({
  mode: fc.constantFrom<XdsMode>('sotw', 'delta'),
  service: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fc.constantFrom(...TYPES) }),
  nodeSlot: fc.integer({ min: 0, max: 2 }),
});

const STREAMS = 3;

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('request' as const),
      stream: fc.integer({ min: 0, max: STREAMS - 1 }),
      // 'own': the service's type on a per-type stream, one of the known types on ADS.
      typeUrl: fc.oneof({ weight: 12, arbitrary: fc.constant('own') }, { weight: 1, arbitrary: fc.constantFrom(...TYPES, UNKNOWN_TYPE, '') }),
      typePick: fc.nat({ max: TYPES.length - 1 }),
      // SotW resource_names, or Delta resource_names_subscribe.
      names: fc.oneof({ weight: 1, arbitrary: fc.constant<string[]>([]) }, { weight: 2, arbitrary: fc.subarray([...NAMES, '*', 'ghost']) }),
      unsubscribe: fc.oneof({ weight: 3, arbitrary: fc.constant<string[]>([]) }, { weight: 1, arbitrary: fc.subarray([...NAMES, '*']) }),
      nonce: fc.constantFrom<NonceChoice>('latest', 'latest', 'older', 'garbage', 'empty', 'otherType'),
      version: fc.constantFrom('', 'v-garbage', 'accepted'),
      nack: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
      node: fc.oneof(
        { weight: 30, arbitrary: fc.constant<NodeChoice>('same') },
        { weight: 8, arbitrary: fc.constant<NodeChoice>('omit') },
        { weight: 1, arbitrary: fc.constantFrom<NodeChoice>('other', 'empty') },
      ),
      initialVersions: fc.boolean(),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('reply' as const),
      stream: fc.integer({ min: 0, max: STREAMS - 1 }),
      // -1: the latest response of the stream; otherwise any response received so far.
      pick: fc.oneof({ weight: 3, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat() }),
      nack: fc.boolean(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('publish' as const), nodeSlot: fc.integer({ min: 0, max: 2 }), config: configArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const), stream: fc.integer({ min: 0, max: STREAMS - 1 }) }) },
  { weight: 5, arbitrary: fc.constant({ kind: 'roundTrip' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'releaseCds' as const }) },
);

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  goodMode: fc.constantFrom<XdsMode>('sotw', 'delta'),
  holdCdsAcks: fc.boolean(),
  streams: fc.array(streamArb, { minLength: STREAMS, maxLength: STREAMS }),
  initial: fc.array(configArb, { minLength: 3, maxLength: 3 }),
  actions: fc.array(actionArb, { minLength: 8, maxLength: 40 }),
});

/** Listeners and routes name clusters (and secrets) of the same config: every publication is consistent. */
function toConfig(seed: ConfigSeed): TestConfig {
  const target = (i: number): string | undefined => (seed.clusters.length === 0 ? undefined : seed.clusters[i % seed.clusters.length]);
  return {
    clusters: seed.clusters.map((n) => cluster(n, seed.timeout)),
    endpoints: seed.endpoints.map((n) => endpoints(n, 8000 + seed.port)),
    listeners: seed.listeners.map((n, i) => {
      const to = target(seed.listenerTargets[i] ?? 0);
      const tls = seed.listenerTls && seed.secrets.length > 0 ? seed.secrets[i % seed.secrets.length] : undefined;
      return to === undefined ? listener(n, 10000 + i) : tcpListener(n, 10000 + i, to, tls);
    }),
    routes: seed.routes.map((n, i) => {
      const to = target(seed.routeTargets[i] ?? 0);
      return to === undefined ? route(n, `d${seed.port}.example`) : clusterRoute(n, to);
    }),
    secrets: seed.secrets.map((n) => secret(n, `ca-${seed.ca}`)),
  };
}

// ---- the server under test ----

let watcher: ControlledWatcher;
let status: StatusRegistry;
let server: XdsServer;
let address: string;
let runCounter = 0;
const sessionFailures: string[] = [];
const processErrors: unknown[] = [];
const onProcessError = (err: unknown): void => {
  processErrors.push(err);
};

beforeAll(async () => {
  process.on('uncaughtException', onProcessError);
  process.on('unhandledRejection', onProcessError);
  watcher = new ControlledWatcher();
  status = new StatusRegistry();
  const log = {
    info: (): void => undefined,
    warn: (obj: object, msg: string): void => {
      // The server turns an exception inside the session into an INTERNAL close: a bug.
      if (msg.includes('handling failed')) sessionFailures.push(`${msg} ${JSON.stringify(obj)}`);
    },
  };
  server = new XdsServer({ watcher, status, log });
  address = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
});

afterAll(() => {
  server.forceClose();
  process.off('uncaughtException', onProcessError);
  process.off('unhandledRejection', onProcessError);
});

// ---- running a scenario ----

interface Tracked {
  readonly envoy: FakeEnvoy;
  readonly spec: StreamSpec;
  closedByTest: boolean;
}

const GOOD_SUBSCRIPTIONS: Readonly<Record<string, string[]>> = {
  [SECRET_TYPE]: ['a', 'b'],
  [CLUSTER_TYPE]: [],
  [ENDPOINT_TYPE]: ['a', 'b', 'c'],
  [LISTENER_TYPE]: [],
  [ROUTE_TYPE]: ['a', 'b', 'c'],
};

/**
 * What a proxy subscribed like GOOD_SUBSCRIPTIONS must end up holding for a config. An unknown
 * EDS name is held as an empty assignment in SotW; Delta reports it in removed_resources.
 */
function expectedHoldings(config: TestConfig, typeUrl: string, mode: XdsMode): Map<string, Record<string, unknown>> {
  const all = resourcesOf(config, typeUrl);
  const out = new Map<string, Record<string, unknown>>();
  const names = finalSubscriptions(config)[typeUrl]!;
  if (names.length === 0) {
    for (const [name, resource] of all) out.set(name, canonical(typeUrl, resource));
    return out;
  }
  for (const name of names) {
    const resource = all.get(name) ?? (typeUrl === ENDPOINT_TYPE && mode === 'sotw' ? { cluster_name: name } : undefined);
    if (resource) out.set(name, canonical(typeUrl, resource));
  }
  return out;
}

/**
 * The well-behaved stream's subscriptions once the final config is in: as Envoy, it asks for the
 * route tables its listeners use (a route table no listener names any more is dropped when the
 * listener that used it has drained: the server keeps the old one while it is still asked for).
 */
function finalSubscriptions(config: TestConfig): Readonly<Record<string, string[]>> {
  return { ...GOOD_SUBSCRIPTIONS, [ROUTE_TYPE]: [...resourcesOf(config, ROUTE_TYPE).keys()].filter((name) => GOOD_SUBSCRIPTIONS[ROUTE_TYPE]!.includes(name)) };
}

function describeMismatch(envoy: FakeEnvoy, config: TestConfig): string | undefined {
  for (const typeUrl of TYPES) {
    const expected = expectedHoldings(config, typeUrl, envoy.mode);
    const held = envoy.state.get(typeUrl) ?? new Map();
    const heldNames = [...held.keys()].sort();
    const expectedNames = [...expected.keys()].sort();
    if (heldNames.join() !== expectedNames.join()) return `${typeUrl}: holds [${heldNames.join()}], expected [${expectedNames.join()}]`;
    for (const [name, value] of expected) {
      if (JSON.stringify(held.get(name)!.value) !== JSON.stringify(value)) return `${typeUrl} ${name}: content differs`;
    }
  }
  return undefined;
}

function nodeIdsFor(run: number): string[] {
  return [`run${run}-a`, `run${run}-b`, `run${run}-good`];
}

function open(spec: StreamSpec, nodeIds: string[]): Tracked {
  const envoy = new FakeEnvoy({ address, mode: spec.mode, service: spec.service, node: { id: nodeIds[spec.nodeSlot]! } });
  return { envoy, spec, closedByTest: false };
}

function chooseNonce(envoy: FakeEnvoy, typeUrl: string, choice: NonceChoice): string {
  const ofType = envoy.received.filter((r) => r.typeUrl === typeUrl);
  switch (choice) {
    case 'latest':
      return ofType.at(-1)?.nonce ?? '';
    case 'older':
      return ofType.at(0)?.nonce ?? 'never-sent';
    case 'garbage':
      return 'garbage-nonce';
    case 'empty':
      return '';
    case 'otherType':
      return envoy.received.find((r) => r.typeUrl !== typeUrl)?.nonce ?? 'no-other-type';
  }
}

function performRequest(tracked: Tracked, action: Extract<Action, { kind: 'request' }>, otherNodeId: string): void {
  const { envoy } = tracked;
  const typeUrl = action.typeUrl !== 'own' ? action.typeUrl : tracked.spec.service ?? TYPES[action.typePick]!;
  // Omitting the node is fine after the first request (Envoy's set_node_on_first_message_only);
  // a first request without one is covered by 'empty'.
  const first = !envoy.log.some((e) => e.dir === 'out');
  const choice = first && action.node === 'omit' ? 'same' : action.node;
  const node = choice === 'same' ? undefined : choice === 'omit' ? null : { id: choice === 'other' ? otherNodeId : '' };
  const lastOfType = envoy.received.filter((r) => r.typeUrl === typeUrl).at(-1);
  envoy.send({
    typeUrl,
    names: action.names,
    subscribe: action.names,
    unsubscribe: action.unsubscribe,
    nonce: chooseNonce(envoy, typeUrl, action.nonce),
    version: action.version === 'accepted' ? lastOfType?.version ?? '' : action.version,
    errorDetail: action.nack ? 'random rejection' : undefined,
    initialVersions: action.initialVersions ? { a: 'stale-version', b: lastOfType?.resources[0]?.version ?? 'x' } : undefined,
    node,
  });
}

async function perform(action: Action, streams: Tracked[], retired: Tracked[], nodeIds: string[], health: () => Promise<void>, releaseCds: () => void): Promise<void> {
  switch (action.kind) {
    case 'request':
      performRequest(streams[action.stream]!, action, `${nodeIds[0]}-other`);
      return;
    case 'reply': {
      const { envoy } = streams[action.stream]!;
      if (envoy.received.length === 0) return;
      const response = action.pick < 0 ? envoy.received.at(-1)! : envoy.received[action.pick % envoy.received.length]!;
      if (action.nack) envoy.nack(response, 'rejected by the property test');
      else envoy.ack(response);
      return;
    }
    case 'publish':
      watcher.set(nodeIds[action.nodeSlot]!, toConfig(action.config));
      return;
    case 'reopen': {
      const old = streams[action.stream]!;
      old.closedByTest = true;
      old.envoy.close();
      retired.push(old);
      streams[action.stream] = open(old.spec, nodeIds);
      return;
    }
    case 'roundTrip':
      await health();
      return;
    case 'releaseCds':
      releaseCds();
      return;
  }
}

// ---- invariants, from the client's log ----

function effectiveType(tracked: Tracked, request: SentRequest): string {
  return request.typeUrl === '' && tracked.spec.service !== undefined ? tracked.spec.service : request.typeUrl;
}

function contentKey(response: ReceivedResponse): string {
  const resources = response.resources.map((r) => `${r.name}@${r.version}:${JSON.stringify(r.value)}`).sort();
  return `${resources.join('\n')}|${[...response.removed].sort().join(',')}`;
}

/** The stream's log, one line per event, for failure messages. */
function describeLog(tracked: Tracked): string {
  const short = (typeUrl: string): string => typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
  const lines = tracked.envoy.log.map((e) =>
    e.dir === 'out'
      ? `  -> ${short(e.request.typeUrl) || "''"} nonce=${e.request.nonce || "''"} names=[${e.request.names.join()}] sub=[${e.request.subscribe.join()}] unsub=[${e.request.unsubscribe.join()}] node=${e.request.nodeId ?? '-'}${e.request.errorDetail !== undefined ? ' NACK' : ''}`
      : `  <- ${short(e.response.typeUrl)} nonce=${e.response.nonce} [${e.response.resources.map((r) => r.name).join()}] removed=[${e.response.removed.join()}]`,
  );
  return `${tracked.spec.mode} ${tracked.spec.service === undefined ? 'ADS' : short(tracked.spec.service)} stream:\n${lines.join('\n')}`;
}

/** Nonces unique; each response of a type released by a request (at most one outstanding). */
function checkNoncesAndFlowControl(tracked: Tracked): void {
  const { envoy } = tracked;
  const sotw = tracked.spec.mode === 'sotw';
  const nonces = new Set<string>();
  const perType = new Map<string, { responses: number; requested: boolean; restarts: number; received: Set<string>; echoed: Set<string> }>();
  const typeState = (typeUrl: string) => {
    let state = perType.get(typeUrl);
    if (!state) {
      state = { responses: 0, requested: false, restarts: 0, received: new Set(), echoed: new Set() };
      perType.set(typeUrl, state);
    }
    return state;
  };
  for (const event of envoy.log) {
    if (event.dir === 'out') {
      const state = typeState(effectiveType(tracked, event.request));
      // SotW: an empty nonce on a known type restarts it (always answered); Delta: never.
      if (state.requested && sotw && event.request.nonce === '') state.restarts++;
      state.requested = true;
      if (state.received.has(event.request.nonce)) state.echoed.add(event.request.nonce);
      continue;
    }
    const { response } = event;
    expect(nonces.has(response.nonce), `nonce ${response.nonce} reused`).toBe(false);
    nonces.add(response.nonce);
    const state = typeState(response.typeUrl);
    state.responses++;
    state.received.add(response.nonce);
    const allowance = (state.requested ? 1 : 0) + state.restarts + state.echoed.size;
    expect(state.responses, `${response.typeUrl}: response ${state.responses} arrived with only ${allowance} released\n${describeLog(tracked)}`).toBeLessThanOrEqual(allowance);
  }
}

/** The response following a NACKed one is not identical to it, unless the subscription changed. */
function checkNoResendAfterNack(tracked: Tracked): void {
  const { envoy, spec } = tracked;
  const log = envoy.log;
  const responseIndexes = (typeUrl: string): number[] => log.flatMap((e, i) => (e.dir === 'in' && e.response.typeUrl === typeUrl ? [i] : []));
  for (const typeUrl of TYPES) {
    const indexes = responseIndexes(typeUrl);
    const requestsOfType = (from: number, to: number): SentRequest[] =>
      log.slice(from, to).flatMap((e) => (e.dir === 'out' && effectiveType(tracked, e.request) === typeUrl ? [e.request] : []));
    for (let k = 0; k + 1 < indexes.length; k++) {
      const xIndex = indexes[k]!;
      const yIndex = indexes[k + 1]!;
      const x = (log[xIndex] as { response: ReceivedResponse }).response;
      const y = (log[yIndex] as { response: ReceivedResponse }).response;
      const nacked = requestsOfType(xIndex, yIndex).some((r) => r.nonce === x.nonce && r.errorDetail !== undefined);
      if (!nacked || contentKey(x) !== contentKey(y)) continue;
      const windowStart = k === 0 ? 0 : indexes[k - 1]!;
      const window = requestsOfType(windowStart, yIndex);
      let exempt: boolean;
      if (spec.mode === 'sotw') {
        const restarts = requestsOfType(0, yIndex).slice(1).some((r) => r.nonce === '');
        const nameSets = new Set(window.map((r) => [...new Set(r.names)].sort().join(',')));
        exempt = restarts || nameSets.size > 1;
      } else {
        exempt = window.some((r) => r.subscribe.length > 0 || r.unsubscribe.length > 0);
      }
      expect(exempt, `${typeUrl}: NACKed content resent identically (nonce ${x.nonce} then ${y.nonce})\n${describeLog(tracked)}`).toBe(true);
    }
  }
}

/** Whether the stream sent a request the server must refuse with INVALID_ARGUMENT. */
function sentInvalidRequest(tracked: Tracked): boolean {
  let nodeId: string | undefined;
  for (const event of tracked.envoy.log) {
    if (event.dir !== 'out') continue;
    const request = event.request;
    if (nodeId === undefined) {
      if (request.nodeId === undefined || request.nodeId === '') return true;
      nodeId = request.nodeId;
    } else if (request.nodeId !== undefined && request.nodeId !== '' && request.nodeId !== nodeId) {
      return true;
    }
    if (tracked.spec.service === undefined ? request.typeUrl === '' : request.typeUrl !== '' && request.typeUrl !== tracked.spec.service) return true;
  }
  return false;
}

type Decoded = Record<string, unknown>;

/** The clusters and secrets a received resource names, read from the decoded message (Any values decoded too). */
function namedIn(value: unknown, out: { clusters: Set<string>; secrets: Set<string> }): void {
  if (Array.isArray(value)) {
    for (const item of value) namedIn(item, out);
    return;
  }
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return;
  const object = value as Decoded;
  if (typeof object['type_url'] === 'string' && object['value'] instanceof Uint8Array) {
    namedIn(decodeAny(object['type_url'], object['value']), out);
    return;
  }
  for (const [key, field] of Object.entries(object)) {
    if (key === 'cluster' && typeof field === 'string' && field !== '') out.clusters.add(field);
    if (key === 'tls_certificate_sds_secret_configs' && Array.isArray(field)) for (const c of field as Decoded[]) out.secrets.add(String(c['name']));
    namedIn(field, out);
  }
}

/**
 * Make-before-break from the client's side, replaying what it received in order: an LDS/RDS
 * response names only clusters and secrets the client already holds, and after a CDS/SDS
 * response the client still holds every cluster/secret its listeners and routes name.
 */
function checkMakeBeforeBreak(envoy: FakeEnvoy): void {
  const held = new Map<string, Map<string, Decoded>>(TYPES.map((t) => [t, new Map()]));
  const names = (values: Iterable<Decoded>): { clusters: Set<string>; secrets: Set<string> } => {
    const out = { clusters: new Set<string>(), secrets: new Set<string>() };
    for (const value of values) namedIn(value, out);
    return out;
  };
  const problem = (what: string): string => `${what}\n${describeLog({ envoy, spec: { mode: envoy.mode, nodeSlot: 2 }, closedByTest: false })}`;
  for (const event of envoy.log) {
    if (event.dir === 'out') {
      // A client no longer uses what it unsubscribes from (Envoy asks for a route table or
      // endpoints only while a listener or cluster uses them): Delta names it, SotW leaves it out.
      const { typeUrl, unsubscribe, names: asked } = event.request;
      const holding = held.get(typeUrl);
      for (const name of unsubscribe ?? []) holding?.delete(name);
      if (envoy.mode === 'sotw' && asked.length > 0) for (const name of [...(holding?.keys() ?? [])]) if (!asked.includes(name)) holding?.delete(name);
      continue;
    }
    const { response } = event;
    const byName = held.get(response.typeUrl)!;
    if (envoy.mode === 'sotw') byName.clear();
    for (const name of response.removed) byName.delete(name);
    for (const r of response.resources) byName.set(r.name, r.value);
    const clusters = held.get(CLUSTER_TYPE)!;
    const secrets = held.get(SECRET_TYPE)!;
    if (response.typeUrl === LISTENER_TYPE || response.typeUrl === ROUTE_TYPE) {
      const named = names(response.resources.map((r) => r.value));
      for (const c of named.clusters) expect(clusters.has(c), problem(`${response.typeUrl} ${response.nonce} names cluster ${c} before the client has it`)).toBe(true);
      for (const s of named.secrets) expect(secrets.has(s), problem(`${response.typeUrl} ${response.nonce} names secret ${s} before the client has it`)).toBe(true);
    }
    if (response.typeUrl === CLUSTER_TYPE || response.typeUrl === SECRET_TYPE) {
      const named = names([...held.get(LISTENER_TYPE)!.values(), ...held.get(ROUTE_TYPE)!.values()]);
      const list = response.typeUrl === CLUSTER_TYPE ? named.clusters : named.secrets;
      const have = response.typeUrl === CLUSTER_TYPE ? clusters : secrets;
      for (const n of list) expect(have.has(n), problem(`${response.typeUrl} ${response.nonce} drops ${n}, still named by a listener or route the client holds`)).toBe(true);
    }
  }
}

/** A gRPC health call on the server: a real round trip, giving in-flight responses time to land. */
class HealthRoundTrip {
  private readonly client: grpc.Client & {
    check(request: { service: string }, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null) => void): grpc.ClientUnaryCall;
  };

  constructor(target: string) {
    const Health = grpc.makeClientConstructor(healthService, 'Health');
    this.client = new Health(target, grpc.credentials.createInsecure()) as unknown as HealthRoundTrip['client'];
  }

  roundTrip(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.check({ service: '' }, { deadline: Date.now() + 10_000 }, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): void {
    this.client.close();
  }
}

// ---- the property ----

describe('xDS server under random request sequences', () => {
  it('never fails, keeps well-behaved streams correct, and keeps the per-stream invariants', async () => {
    const healthClient = new HealthRoundTrip(address);
    try {
      await fc.assert(
        fc.asyncProperty(scenarioArb, async (scenario) => {
          const run = ++runCounter;
          const nodeIds = nodeIdsFor(run);
          const streams: Tracked[] = [];
          const retired: Tracked[] = [];
          let good: FakeEnvoy | undefined;
          try {
            // given snapshots for three nodes, a well-behaved stream and three random ones
            scenario.initial.forEach((seed, slot) => watcher.set(nodeIds[slot]!, toConfig(seed)));
            // A well-behaved Envoy ACKs everything, CDS possibly late (held while clusters warm).
            let holdCds = scenario.holdCdsAcks;
            const heldCds: ReceivedResponse[] = [];
            const releaseCds = (): void => {
              for (const response of heldCds.splice(0)) good!.ack(response);
            };
            good = new FakeEnvoy({
              address,
              mode: scenario.goodMode,
              node: { id: nodeIds[2]! },
              onResponse: (response, envoy) => {
                if (holdCds && response.typeUrl === CLUSTER_TYPE) heldCds.push(response);
                else envoy.ack(response);
              },
            });
            for (const typeUrl of [SECRET_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE]) good.subscribe(typeUrl, GOOD_SUBSCRIPTIONS[typeUrl]!);
            for (const spec of scenario.streams) streams.push(open(spec, nodeIds));

            // when the random actions run
            for (const action of scenario.actions) {
              await perform(action, streams, retired, nodeIds, () => healthClient.roundTrip(), releaseCds);
              await new Promise((resolve) => setImmediate(resolve));
            }

            // (a round trip lets responses still in flight land before checking)
            await healthClient.roundTrip();

            // then the well-behaved stream converges on a new snapshot
            holdCds = false;
            releaseCds();
            const final = toConfig({
              clusters: ['a', 'c'],
              timeout: 100 + run,
              endpoints: ['a'],
              port: 3,
              listeners: ['b'],
              routes: ['c'],
              secrets: ['b'],
              ca: 100 + run,
              listenerTargets: [1, 0],
              routeTargets: [0, 0, 0],
              listenerTls: true,
            });
            watcher.set(nodeIds[2]!, final);
            const finalRoutes = finalSubscriptions(final)[ROUTE_TYPE]!;
            const unused = GOOD_SUBSCRIPTIONS[ROUTE_TYPE]!.filter((name) => !finalRoutes.includes(name));
            if (unused.length > 0) good.unsubscribe(ROUTE_TYPE, unused);
            await waitFor(
              'the well-behaved stream to hold the final snapshot',
              () => {
                const mismatch = describeMismatch(good!, final);
                if (mismatch) throw new Error(mismatch);
                return true;
              },
              { timeoutMs: 15_000, intervalMs: 5 },
            );
            expect(good.isClosed).toBe(false);

            // and every stream kept the invariants
            for (const tracked of [...streams, ...retired, { envoy: good, spec: { mode: scenario.goodMode, nodeSlot: 2 }, closedByTest: false }]) {
              checkNoncesAndFlowControl(tracked);
              checkNoResendAfterNack(tracked);
            }
            checkMakeBeforeBreak(good);
            for (const tracked of streams) {
              if (sentInvalidRequest(tracked)) {
                expect((await tracked.envoy.closed(10_000)).code).toBe(grpc.status.INVALID_ARGUMENT);
              } else {
                expect(tracked.envoy.isClosed, 'a stream that sent only valid requests was closed').toBe(false);
              }
            }
            for (const tracked of retired) {
              if (!sentInvalidRequest(tracked) && tracked.envoy.isClosed) expect((await tracked.envoy.closed()).code).toBe(grpc.status.CANCELLED);
            }
            expect(sessionFailures).toEqual([]);
            expect(processErrors).toEqual([]);
          } finally {
            good?.close();
            for (const tracked of [...streams, ...retired]) tracked.envoy.close();
          }
        }),
        {
          // Bounded for CI; FC_NUM_RUNS=2000 for a longer search, FC_SEED/FC_PATH to replay a failure.
          numRuns: Number(process.env['FC_NUM_RUNS'] ?? 80),
          endOnFailure: true,
          ...(process.env['FC_SEED'] ? { seed: Number(process.env['FC_SEED']), path: process.env['FC_PATH'] } : {}),
        },
      );
    } finally {
      healthClient.close();
    }

    // then the server still serves a fresh, well-behaved stream
    watcher.set('after-the-storm', { clusters: [cluster('z')] });
    const fresh = new FakeEnvoy({ address, mode: 'sotw', node: { id: 'after-the-storm' } });
    try {
      fresh.subscribe(CLUSTER_TYPE, []);
      const answer = await fresh.nextOf(CLUSTER_TYPE);
      expect(answer.resources.map((r) => r.name)).toEqual(['z']);
    } finally {
      fresh.close();
    }
    const fetched = await fetchResources(address, CLUSTER_TYPE, { node: { id: 'after-the-storm' } });
    expect(fetched.resources.map((r) => r.name)).toEqual(['z']);
    expect(processErrors).toEqual([]);
  });
});

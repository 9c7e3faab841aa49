/**
 * Recompute counters (issue #11): what one change costs, read off a real ControlPlane with
 * Envoy-like clients (SotW ADS, following CDS → EDS and LDS → RDS names, ACKing everything).
 * - an endpoint-only change generates no proxy config, encodes one resource and pushes EDS, only
 *   to the proxies that use the service;
 * - a change in mesh A translates only mesh A and touches no proxy of mesh B;
 * - a Gateway or Route change generates no sidecar (only a gateway's config reads them).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BehaviorSubject } from 'rxjs';
import type { Resource } from '../../src/api/types.js';
import { ControlPlane, type RecomputeCounters } from '../../src/runtime/control-plane.js';
import { silentLogger } from '../../src/log/logger.js';
import type { StatusEvent } from '../../src/xds/status.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, TYPE_SHORT_NAMES } from '../../src/snapshot/types.js';
import { decodeAny, FakeEnvoy, type ReceivedResponse } from '../helpers/fake-envoy.js';
import { waitFor } from '../helpers/wait.js';
import { changesOfLists } from '../helpers/list-changes.js';

function dataplane(mesh: string, name: string, address: string, service: string, outbound: readonly string[]): Resource {
  return {
    type: 'Dataplane',
    name,
    mesh,
    networking: {
      address,
      inbound: [{ port: 8080, servicePort: 18080, tags: { 'kuma.io/service': service, 'kuma.io/protocol': 'http' } }],
      outbound: outbound.map((s, i) => ({ port: 10000 + i, tags: { 'kuma.io/service': s } })),
    },
  } as Resource;
}

function externalService(mesh: string, addresses: readonly string[]): Resource {
  return { type: 'Service', name: 'ext', mesh, endpoints: addresses.map((address) => ({ address, port: 5432 })) } as Resource;
}

/** Two meshes; in mesh-a, a-1 and a-2 call `ext`, a-3 does not. */
function resources(extAddresses: readonly string[], extra: readonly Resource[] = []): Resource[] {
  return [
    { type: 'Mesh', name: 'mesh-a' } as Resource,
    { type: 'Mesh', name: 'mesh-b' } as Resource,
    dataplane('mesh-a', 'a-1', '10.0.0.1', 'web', ['ext', 'api']),
    dataplane('mesh-a', 'a-2', '10.0.0.2', 'api', ['ext']),
    dataplane('mesh-a', 'a-3', '10.0.0.3', 'db', ['api']),
    externalService('mesh-a', extAddresses),
    dataplane('mesh-b', 'b-1', '10.1.0.1', 'web', ['api']),
    dataplane('mesh-b', 'b-2', '10.1.0.2', 'api', ['web']),
    ...extra,
  ];
}

const PROXIES = [
  { id: 'a-1', mesh: 'mesh-a' },
  { id: 'a-2', mesh: 'mesh-a' },
  { id: 'a-3', mesh: 'mesh-a' },
  { id: 'b-1', mesh: 'mesh-b' },
  { id: 'b-2', mesh: 'mesh-b' },
];

/** Every string under `key` anywhere in a decoded resource, nested Any messages (filter configs) included. */
function valuesOf(value: unknown, key: string, out: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) for (const v of value) valuesOf(v, key, out);
  else if (value instanceof Uint8Array) return out;
  else if (typeof value === 'object' && value !== null) {
    const any = value as { type_url?: unknown; value?: unknown };
    if (typeof any.type_url === 'string' && any.value instanceof Uint8Array) valuesOf(decodeAny(any.type_url, any.value), key, out);
    for (const [k, v] of Object.entries(value)) {
      if (k === key && typeof v === 'string') out.add(v);
      valuesOf(v, key, out);
    }
  }
  return out;
}

/** An Envoy-like client: wildcard CDS and LDS, then the EDS and RDS names they carry; ACKs everything. */
function envoyLike(address: string, id: string, mesh: string): FakeEnvoy {
  const follow = (envoy: FakeEnvoy, response: ReceivedResponse): void => {
    envoy.ack(response);
    if (response.typeUrl === CLUSTER_TYPE) {
      const names = response.resources.filter((r) => r.value['type'] === 'EDS').map((r) => r.name);
      if (names.join() !== envoy.subscribedNames(ENDPOINT_TYPE).join()) envoy.subscribe(ENDPOINT_TYPE, names);
    }
    if (response.typeUrl === LISTENER_TYPE) {
      const names = [...valuesOf(response.resources.map((r) => r.value), 'route_config_name')].sort();
      if (names.join() !== envoy.subscribedNames(ROUTE_TYPE).join()) envoy.subscribe(ROUTE_TYPE, names);
    }
  };
  const envoy = new FakeEnvoy({ address, mode: 'sotw', node: { id, metadata: { mesh } }, onResponse: (response, e) => follow(e, response) });
  envoy.subscribe(CLUSTER_TYPE, []);
  envoy.subscribe(LISTENER_TYPE, []);
  return envoy;
}

function delta(before: RecomputeCounters, after: RecomputeCounters): { translations: Record<string, number>; proxyGenerations: number; resourcesEncoded: number; pushes: Record<string, number> } {
  const diff = (a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): Record<string, number> =>
    Object.fromEntries(Object.entries(b).filter(([k, v]) => v !== (a[k] ?? 0)).map(([k, v]) => [k, v - (a[k] ?? 0)]));
  return {
    translations: diff(before.translations, after.translations),
    proxyGenerations: after.proxyGenerations - before.proxyGenerations,
    resourcesEncoded: after.resourcesEncoded - before.resourcesEncoded,
    pushes: diff(before.pushes, after.pushes),
  };
}

let subject: BehaviorSubject<readonly Resource[]>;
let controlPlane: ControlPlane;
let envoys: FakeEnvoy[];
let events: StatusEvent[];

/** Every proxy holds CDS, EDS and LDS, and has ACKed the latest version sent of every type. */
function allAcked(): boolean {
  return PROXIES.every(({ id, mesh }) => {
    const types = controlPlane.status.get(id, mesh)?.types;
    if (![CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE].every((t) => types?.get(t)?.lastSentVersion !== undefined)) return false;
    return [...(types?.values() ?? [])].every((s) => s.lastAckedVersion === s.lastSentVersion);
  });
}

beforeEach(async () => {
  // given both meshes served, every proxy connected and holding its ACKed config
  subject = new BehaviorSubject<readonly Resource[]>(resources(['10.9.0.1']));
  controlPlane = new ControlPlane({ changes: changesOfLists(subject), log: silentLogger() });
  const port = await controlPlane.listen('127.0.0.1:0');
  envoys = PROXIES.map(({ id, mesh }) => envoyLike(`127.0.0.1:${port}`, id, mesh));
  await waitFor('every proxy to ACK its config', allAcked);
  events = [];
  controlPlane.status.events.subscribe((e) => events.push(e));
});

afterEach(async () => {
  for (const envoy of envoys) envoy.close();
  await controlPlane.close();
});

describe('recompute counters', () => {
  it('an endpoint change generates no proxy config, encodes one resource and pushes EDS only to the proxies that call the service', async () => {
    const before = controlPlane.recompute();

    // when ext gets a new endpoint
    subject.next(resources(['10.9.0.1', '10.9.0.2']));
    await waitFor('the EDS pushes to be ACKed', allAcked);

    // then only mesh-a was translated, no proxy was generated, the new assignment was encoded once
    const cost = delta(before, controlPlane.recompute());
    expect(cost.translations).toEqual({ 'mesh-a': 1 });
    expect(cost.proxyGenerations).toBe(0);
    expect(cost.resourcesEncoded).toBe(1);
    // and EDS alone went out, to a-1 and a-2 only, carrying the new endpoint
    expect(cost.pushes).toEqual({ [TYPE_SHORT_NAMES[ENDPOINT_TYPE]!]: 2 });
    const sentTo = events.filter((e) => e.kind === 'sent').map((e) => (e.kind === 'sent' ? e.nodeId : ''));
    expect(sentTo.sort()).toEqual(['a-1', 'a-2']);
    const ext = envoys[0]!.state.get(ENDPOINT_TYPE)?.get('ext');
    expect(JSON.stringify(ext?.value)).toContain('10.9.0.2');
  });

  it('a change in mesh A translates only mesh A and touches no proxy of mesh B', async () => {
    const before = controlPlane.recompute();

    // when mesh-a gets a TrafficPermission and a-3 calls one more service
    const permission = { type: 'TrafficPermission', name: 'allow-all', mesh: 'mesh-a', sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': '*' } }] } as Resource;
    const changed = resources(['10.9.0.1'], [permission]).map((r) => (r.type === 'Dataplane' && r.name === 'a-3' ? dataplane('mesh-a', 'a-3', '10.0.0.3', 'db', ['api', 'web']) : r));
    subject.next(changed);
    await waitFor('a-3 to ACK its new listener', () => allAcked() && (envoys[2]!.state.get(LISTENER_TYPE)?.size ?? 0) === 3);

    // then mesh-b was neither translated nor generated, and nothing was sent to its proxies
    const cost = delta(before, controlPlane.recompute());
    expect(cost.translations).toEqual({ 'mesh-a': 1 });
    expect(cost.proxyGenerations).toBe(3);
    const sentTo = new Set(events.filter((e) => e.kind === 'sent').map((e) => (e.kind === 'sent' ? e.nodeId : '')));
    expect(sentTo.has('b-1') || sentTo.has('b-2')).toBe(false);
    expect(sentTo.has('a-3')).toBe(true);
    // and the dependency cache evicted exactly what the change names: mesh-a's index, the service
    // a-3 serves (db), a-3's Dataplane and the permission list; the rest of mesh-a was kept
    // (services api, ext, web, Dataplanes a-1 and a-2, the mTLS settings: 6 hits at least, the
    // shared resources of the generated proxies count too)
    const cache = (c: RecomputeCounters): NonNullable<RecomputeCounters['cache']> => c.cache!;
    const after = controlPlane.recompute();
    expect(cache(after).evictedByChange - cache(before).evictedByChange).toBe(4);
    expect(cache(after).misses - cache(before).misses).toBeGreaterThanOrEqual(4);
    expect(cache(after).hits - cache(before).hits).toBeGreaterThanOrEqual(6);
    expect(cache(after).evictedBySize).toBe(0);
  });

  it('a Gateway and a Route generate no sidecar of their mesh and push nothing to it', async () => {
    const before = controlPlane.recompute();

    // when mesh-a gets a Gateway, then a Route on it
    const gateway = { type: 'Gateway', name: 'edge', mesh: 'mesh-a', listeners: [{ port: 8443 }] } as unknown as Resource;
    const route = { type: 'Route', name: 'shop', mesh: 'mesh-a', host: 'shop.example.com', routes: [{ prefix: '/', route: { service: 'web' } }] } as unknown as Resource;
    subject.next(resources(['10.9.0.1'], [gateway]));
    subject.next(resources(['10.9.0.1'], [gateway, route]));
    await waitFor('mesh-a to be translated twice', () => controlPlane.recompute().translations['mesh-a'] === (before.translations['mesh-a'] ?? 0) + 2);

    // then mesh-a was translated once per change, and none of its sidecars was generated or sent anything
    const cost = delta(before, controlPlane.recompute());
    expect(cost.translations).toEqual({ 'mesh-a': 2 });
    expect(cost.proxyGenerations).toBe(0);
    expect(cost.pushes).toEqual({});
    expect(events.filter((e) => e.kind === 'sent')).toEqual([]);
  });
});

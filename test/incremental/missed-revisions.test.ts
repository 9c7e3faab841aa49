/**
 * A proxy's run reads what changed from keys alone (runtime/proxy-configs.ts): the keys of a
 * revision are read when they count from the revision the run saw last (`ModelRevision.since`),
 * and a revision that does not (the states skipped one) generates. Revisions taken together (a
 * source that coalesced them: `since` spans both, the keys are their union) patch EDS when the
 * union is endpoint-only, and generate only the proxies the union names otherwise. After every
 * step each proxy holds what a fresh generation from the full model gives.
 */
import { BehaviorSubject, Subject, type Subscription } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Resource } from '../../src/api/types.js';
import { DependencyCache } from '../../src/change/dependency-cache.js';
import type { DependencyKey } from '../../src/change/keys.js';
import { generateForProxy, type GenerateContext, type ProxyIdentity } from '../../src/generate/generate.js';
import { proxyConfigs, SharedParts, type GenerationCounters, type ResourceState } from '../../src/runtime/proxy-configs.js';
import { IncrementalTranslator, type ModelRevision } from '../../src/translate/incremental.js';
import { translateMeshes } from '../../src/translate/mesh-services.js';
import { ResourceEncoder } from '../../src/snapshot/encode.js';
import { buildSnapshot, type GeneratedConfig } from '../../src/snapshot/snapshot.js';
import { sidecarDataplane } from '../helpers/mesh-resources.js';
import { listFeed } from '../helpers/list-changes.js';

const dataplane = (name: string, address: string, service: string, outbound: readonly string[]): Resource => sidecarDataplane(name, address, service, outbound);

const service = (name: string, addresses: readonly string[]): Resource =>
  ({ type: 'Service', name, mesh: 'default', endpoints: addresses.map((address) => ({ address, port: 5432 })) }) as Resource;

/** web-01 calls ext and db, web-02 calls ext, api-01 calls db. */
function world(ext: readonly string[], db: readonly string[], web02Outbound: readonly string[] = ['ext']): Resource[] {
  return [
    { type: 'Mesh', name: 'default' } as Resource,
    dataplane('web-01', '10.0.0.1', 'web', ['ext', 'db']),
    dataplane('web-02', '10.0.0.2', 'web', web02Outbound),
    dataplane('api-01', '10.0.0.3', 'api', ['db']),
    service('ext', ext),
    service('db', db),
  ];
}

const PROXIES: ProxyIdentity[] = ['web-01', 'web-02', 'api-01'].map((name) => ({ mesh: 'default', name, flavor: 'envoy' }));

/** A config as bytes per type and name, plain protobuf (no template splicing). */
function bytesOf(config: GeneratedConfig | undefined): Record<string, Record<string, string>> {
  const result = config ? buildSnapshot(config, { encoder: new ResourceEncoder({ templates: false }) }) : undefined;
  const out: Record<string, Record<string, string>> = {};
  if (!result?.ok) return out;
  for (const [typeUrl, byName] of result.snapshot.resources) {
    out[typeUrl] = Object.fromEntries([...byName].map(([name, r]) => [name, Buffer.from(r.value).toString('hex')]).sort(([a], [b]) => (a! < b! ? -1 : 1)));
  }
  return out;
}

/** What a source that coalesced `earlier` and `later` delivers: the later model, the keys of both, counted from before `earlier`. */
function coalesced(earlier: ModelRevision, later: ModelRevision): ModelRevision {
  const changes = new Map<string, Set<DependencyKey>>();
  for (const revision of [earlier, later]) {
    for (const [mesh, keys] of revision.changes) {
      const union = changes.get(mesh) ?? new Set<DependencyKey>();
      for (const key of keys) union.add(key);
      changes.set(mesh, union);
    }
  }
  return { revision: later.revision, since: earlier.since, model: later.model, changes };
}

/** The proxies connected through proxyConfigs to a states Subject the test drives. */
function connected(first: readonly Resource[]): {
  translator: IncrementalTranslator;
  /** The translator's next revision, from `list` as the change from the list before. */
  next(list: readonly Resource[]): ModelRevision;
  deliver(revision: ModelRevision): void;
  configs: Map<string, GeneratedConfig>;
  counters: GenerationCounters;
  close(): void;
} {
  const cache = new DependencyCache();
  const translator = new IncrementalTranslator(undefined, cache);
  const context: GenerateContext = { cache };
  const shared = new SharedParts();
  const states = new Subject<ResourceState>();
  const counters: GenerationCounters = { proxyGenerations: 0, endpointPatches: 0, identityPatches: 0 };
  const configs = new Map<string, GeneratedConfig>();
  const subscriptions: Subscription[] = PROXIES.map((proxy) => proxyConfigs(proxy, states, new BehaviorSubject(0), counters).subscribe((config) => configs.set(proxy.name, config)));
  const deliver = (revision: ModelRevision): void => states.next({ revision, context, shared });
  const next = listFeed((change) => translator.apply(change));
  deliver(next(first));
  return { translator, next, deliver, configs, counters, close: () => subscriptions.forEach((s) => s.unsubscribe()) };
}

/** Every proxy holds what a fresh generation from the full translation of `list` gives. */
function expectFresh(configs: ReadonlyMap<string, GeneratedConfig>, list: readonly Resource[]): void {
  const model = translateMeshes(list, new DependencyCache());
  for (const proxy of PROXIES) expect(bytesOf(configs.get(proxy.name)), proxy.name).toEqual(bytesOf(generateForProxy(model, proxy, {})));
}

describe('a proxy that did not take every revision on its own', () => {
  it('patches EDS when the revisions it takes together are endpoint-only, with the endpoints of both', () => {
    // given three proxies holding their first config
    const run = connected(world(['10.9.0.1'], ['10.8.0.1']));
    try {
      expect(run.counters.proxyGenerations).toBe(3);

      // when ext's endpoints change, then db's, and the two revisions reach the proxies as one
      const first = run.next(world(['10.9.0.1', '10.9.0.2'], ['10.8.0.1']));
      const list = world(['10.9.0.1', '10.9.0.2'], ['10.8.0.1', '10.8.0.2']);
      const second = run.next(list);
      run.deliver(coalesced(first, second));

      // then nothing was generated: each proxy's EDS was patched (all three call ext or db)
      expect(run.counters.proxyGenerations).toBe(3);
      expect(run.counters.endpointPatches).toBe(3);
      // and each holds what a fresh generation gives, both changes included
      expectFresh(run.configs, list);
    } finally {
      run.close();
    }
  });

  it('generates only the proxy whose Dataplane changed, and patches EDS for the others, when an endpoint change and a Dataplane change come as one', () => {
    // given three proxies holding their first config
    const run = connected(world(['10.9.0.1'], ['10.8.0.1']));
    try {
      // when ext's endpoints change, then web-02 calls db too, and the two revisions reach the proxies as one
      const first = run.next(world(['10.9.0.1', '10.9.0.2'], ['10.8.0.1']));
      const list = world(['10.9.0.1', '10.9.0.2'], ['10.8.0.1'], ['ext', 'db']);
      const second = run.next(list);
      run.deliver(coalesced(first, second));

      // then web-02 was generated, web-01 (which calls ext) patched, api-01 (which does not) left alone
      expect(run.counters.proxyGenerations).toBe(4);
      expect(run.counters.endpointPatches).toBe(1);
      expectFresh(run.configs, list);
    } finally {
      run.close();
    }
  });

  it('does nothing when the revision it saw last comes again, even in a new state', () => {
    // given three proxies holding their first config
    const list = world(['10.9.0.1'], ['10.8.0.1']);
    const run = connected(list);
    try {
      // when the same revision is delivered again
      run.deliver(run.translator.latest);

      // then nothing was generated or patched (its keys count from a revision before the one seen)
      expect(run.counters).toEqual({ proxyGenerations: 3, endpointPatches: 0, identityPatches: 0 });
      expectFresh(run.configs, list);
    } finally {
      run.close();
    }
  });

  it('generates when a revision does not follow the one it saw last: its keys do not say what the skipped one changed', () => {
    // given three proxies holding their first config
    const run = connected(world(['10.9.0.1'], ['10.8.0.1']));
    try {
      // when ext's endpoints change, then db's, and the states skip the first revision
      run.next(world(['10.9.0.1', '10.9.0.2'], ['10.8.0.1']));
      const list = world(['10.9.0.1', '10.9.0.2'], ['10.8.0.1', '10.8.0.2']);
      run.deliver(run.next(list));

      // then every proxy was generated (reading the second revision's keys alone would miss ext's change)
      expect(run.counters.proxyGenerations).toBe(6);
      expect(run.counters.endpointPatches).toBe(0);
      expectFresh(run.configs, list);

      // when the next endpoint change follows the revision they saw, then it is an EDS patch again
      const next = world(['10.9.0.3'], ['10.8.0.1', '10.8.0.2']);
      run.deliver(run.next(next));
      expect(run.counters.proxyGenerations).toBe(6);
      expect(run.counters.endpointPatches).toBe(2);
      expectFresh(run.configs, next);
    } finally {
      run.close();
    }
  });
});

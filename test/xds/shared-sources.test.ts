/**
 * The sources each proxy keeps for NACK attribution (issue #11) are shared between proxies: a
 * proxy whose source map differs from its neighbours' only by its own inbound listener holds the
 * shared map plus that entry, not a map of its own (issue #11 idle memory). What each resource
 * is attributed to must stay exactly what generation says.
 */
import { BehaviorSubject, type Subscription } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Resource } from '../../src/api/types.js';
import type { MeshTlsMaterial } from '../../src/ca/workload-identity.js';
import { DependencyCache } from '../../src/change/dependency-cache.js';
import { generateForProxy, type GenerateContext } from '../../src/generate/generate.js';
import { secretMaterialFromResources } from '../helpers/secret-material.js';
import { firstChange } from '../helpers/list-changes.js';
import { proxyConfigs, SharedParts, type GenerationCounters, type ResourceState } from '../../src/runtime/proxy-configs.js';
import { IncrementalTranslator } from '../../src/translate/incremental.js';
import { MapWith, sourcesOf, type GeneratedConfig, type GeneratedSources } from '../../src/snapshot/snapshot.js';
import { LISTENER_TYPE } from '../../src/snapshot/types.js';

const material: MeshTlsMaterial = {
  identity: () => ({ certChainPem: 'CERT', keyPem: 'KEY', spiffeIds: [], serialHex: '1', notAfter: new Date(0) }),
  trustBundle: () => 'ROOTS',
};

const dataplane = (name: string, address: string, service: string, calls: string[]): Resource =>
  ({
    type: 'Dataplane',
    name,
    mesh: 'default',
    networking: {
      address,
      inbound: [{ port: 8080, servicePort: 18080, tags: { 'kuma.io/service': service, 'kuma.io/protocol': 'http' } }],
      outbound: calls.map((s, i) => ({ port: 10001 + i, tags: { 'kuma.io/service': s } })),
    },
  }) as unknown as Resource;

const resources = [
  {
    type: 'Mesh',
    name: 'default',
    mtls: {
      enabledBackend: 'ca-1',
      backends: [{ name: 'ca-1', type: 'builtin', mode: 'STRICT', dpCert: { rotation: { expiration: '24h', expirationSeconds: 86400 } }, conf: { caCert: { RSAbits: 2048, expiration: '10y', expirationSeconds: 315360000 } } }],
    },
  },
  dataplane('web-01', '10.0.0.1', 'web', ['billing']),
  dataplane('web-02', '10.0.0.2', 'web', ['billing']),
  dataplane('web-03', '10.0.0.3', 'web', ['billing']),
  dataplane('web-04', '10.0.0.4', 'web', ['billing']),
  dataplane('billing-01', '10.0.1.1', 'billing', []),
  { type: 'TrafficPermission', name: 'web-to-billing', mesh: 'default', sources: [{ match: { 'kuma.io/service': 'web' } }], destinations: [{ match: { 'kuma.io/service': 'billing' } }] },
  { type: 'TrafficPermission', name: 'edge-to-web', mesh: 'default', sources: [{ match: { 'kuma.io/service': 'edge' } }], destinations: [{ match: { 'kuma.io/service': 'web' } }] },
] as unknown as Resource[];

const PROXIES = ['web-01', 'web-02', 'web-03', 'web-04', 'billing-01'];

/** Every (type, name) a config holds, with the sources `sourcesOf` gives it. */
function attribution(config: GeneratedConfig, sources: GeneratedSources | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [typeUrl, list] of config.resources) {
    for (const resource of list) {
      const name = String(resource['name'] ?? resource['cluster_name']);
      out[`${typeUrl} ${name}`] = sourcesOf(sources, typeUrl, name);
    }
  }
  return out;
}

describe('sources kept per proxy', () => {
  it('attribute every resource as generation does, and share all but a proxy’s own inbound listener', () => {
    // given proxies of one service generated through proxyConfigs, on one cache (as the control plane does)
    const context: GenerateContext = { meshTls: material, secrets: secretMaterialFromResources(resources, () => undefined), cache: new DependencyCache() };
    const revision = new IncrementalTranslator().apply(firstChange(resources));
    const states = new BehaviorSubject<ResourceState>({ revision, context, shared: new SharedParts() });
    const counters: GenerationCounters = { proxyGenerations: 0, endpointPatches: 0, identityPatches: 0 };
    const configs = new Map<string, GeneratedConfig>();
    const subscriptions: Subscription[] = PROXIES.map((name) =>
      proxyConfigs({ mesh: 'default', name, flavor: 'envoy' }, states, new BehaviorSubject(0), counters).subscribe((config) => configs.set(name, config)),
    );
    try {
      // then each resource is attributed to exactly what a plain generation attributes it to
      for (const name of PROXIES) {
        const oracle = generateForProxy(revision.model, { mesh: 'default', name, flavor: 'envoy' }, context);
        const config = configs.get(name)!;
        expect(attribution(oracle, config.sources), name).toEqual(attribution(oracle, oracle.sources));
        expect(sourcesOf(config.sources, LISTENER_TYPE, 'no-such-listener'), name).toEqual(sourcesOf(oracle.sources, LISTENER_TYPE, 'no-such-listener'));
      }
      const web = ['web-01', 'web-02', 'web-03', 'web-04'].map((name) => configs.get(name)!.sources!);
      // the inbound listener of each web proxy comes from its TrafficPermission
      expect(sourcesOf(web[1], LISTENER_TYPE, 'inbound:10.0.0.2:8080')).toContain('TrafficPermission/edge-to-web');

      // and, once the first proxies of the service made the shared maps, a web proxy holds them
      // plus its own inbound listener: one MapWith per level, over the same bases
      const listeners = (s: GeneratedSources): MapWith<readonly string[]> => s.extra.get(LISTENER_TYPE) as MapWith<readonly string[]>;
      for (const [i, sources] of web.entries()) {
        if (i === 0) continue;
        expect(listeners(sources), `web-0${i + 1}`).toBeInstanceOf(MapWith);
        expect(listeners(sources).key).toBe(`inbound:10.0.0.${i + 1}:8080`);
        expect(listeners(sources).base).toBe(listeners(web[1]!).base);
      }
      const [, , third, fourth] = web;
      expect(third!.extra).toBeInstanceOf(MapWith);
      expect(fourth!.extra).toBeInstanceOf(MapWith);
      expect((fourth!.extra as MapWith<unknown>).base).toBe((third!.extra as MapWith<unknown>).base);
      expect((fourth!.extra as MapWith<unknown>).key).toBe(LISTENER_TYPE);
    } finally {
      for (const subscription of subscriptions) subscription.unsubscribe();
    }
  });
});

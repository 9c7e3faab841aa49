/**
 * A rotation or a trust bundle change is an SDS-only update (issue #11): no proxy config is
 * generated, and every other type of the snapshot stays the same map (so the session pushes SDS
 * alone). Driven through proxyConfigs and the real SnapshotCache with fake identity material.
 */
import { BehaviorSubject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Resource } from '../../src/api/types.js';
import type { MeshTlsMaterial, WorkloadIdentity } from '../../src/ca/workload-identity.js';
import type { ProxyIdentity } from '../../src/generate/generate.js';
import { proxyConfigs, type GenerationCounters, type ResourceState, type TickSource } from '../../src/runtime/proxy-configs.js';
import type { DependencyKey } from '../../src/change/keys.js';
import { IncrementalTranslator } from '../../src/translate/incremental.js';
import { SnapshotCache } from '../../src/snapshot/cache.js';
import { ResourceEncoder } from '../../src/snapshot/encode.js';
import type { Snapshot } from '../../src/snapshot/snapshot.js';
import { PUSH_ORDER, SECRET_TYPE } from '../../src/snapshot/types.js';
import { firstChange } from '../helpers/list-changes.js';

const resources = [
  {
    type: 'Mesh',
    name: 'default',
    mtls: {
      enabledBackend: 'ca-1',
      backends: [{ name: 'ca-1', type: 'builtin', mode: 'STRICT', dpCert: { rotation: { expiration: '24h', expirationSeconds: 86400 } }, conf: { caCert: { RSAbits: 2048, expiration: '10y', expirationSeconds: 315360000 } } }],
    },
  },
  ...['web-01', 'web-02'].map((name, i) => ({
    type: 'Dataplane',
    name,
    mesh: 'default',
    networking: { address: `10.0.0.${i + 1}`, inbound: [{ port: 8080, tags: { 'kuma.io/service': 'web', 'kuma.io/protocol': 'http' } }], outbound: [{ port: 10001, tags: { 'kuma.io/service': 'web' } }] },
  })),
] as unknown as Resource[];

const identity = (serial: string): WorkloadIdentity => ({ certChainPem: `CERT-${serial}`, keyPem: `KEY-${serial}`, spiffeIds: [], serialHex: serial, notAfter: new Date(0) });

describe('identity ticks', () => {
  it('update SDS alone, without generating any proxy config', () => {
    // given two connected sidecars holding their identity and the mesh trust bundle
    const identities = new Map([
      ['web-01', identity('1')],
      ['web-02', identity('2')],
    ]);
    let bundle = 'ROOT-1';
    const material: MeshTlsMaterial = { identity: (_mesh, name) => identities.get(name), trustBundle: () => bundle };
    const states = new BehaviorSubject<ResourceState>({ revision: new IncrementalTranslator().apply(firstChange(resources)), context: { meshTls: material } });
    const proxies: ProxyIdentity[] = [
      { mesh: 'default', name: 'web-01', flavor: 'envoy' },
      { mesh: 'default', name: 'web-02', flavor: 'envoy' },
    ];
    const ticks = new Map(proxies.map((p) => [p.name, new BehaviorSubject(0)]));
    const counters: GenerationCounters = { proxyGenerations: 0, endpointPatches: 0, identityPatches: 0 };
    const cache = new SnapshotCache((node) => proxyConfigs(proxies.find((p) => p.name === node.id)!, states, ticks.get(node.id)!, counters), { error: () => undefined }, { encoder: new ResourceEncoder() });
    const seen = new Map<string, Snapshot[]>(proxies.map((p) => [p.name, []]));
    const subscriptions = proxies.map((p) => cache.watch({ id: p.name, cluster: 'c', metadata: { mesh: 'default' } }).subscribe((s) => seen.get(p.name)!.push(s)));
    try {
      expect(counters.proxyGenerations).toBe(2);

      // when the trust bundle grows (a CA switch) and every proxy is ticked, then web-01 rotates
      bundle = 'ROOT-1\nROOT-2';
      for (const tick of ticks.values()) tick.next(tick.value + 1);
      identities.set('web-01', identity('3'));
      ticks.get('web-01')!.next(2);

      // then nothing was generated: three SDS-only updates
      expect(counters.proxyGenerations).toBe(2);
      expect(counters.identityPatches).toBe(3);
      for (const [name, snapshots] of seen) {
        const [first, ...later] = snapshots;
        expect(later.length, name).toBe(name === 'web-01' ? 2 : 1);
        for (const snapshot of later) {
          for (const typeUrl of PUSH_ORDER) {
            if (typeUrl === SECRET_TYPE) expect(snapshot.typeVersions.get(typeUrl)).not.toBe(first!.typeVersions.get(typeUrl));
            else expect(snapshot.resources.get(typeUrl), `${name} ${typeUrl}`).toBe(first!.resources.get(typeUrl));
          }
        }
      }
      const bundleSecret = seen.get('web-02')!.at(-1)!.resources.get(SECRET_TYPE)!.get('mesh-ca:default')!;
      expect(Buffer.from(bundleSecret.value).toString()).toContain('ROOT-2');
    } finally {
      for (const subscription of subscriptions) subscription.unsubscribe();
    }
  });

  it('are read by their keys: a sidecar skips an event it does not read and patches on its own certificate', () => {
    // given two connected sidecars whose ticks come with the identity keys, as the identity manager tells them
    const identities = new Map([
      ['web-01', identity('1')],
      ['web-02', identity('2')],
    ]);
    let identityReads = 0;
    const material: MeshTlsMaterial = {
      identity: (_mesh, name) => {
        identityReads++;
        return identities.get(name);
      },
      trustBundle: () => 'ROOT-1',
    };
    const states = new BehaviorSubject<ResourceState>({ revision: new IncrementalTranslator().apply(firstChange(resources)), context: { meshTls: material } });
    const proxies: ProxyIdentity[] = [
      { mesh: 'default', name: 'web-01', flavor: 'envoy' },
      { mesh: 'default', name: 'web-02', flavor: 'envoy' },
    ];
    const listeners = new Map<string, { next(tick: number, keys?: readonly DependencyKey[]): void }>();
    const ticks: TickSource = {
      listen: (ref, listener) => {
        listeners.set(ref.name, listener);
        listener.next(0);
        return () => listeners.delete(ref.name);
      },
    };
    const counters: GenerationCounters = { proxyGenerations: 0, endpointPatches: 0, identityPatches: 0 };
    const cache = new SnapshotCache((node) => proxyConfigs(proxies.find((p) => p.name === node.id)!, states, ticks, counters), { error: () => undefined }, { encoder: new ResourceEncoder() });
    const subscriptions = proxies.map((p) => cache.watch({ id: p.name, cluster: 'c', metadata: { mesh: 'default' } }).subscribe(() => undefined));
    try {
      expect(counters.proxyGenerations).toBe(2);
      const readsBefore = identityReads;

      // when a gateway's server certificate of the mesh is issued (told to every proxy of the mesh)
      const serverCertificate = ['ServerCertificate/default/shop.example.com'];
      for (const listener of listeners.values()) listener.next(1, serverCertificate);

      // then no sidecar read its identity, patched or generated
      expect(identityReads).toBe(readsBefore);
      expect(counters.identityPatches).toBe(0);
      expect(counters.proxyGenerations).toBe(2);

      // when web-01's certificate rotates
      identities.set('web-01', identity('3'));
      listeners.get('web-01')!.next(2, ['Certificate/default/web-01']);

      // then web-01's SDS is patched, and nothing is generated
      expect(counters.identityPatches).toBe(1);
      expect(counters.proxyGenerations).toBe(2);
    } finally {
      for (const subscription of subscriptions) subscription.unsubscribe();
    }
  });
});

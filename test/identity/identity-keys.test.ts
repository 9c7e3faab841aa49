/**
 * The identity manager tells each version of a proxy's material with the dependency keys it
 * stands for (change/keys.ts): exactly these, for an issuance, a rotation, a CA switch (both
 * bundle steps and the re-issuance between them), a switch taken back, and mTLS turned off.
 */
import { Subject } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Resource } from '../../src/api/types.js';
import { MemoryBlobStore } from '../../src/ca/providers/builtin.js';
import { defaultCaProviders, MeshCaRegistry } from '../../src/ca/providers/registry.js';
import { DependencyCache } from '../../src/change/dependency-cache.js';
import { ALL_NAMES, dependencyKey, kindOfKey, type DependencyKey } from '../../src/change/keys.js';
import { IdentityManager, IMMEDIATE_DELIVERY, type MaterialDelivery } from '../../src/identity/manager.js';
import { silentLogger } from '../../src/log/logger.js';
import { listFeed } from '../helpers/list-changes.js';
import { waitFor } from '../helpers/wait.js';
import { FakeTime } from './fake-time.js';
import { builtinBackend, dataplane, mesh } from './fixtures.js';

const START = new Date('2030-01-01T00:00:00Z');
const registry = new MeshCaRegistry(defaultCaProviders(new MemoryBlobStore()));
const managers: IdentityManager[] = [];
const stops: Array<() => void> = [];

afterEach(() => {
  for (const stop of stops.splice(0)) stop();
  for (const m of managers.splice(0)) m.close();
});

interface Told {
  readonly version: number;
  readonly keys: readonly DependencyKey[] | undefined;
}

function harness(resources: readonly Resource[], delivery: MaterialDelivery = IMMEDIATE_DELIVERY) {
  const time = new FakeTime(START);
  const manager = new IdentityManager({ cas: registry, log: silentLogger(), clock: time, scheduler: time, random: () => 0.5, settleMs: 0, switchWindowMs: 2000, delivery });
  managers.push(manager);
  // Each list reaches the manager as the change from the list before, as the control plane's sources deliver them.
  const update = listFeed((change) => manager.update(change));
  update(resources);
  const told = new Map<string, Told[]>();
  const connect = (name: string): void => {
    const list: Told[] = [];
    told.set(name, list);
    stops.push(manager.listen({ mesh: 'default', name }, { next: (version, keys) => list.push({ version, keys }) }));
  };
  /** The key lists told to `name`, in order. */
  const keysOf = (name: string): Array<readonly DependencyKey[] | undefined> => (told.get(name) ?? []).map((t) => t.keys);
  return { time, manager, update, connect, keysOf };
}

const cert = (proxy: string): DependencyKey => `Certificate/default/${proxy}`;
const bundleAndPhase = (backend: string): DependencyKey[] => [`TrustBundle/default/${backend}`, `CaPhase/default/${backend}`];
const backends = [builtinBackend('ca-1', { dpCertSeconds: 1000 }), builtinBackend('ca-2', { dpCertSeconds: 1000 })];

describe('identity events as dependency keys', () => {
  it('an issuance and a rotation stand for the proxy certificate key, of the Certificate kind', async () => {
    // given a proxy of an mTLS mesh
    const workloads = [dataplane('web-01', ['web'])];
    const h = harness([mesh('default', backends, 'ca-1'), ...workloads]);

    // when it connects and gets its first certificate
    h.connect('web-01');
    const first = await waitFor('the first certificate', () => h.manager.identity('default', 'web-01'));

    // then it was told the certificate key alone
    expect(h.keysOf('web-01')).toEqual([[cert('web-01')]]);
    expect(kindOfKey(cert('web-01'))).toBe('Certificate');
    expect(cert('web-01')).toBe(dependencyKey('Certificate', 'default', 'web-01'));

    // when the rotation (at 4/5 of 1000 s) fires
    h.time.advance(800_000);
    await waitFor('the rotated certificate', () => (h.manager.identity('default', 'web-01')?.serialHex !== first.serialHex ? true : undefined));

    // then again the certificate key alone
    expect(h.keysOf('web-01')).toEqual([[cert('web-01')], [cert('web-01')]]);
  });

  it('a CA switch: the new roots join (bundle and phase keys), each proxy is re-issued (its certificate key), the old roots leave', async () => {
    // given two proxies holding ca-1 certificates
    const workloads = [dataplane('web-01', ['web']), dataplane('api-01', ['api'])];
    const h = harness([mesh('default', backends, 'ca-1'), ...workloads]);
    h.connect('web-01');
    h.connect('api-01');
    await waitFor('ca-1 certificates', () => ['web-01', 'api-01'].every((n) => h.manager.identity('default', n)?.backend === 'ca-1'));

    // when the mesh switches to ca-2 (every delivery confirmed at once, no settle delay)
    h.update([mesh('default', backends, 'ca-2'), ...workloads]);
    await waitFor('the switch started', () => h.manager.switching('default') || undefined);

    // then each proxy was told the joining backend's bundle and phase keys, once
    for (const name of ['web-01', 'api-01']) expect(h.keysOf(name)).toEqual([[cert(name)], bundleAndPhase('ca-2')]);

    // when the spread re-issuance fires and every proxy holds a ca-2 certificate
    h.time.advance(2000);
    await waitFor('the switch done', () => (!h.manager.switching('default') && ['web-01', 'api-01'].every((n) => h.manager.identity('default', n)?.backend === 'ca-2')) || undefined);

    // then each was told its certificate key, then the leaving backend's bundle and phase keys
    for (const name of ['web-01', 'api-01']) expect(h.keysOf(name)).toEqual([[cert(name)], bundleAndPhase('ca-2'), [cert(name)], bundleAndPhase('ca-1')]);
  });

  it('a switch taken back before the new CA issues: the new roots leave again, under the same keys', async () => {
    // given a switch to ca-2 whose bundle step never completes (no delivery is confirmed)
    const never: MaterialDelivery = { delivered: () => false, changes: new Subject<void>() };
    const workloads = [dataplane('web-01', ['web'])];
    const h = harness([mesh('default', backends, 'ca-1'), ...workloads], never);
    h.connect('web-01');
    await waitFor('a ca-1 certificate', () => h.manager.identity('default', 'web-01'));
    h.update([mesh('default', backends, 'ca-2'), ...workloads]);
    await waitFor('the switch started', () => h.manager.switching('default') || undefined);

    // when the mesh goes back to ca-1
    h.update([mesh('default', backends, 'ca-1'), ...workloads]);

    // then ca-2's roots left the bundle: its keys again, and no new certificate
    expect(h.manager.switching('default')).toBe(false);
    expect(h.keysOf('web-01')).toEqual([[cert('web-01')], bundleAndPhase('ca-2'), bundleAndPhase('ca-2')]);
  });

  it('mTLS turned off: the proxy certificate key with the bundle and phase keys of the CA that left', async () => {
    // given a proxy holding a ca-1 certificate
    const workloads = [dataplane('web-01', ['web'])];
    const h = harness([mesh('default', backends, 'ca-1'), ...workloads]);
    h.connect('web-01');
    await waitFor('a ca-1 certificate', () => h.manager.identity('default', 'web-01'));

    // when the mesh disables mTLS
    h.update([mesh('default', backends), ...workloads]);

    // then one version, standing for its certificate and for ca-1 leaving the bundle
    expect(h.keysOf('web-01')).toEqual([[cert('web-01')], [cert('web-01'), ...bundleAndPhase('ca-1')]]);
  });

  it('a new listener is told the current version without keys (the state to start from, not a change)', async () => {
    // given a proxy with a certificate
    const workloads = [dataplane('web-01', ['web'])];
    const h = harness([mesh('default', backends, 'ca-1'), ...workloads]);
    h.connect('web-01');
    await waitFor('a certificate', () => h.manager.identity('default', 'web-01'));

    // when a second stream of the proxy listens
    const told: Told[] = [];
    stops.push(h.manager.listen({ mesh: 'default', name: 'web-01' }, { next: (version, keys) => told.push({ version, keys }) }));

    // then it hears the current version, with no keys
    expect(told).toEqual([{ version: 0, keys: undefined }]);
  });

  it('are keys a dependency cache evicts by: a reader of the whole mesh bundle goes when one backend joins it', () => {
    // given a cache entry that read the whole trust bundle of the mesh, and one that read a certificate
    const cache = new DependencyCache();
    cache.get('bundle reader', () => cache.depend(dependencyKey('TrustBundle', 'default', ALL_NAMES)));
    cache.get('certificate reader', () => cache.depend(cert('web-01')));

    // when the keys of ca-2 joining the bundle are the change
    cache.invalidate(bundleAndPhase('ca-2'));

    // then exactly the bundle reader is evicted
    expect(cache.stats.evictedByChange).toBe(1);
    expect(cache.stats.entries).toBe(1);
  });
});

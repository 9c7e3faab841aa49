/**
 * What an idle proxy keeps of its config (issue #11, idle memory per proxy): once its snapshot is
 * built, the plain objects of every encoded list but EDS and SDS are dropped (stand-ins), and the
 * kept config still builds exactly the snapshots the full config builds.
 */
import { Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { SnapshotCache, type ConfigReceiver } from '../../src/snapshot/cache.js';
import { ResourceEncoder, type ResourceObject } from '../../src/snapshot/encode.js';
import { retainConfig } from '../../src/snapshot/retain.js';
import { buildSnapshot, isStandIn, MapWith, type GeneratedConfig, type Snapshot } from '../../src/snapshot/snapshot.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { cluster, endpoints, listener } from '../helpers/controlled-watcher.js';

const secret = (name: string): ResourceObject => ({ name, generic_secret: { secret: { inline_string: `s-${name}` } } });

function config(eds: readonly ResourceObject[], port = 8080): GeneratedConfig {
  return {
    resources: new Map<string, readonly ResourceObject[]>([
      [SECRET_TYPE, [secret('s')]],
      [CLUSTER_TYPE, [cluster('a'), cluster('b')]],
      [ENDPOINT_TYPE, eds],
      [LISTENER_TYPE, [listener('l', port)]],
    ]),
    refs: [
      { typeUrl: ENDPOINT_TYPE, name: 'a', from: 'Cluster a' },
      { typeUrl: ENDPOINT_TYPE, name: 'b', from: 'Cluster b' },
    ],
    sources: { owner: ['Dataplane/web'], extra: new Map() },
  };
}

function built(result: ReturnType<typeof buildSnapshot>): Snapshot {
  if (!result.ok) throw new Error(result.errors.join('; '));
  return result.snapshot;
}

function bytes(snapshot: Snapshot | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [typeUrl, map] of snapshot?.resources ?? []) out[typeUrl] = [...map.values()].map((r) => `${r.name}=${Buffer.from(r.value).toString('hex')}`).sort();
  return out;
}

describe('the config a proxy keeps once its snapshot is built', () => {
  it('holds stand-ins instead of the encoded plain objects, except EDS and SDS, and keeps refs and sources', () => {
    const encoder = new ResourceEncoder();
    const full = config([endpoints('a', 1), endpoints('b', 2)]);
    const snapshot = built(buildSnapshot(full, { encoder }));

    const kept = retainConfig(full, snapshot);

    expect(kept).not.toBe(full);
    for (const typeUrl of [CLUSTER_TYPE, LISTENER_TYPE]) {
      expect(isStandIn(kept.resources.get(typeUrl)!), typeUrl).toBe(true);
      expect(kept.resources.get(typeUrl), typeUrl).toHaveLength(0);
    }
    expect(kept.resources.get(ENDPOINT_TYPE)).toBe(full.resources.get(ENDPOINT_TYPE));
    expect(kept.resources.get(SECRET_TYPE)).toBe(full.resources.get(SECRET_TYPE));
    expect(kept.refs).toBe(full.refs);
    expect(kept.sources).toBe(full.sources);
    // Kept again (nothing left to replace): the same object, so patches over it stay patches.
    expect(retainConfig(kept, snapshot)).toBe(kept);
  });

  it('builds the same snapshot as the full config: alone, with any encoder, and as the base of an endpoint patch', () => {
    const encoder = new ResourceEncoder();
    const full = config([endpoints('a', 1), endpoints('b', 2)]);
    const snapshot = built(buildSnapshot(full, { encoder }));
    const kept = retainConfig(full, snapshot);

    // alone, with another encoder: the stand-ins are their sets
    const alone = built(buildSnapshot(kept, { encoder: new ResourceEncoder() }));
    expect(alone.resources.get(CLUSTER_TYPE)).toBe(snapshot.resources.get(CLUSTER_TYPE));
    expect(alone.resources.get(LISTENER_TYPE)).toBe(snapshot.resources.get(LISTENER_TYPE));
    expect(bytes(alone)).toEqual(bytes(snapshot));

    // an endpoint patch over the kept config, with the kept config as previous
    const eds = [endpoints('a', 1), endpoints('b', 3)];
    const patch: GeneratedConfig = { ...kept, resources: new MapWith(kept.resources, ENDPOINT_TYPE, eds) };
    const encodesBefore = encoder.stats.encodes;
    const patched = built(buildSnapshot(patch, { encoder, previous: { config: kept, snapshot } }));
    expect(encoder.stats.encodes - encodesBefore).toBe(1);
    expect(bytes(patched)).toEqual(bytes(built(buildSnapshot(config(eds), { encoder: new ResourceEncoder() }))));

    // an identity-like patch (a new map with SDS replaced) reuses every other set
    const sds = new Map(kept.resources);
    sds.set(SECRET_TYPE, [secret('s2')]);
    const rotated = built(buildSnapshot({ ...kept, resources: sds }, { encoder, previous: { config: kept, snapshot } }));
    expect(rotated.resources.get(LISTENER_TYPE)).toBe(snapshot.resources.get(LISTENER_TYPE));
    expect([...rotated.resources.get(SECRET_TYPE)!.keys()]).toEqual(['s2']);
  });

  it('is what the snapshot cache keeps and hands back to the producer: a later endpoint patch over it is served with the full content', () => {
    // A producer listened to directly (as runtime/proxy-configs.ts is), which sees what the cache hands back.
    let receiver: ConfigReceiver | undefined;
    const stream = Object.assign(new Observable<GeneratedConfig>(), {
      listen(sink: ConfigReceiver): () => void {
        receiver = sink;
        return () => (receiver = undefined);
      },
    });
    const configs = { next: (c: GeneratedConfig): GeneratedConfig | void => receiver!.next(c) };
    const cache = new SnapshotCache(() => stream, { error: (obj, msg) => expect.fail(`${msg} ${JSON.stringify(obj)}`) }, { encoder: new ResourceEncoder() });
    const seen: Snapshot[] = [];
    const subscription = cache.watch({ id: 'web', cluster: 'test', metadata: {} }).subscribe((s) => seen.push(s));
    try {
      const full = config([endpoints('a', 1), endpoints('b', 2)]);
      const kept = configs.next(full);
      if (!kept) throw new Error('the cache handed back no kept form');
      expect(kept).not.toBe(full);
      expect(isStandIn(kept.resources.get(LISTENER_TYPE)!)).toBe(true);

      // the producer patches what it kept (as runtime/proxy-configs.ts does)
      const eds = [endpoints('a', 4), endpoints('b', 2)];
      configs.next({ ...kept, resources: new MapWith(kept.resources, ENDPOINT_TYPE, eds) });

      expect(seen).toHaveLength(2);
      expect(bytes(seen[1])).toEqual(bytes(built(buildSnapshot(config(eds), { encoder: new ResourceEncoder() }))));
      expect(seen[1]!.resources.get(LISTENER_TYPE)).toBe(seen[0]!.resources.get(LISTENER_TYPE));
      expect(cache.lastSnapshot('web')).toBe(seen[1]);

      // a regeneration with a changed listener is built from its own plain objects
      configs.next(config(eds, 9090));
      expect(seen).toHaveLength(3);
      expect(bytes(seen[2])).toEqual(bytes(built(buildSnapshot(config(eds, 9090), { encoder: new ResourceEncoder() }))));
    } finally {
      subscription.unsubscribe();
    }
  });
});

/**
 * An endpoint patch (issue #11): the config is the previous one with its EDS list replaced
 * (MapWith), and the snapshot built from it is the previous one with its EDS set replaced. It must
 * hold exactly what a snapshot built from a plain copy of the same lists holds, and be checked
 * for consistency the same way.
 */
import { describe, expect, it } from 'vitest';
import { ResourceEncoder, type ResourceObject } from '../../src/snapshot/encode.js';
import { buildSnapshot, MapWith, replacedKey, sameSnapshotContent, type GeneratedConfig, type Snapshot } from '../../src/snapshot/snapshot.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE } from '../../src/snapshot/types.js';
import { cluster, endpoints, listener } from '../helpers/controlled-watcher.js';

function config(eds: readonly ResourceObject[]): GeneratedConfig {
  return {
    resources: new Map<string, readonly ResourceObject[]>([
      [CLUSTER_TYPE, [cluster('a'), cluster('b')]],
      [ENDPOINT_TYPE, eds],
      [LISTENER_TYPE, [listener('l', 8080)]],
    ]),
    refs: [
      { typeUrl: ENDPOINT_TYPE, name: 'a', from: 'Cluster a' },
      { typeUrl: ENDPOINT_TYPE, name: 'b', from: 'Cluster b' },
    ],
  };
}

function built(result: ReturnType<typeof buildSnapshot>): Snapshot {
  if (!result.ok) throw new Error(result.errors.join('; '));
  return result.snapshot;
}

function versions(snapshot: Snapshot): Record<string, string> {
  return Object.fromEntries(snapshot.typeVersions);
}

describe('snapshot of an endpoint patch', () => {
  it('replaces the EDS set over the previous snapshot, with the content a full build of the same lists has', () => {
    // given a proxy's snapshot
    const encoder = new ResourceEncoder();
    const first = config([endpoints('a', 1), endpoints('b', 2)]);
    const snapshot = built(buildSnapshot(first, { encoder }));

    // when its EDS list is replaced by a patch, and the same lists are built from a plain copy
    const patchedConfig: GeneratedConfig = { ...first, resources: new MapWith(first.resources, ENDPOINT_TYPE, [endpoints('a', 1), endpoints('b', 3)]) };
    const patched = built(buildSnapshot(patchedConfig, { encoder, previous: { config: first, snapshot } }));
    const copied = built(buildSnapshot({ ...patchedConfig, resources: new Map(patchedConfig.resources) }, { encoder, previous: { config: first, snapshot } }));

    // then only the EDS set differs from the previous snapshot, and both builds hold the same sets
    expect(replacedKey(snapshot.resources, patched.resources)).toBe(ENDPOINT_TYPE);
    expect(patched.resources.get(CLUSTER_TYPE)).toBe(snapshot.resources.get(CLUSTER_TYPE));
    expect(patched.resources.get(LISTENER_TYPE)).toBe(snapshot.resources.get(LISTENER_TYPE));
    expect([...patched.resources.keys()]).toEqual([...copied.resources.keys()]);
    for (const [typeUrl, map] of copied.resources) expect(patched.resources.get(typeUrl)).toBe(map);
    expect(versions(patched)).toEqual(versions(copied));
    expect(versions(patched)[ENDPOINT_TYPE]).not.toBe(versions(snapshot)[ENDPOINT_TYPE]);
    expect(sameSnapshotContent(snapshot, patched)).toBe(false);
    expect(sameSnapshotContent(copied, patched)).toBe(true);

    // and a second patch of the same type replaces it over the same base (no chain), back to equal content
    const backConfig: GeneratedConfig = { ...patchedConfig, resources: new MapWith(patchedConfig.resources, ENDPOINT_TYPE, [endpoints('a', 1), endpoints('b', 2)]) };
    const back = built(buildSnapshot(backConfig, { encoder, previous: { config: patchedConfig, snapshot: patched } }));
    expect((back.resources as MapWith<unknown>).base).toBe(snapshot.resources);
    expect(back.resources.get(ENDPOINT_TYPE)).toBe(snapshot.resources.get(ENDPOINT_TYPE));
    expect(sameSnapshotContent(snapshot, back)).toBe(true);
    expect(sameSnapshotContent(back, snapshot)).toBe(true);
  });

  it('refuses a patch whose EDS set lacks an assignment a cluster refers to, as a full build does', () => {
    const encoder = new ResourceEncoder();
    const first = config([endpoints('a', 1), endpoints('b', 2)]);
    const snapshot = built(buildSnapshot(first, { encoder }));

    // when the patch drops the assignment of cluster b
    const broken: GeneratedConfig = { ...first, resources: new MapWith(first.resources, ENDPOINT_TYPE, [endpoints('a', 1)]) };
    const result = buildSnapshot(broken, { encoder, previous: { config: first, snapshot } });

    // then the snapshot is refused with the missing reference named
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.errors).toEqual([`Cluster b refers to missing ${ENDPOINT_TYPE} "b"`]);
  });
});

describe('MapWith', () => {
  it('reads as its base with one entry replaced or added, in the base order', () => {
    const base = new Map([
      ['x', 1],
      ['y', 2],
    ]);
    const replaced = new MapWith(base, 'x', 10);
    expect([...replaced]).toEqual([
      ['x', 10],
      ['y', 2],
    ]);
    expect(replaced.size).toBe(2);
    const added = new MapWith(base, 'z', 3);
    expect([...added.keys()]).toEqual(['x', 'y', 'z']);
    expect([...added.values()]).toEqual([1, 2, 3]);
    expect(added.size).toBe(3);
    expect(added.has('z') && added.has('x') && !added.has('w')).toBe(true);
    const seen: [string, number][] = [];
    added.forEach((value, key) => seen.push([key, value]));
    expect(seen).toEqual([...added.entries()]);
    // replacing the same key again is over the same base; another key chains once
    expect(new MapWith(replaced, 'x', 11).base).toBe(base);
    expect(new MapWith(replaced, 'y', 20).base).toBe(replaced);
    expect(replacedKey(replaced, new MapWith(replaced, 'x', 12))).toBe('x');
    expect(replacedKey(base, replaced)).toBe('x');
    expect(replacedKey(replaced, base)).toBeUndefined();
    expect(replacedKey(replaced, new MapWith(replaced, 'y', 20))).toBe('y');
  });
});

/**
 * Sets of a type built again and again from new lists of the same content (every proxy of one
 * service builds its clusters' list) are found by their SotW key once seen twice (snapshot.ts
 * `intern`), without hashing it again: the set found must be the one of the same content, with
 * the version its content hashes to, and a list differing in one resource must not find it.
 */
import { describe, expect, it } from 'vitest';
import { ResourceEncoder, type ResourceObject } from '../../src/snapshot/encode.js';
import { buildSnapshot, sortedVersion, typeSet, type Snapshot } from '../../src/snapshot/snapshot.js';
import { CLUSTER_TYPE } from '../../src/snapshot/types.js';
import { cluster } from '../helpers/controlled-watcher.js';

function built(clusters: readonly ResourceObject[], encoder: ResourceEncoder): Snapshot {
  const result = buildSnapshot({ resources: new Map([[CLUSTER_TYPE, clusters]]), refs: [] }, { encoder });
  if (!result.ok) throw new Error(result.errors.join('; '));
  return result.snapshot;
}

describe('shared sets by SotW key', () => {
  it('gives every build of the same content the same set and version, and another content its own', () => {
    const encoder = new ResourceEncoder();
    // given the same clusters, as new lists (and new objects) in varying order, built five times
    const sets = [0, 1, 2, 3, 4].map((i) => built(i % 2 === 0 ? [cluster('shared-a'), cluster('shared-b')] : [cluster('shared-b'), cluster('shared-a')], encoder).resources.get(CLUSTER_TYPE)!);
    // then they are one set, whose version is the hash of its sorted content
    for (const set of sets) expect(set).toBe(sets[0]);
    expect(typeSet(sets[0]!).version).toBe(sortedVersion(typeSet(sets[0]!).sorted));
    expect(typeSet(sets[0]!).names).toEqual(['shared-a', 'shared-b']);

    // when one cluster differs (same names, another content), or one is missing, built three times each
    const changed = [0, 1, 2].map(() => built([cluster('shared-a'), cluster('shared-b', 7)], encoder).resources.get(CLUSTER_TYPE)!);
    const fewer = [0, 1, 2].map(() => built([cluster('shared-a')], encoder).resources.get(CLUSTER_TYPE)!);

    // then each is its own set, with its own content and the version of that content
    expect(changed[0]).not.toBe(sets[0]);
    for (const set of changed) expect(set).toBe(changed[0]);
    expect(typeSet(changed[0]!).version).not.toBe(typeSet(sets[0]!).version);
    expect(typeSet(changed[0]!).version).toBe(sortedVersion(typeSet(changed[0]!).sorted));
    expect(Buffer.from(changed[0]!.get('shared-b')!.value).equals(Buffer.from(sets[0]!.get('shared-b')!.value))).toBe(false);
    for (const set of fewer) expect(set).toBe(fewer[0]);
    expect([...fewer[0]!.keys()]).toEqual(['shared-a']);
    // and the first content is still found as itself
    expect(built([cluster('shared-a'), cluster('shared-b')], encoder).resources.get(CLUSTER_TYPE)).toBe(sets[0]);
  });
});

/**
 * Sets of a type built again and again from new lists of the same content (every proxy of one
 * service builds its clusters' list) are found by their SotW key once seen twice (snapshot/sets.ts
 * `EncodedSets`), without hashing it again: the set found must be the one of the same content, with
 * the version its content hashes to, and a list differing in one resource must not find it. The
 * interning belongs to one encoder: two control planes (or the system and its full-recompute
 * oracle) share no set.
 */
import { describe, expect, it } from 'vitest';
import { ResourceEncoder, type ResourceObject } from '../../src/snapshot/encode.js';
import { buildSnapshot, sortedVersion, typeSet, type Snapshot } from '../../src/snapshot/snapshot.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from '../../src/snapshot/types.js';
import { NameSets } from '../../src/xds/subscription.js';
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

  it('is one encoder\'s: another encoder (another control plane, the oracle) builds the same content into a set of its own', () => {
    // given two encoders, as two control planes in one process have
    const first = new ResourceEncoder();
    const second = new ResourceEncoder();
    const clusters = (): ResourceObject[] => [cluster('shared-a'), cluster('shared-b')];
    const ofFirst = [0, 1, 2].map(() => built(clusters(), first).resources.get(CLUSTER_TYPE)!);

    // when the second builds the same content, again and again
    const ofSecond = [0, 1, 2].map(() => built(clusters(), second).resources.get(CLUSTER_TYPE)!);

    // then each shares its sets within itself only, with the same version for the same content
    for (const set of ofFirst) expect(set).toBe(ofFirst[0]);
    for (const set of ofSecond) expect(set).toBe(ofSecond[0]);
    expect(ofSecond[0]).not.toBe(ofFirst[0]);
    expect(typeSet(ofSecond[0]!).version).toBe(typeSet(ofFirst[0]!).version);
    // and an EDS list shared between proxies is encoded once per encoder, not across them
    const eds = [{ cluster_name: 'shared-a', endpoints: [] }];
    const edsOf = (encoder: ResourceEncoder): unknown => {
      const result = buildSnapshot({ resources: new Map([[ENDPOINT_TYPE, eds]]), refs: [] }, { encoder });
      if (!result.ok) throw new Error(result.errors.join('; '));
      return result.snapshot.resources.get(ENDPOINT_TYPE);
    };
    expect(edsOf(first)).toBe(edsOf(first));
    expect(edsOf(second)).not.toBe(edsOf(first));
  });

  it('gives the names of sets one shared name set per server, and another server its own', () => {
    // given two sets with the same names (an endpoint patch), and two servers' name sets
    const encoder = new ResourceEncoder();
    const a = built([cluster('shared-a'), cluster('shared-b')], encoder).resources.get(CLUSTER_TYPE)!;
    const b = built([cluster('shared-a'), cluster('shared-b', 7)], encoder).resources.get(CLUSTER_TYPE)!;
    const one = new NameSets();
    const other = new NameSets();

    // then one server hands out one set for both, the other server a set of its own
    expect(one.of(a)).toBe(one.of(b));
    expect([...one.of(a)]).toEqual(['shared-a', 'shared-b']);
    expect(other.of(a)).not.toBe(one.of(a));
    expect([...other.of(a)]).toEqual([...one.of(a)]);
  });
});

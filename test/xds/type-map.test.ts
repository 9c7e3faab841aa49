/**
 * TypeMap (xds/snapshot.ts): the per-type map every snapshot and kept config holds, five fields
 * instead of a Map (issue #11 idle memory). It must behave as a Map filled in push order would.
 */
import { describe, expect, it } from 'vitest';
import { MapWith, TypeMap } from '../../src/snapshot/snapshot.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, PUSH_ORDER, ROUTE_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';

const OTHER = 'type.googleapis.com/example.Other';

describe('TypeMap', () => {
  it('reads, counts and iterates like a Map filled in push order, other types after', () => {
    const map = new TypeMap<string>();
    const reference = new Map<string, string>();
    expect(map.size).toBe(0);
    expect([...map]).toEqual([]);

    // filled out of order, with an unknown type in between and one type set twice
    for (const [key, value] of [
      [ROUTE_TYPE, 'r'],
      [OTHER, 'o'],
      [CLUSTER_TYPE, 'c'],
      [SECRET_TYPE, 's'],
      [CLUSTER_TYPE, 'c2'],
    ] as const) map.set(key, value);
    for (const key of [...PUSH_ORDER, OTHER]) {
      const value = map.get(key);
      if (value !== undefined) reference.set(key, value);
    }

    expect(map.size).toBe(4);
    expect(map.get(CLUSTER_TYPE)).toBe('c2');
    expect(map.has(LISTENER_TYPE)).toBe(false);
    expect(map.get(ENDPOINT_TYPE)).toBeUndefined();
    expect(map.has(OTHER)).toBe(true);
    expect([...map.entries()]).toEqual([...reference.entries()]);
    expect([...map.keys()]).toEqual([SECRET_TYPE, CLUSTER_TYPE, ROUTE_TYPE, OTHER]);
    expect([...map.values()]).toEqual(['s', 'c2', 'r', 'o']);
    const seen: [string, string][] = [];
    map.forEach((value, key, self) => {
      expect(self).toBe(map);
      seen.push([key, value]);
    });
    expect(seen).toEqual([...reference]);
    expect(new Map(map)).toEqual(reference);
  });

  it('is a base for MapWith like any map', () => {
    const map = new TypeMap<string>().set(SECRET_TYPE, 's').set(ENDPOINT_TYPE, 'e').set(LISTENER_TYPE, 'l');
    const patched = new MapWith(map, ENDPOINT_TYPE, 'e2');
    expect([...patched]).toEqual([
      [SECRET_TYPE, 's'],
      [ENDPOINT_TYPE, 'e2'],
      [LISTENER_TYPE, 'l'],
    ]);
    expect(patched.size).toBe(3);
    expect(map.get(ENDPOINT_TYPE)).toBe('e');
  });
});

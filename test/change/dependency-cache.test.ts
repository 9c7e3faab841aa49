/** The dependency cache (src/change/dependency-cache.ts): what an entry depends on, what a change evicts, the size bound. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DependencyCache } from '../../src/change/dependency-cache.js';
import { ALL_NAMES, dependencyKey } from '../../src/change/keys.js';

const route = (name: string): string => dependencyKey('Route', 'm', name);

describe('DependencyCache', () => {
  it('records the keys an entry reads, its own and those of the entries it reads, and evicts exactly their dependents', () => {
    // given an inner entry reading Route r1, an outer one reading the inner one and Service s, and a bystander reading Route r2
    const cache = new DependencyCache();
    let computed = 0;
    const inner = (): number =>
      cache.get('inner', () => {
        computed++;
        cache.depend(route('r1'));
        return 1;
      });
    const outer = (): number =>
      cache.get('outer', () => {
        computed++;
        cache.depend(dependencyKey('Service', 'm', 's'));
        return inner() + 1;
      });
    const bystander = (): number =>
      cache.get('bystander', () => {
        computed++;
        cache.depend(route('r2'));
        return 3;
      });
    expect([outer(), bystander()]).toEqual([2, 3]);
    expect(computed).toBe(3);

    // when Route r1 changes
    cache.invalidate([route('r1')]);

    // then the inner and outer entries are computed again, the bystander is not
    expect([outer(), bystander()]).toEqual([2, 3]);
    expect(computed).toBe(5);
    expect(cache.stats).toMatchObject({ entries: 3, evictedByChange: 2 });
  });

  it('evicts an entry depending on every name of a kind when any name of it changes, and peek keeps the asker free of the entry\'s keys', () => {
    // given an index over every Route of mesh m, peeked by an entry that depends on nothing else
    const cache = new DependencyCache();
    cache.get('asker', () => cache.peek('index', () => cache.depend(dependencyKey('Route', 'm', ALL_NAMES))));
    // when one Route changes
    cache.invalidate([route('any')]);
    // then the index goes and the asker stays
    expect(cache.stats.evictedByChange).toBe(1);
    let recomputed = false;
    cache.get('asker', () => (recomputed = true));
    expect(recomputed).toBe(false);
  });

  it('keeps at most maxEntries, the least recently used going first, and counts hits, misses and evictions', () => {
    // given a cache of two entries holding a and b, a used last
    const cache = new DependencyCache({ maxEntries: 2 });
    cache.get('a', () => 'a');
    cache.get('b', () => 'b');
    cache.get('a', () => 'a again');
    // when c arrives
    cache.get('c', () => 'c');
    // then b went, a stayed
    expect(cache.get('a', () => 'recomputed')).toBe('a');
    expect(cache.get('b', () => 'recomputed')).toBe('recomputed');
    expect(cache.stats).toEqual({ entries: 2, hits: 2, misses: 4, evictedByChange: 0, evictedBySize: 2, maxEntries: 2 });
  });

  it('keeps exactly what a reference least-recently-used list keeps, through hits, misses, size evictions, changes and clears', () => {
    // Use order is a linked list through the entries (not the Map's order); this holds it to a
    // plain array model of the same rules.
    const op = fc.oneof(
      { arbitrary: fc.record({ kind: fc.constant('get' as const), name: fc.integer({ min: 0, max: 6 }), dep: fc.integer({ min: 0, max: 3 }) }), weight: 10 },
      { arbitrary: fc.record({ kind: fc.constant('invalidate' as const), dep: fc.integer({ min: 0, max: 3 }) }), weight: 2 },
      { arbitrary: fc.record({ kind: fc.constant('clear' as const) }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 60 }), (maxEntries, ops) => {
        const cache = new DependencyCache({ maxEntries });
        // the model: names in use order (least recently used first), and each name's key
        let model: { name: string; dep: string }[] = [];
        let computed = 0;
        for (const o of ops) {
          if (o.kind === 'get') {
            const name = `e${o.name}`;
            const dep = route(`r${o.dep}`);
            const before = computed;
            cache.get(name, () => {
              computed++;
              cache.depend(dep);
              return name;
            });
            const at = model.findIndex((e) => e.name === name);
            expect(computed > before).toBe(at < 0);
            const entry = at < 0 ? { name, dep } : model.splice(at, 1)[0]!;
            model.push(entry);
            while (model.length > maxEntries) model.shift();
          } else if (o.kind === 'invalidate') {
            cache.invalidate([route(`r${o.dep}`)]);
            model = model.filter((e) => e.dep !== route(`r${o.dep}`));
          } else {
            cache.clear();
            model = [];
          }
          expect(cache.stats.entries).toBe(model.length);
        }
      }),
      { numRuns: 300 },
    );
  });
});

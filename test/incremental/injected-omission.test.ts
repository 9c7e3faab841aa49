/**
 * The equivalence property catches a cache entry that forgets one of its inputs. The oracle
 * translates on a fresh cache at every check, so it cannot share the mistake: here the system's
 * translator runs on a cache whose entries omit one dependency — a service's members (the
 * Dataplanes serving it) — and the property must then fail. Without this, a property that
 * cannot fail would look the same as one that holds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DependencyCache } from '../../src/change/dependency-cache.js';
import { kindOfKey, type DependencyKey } from '../../src/change/keys.js';
import { equivalenceProperty } from './equivalence.js';

/** A cache whose entries never record that they read a service's members. */
class ForgetfulCache extends DependencyCache {
  omitted = 0;
  override depend(key: DependencyKey): void {
    if (kindOfKey(key) === 'ServiceMembers') this.omitted++;
    else super.depend(key);
  }
}

describe('an injected omission of a dependency', () => {
  it('makes the equivalence property fail, while the same runs pass on an honest cache', () => {
    // given the property on a cache that omits ServiceMembers, and the same seed on an honest cache
    const caches: ForgetfulCache[] = [];
    const forgetful = equivalenceProperty({ translatorCache: () => caches[caches.push(new ForgetfulCache()) - 1]! });
    const honest = equivalenceProperty({ translatorCache: () => new DependencyCache() });
    const parameters = { numRuns: 60, seed: 21 };

    // when fast-check runs both
    const broken = fc.check(forgetful, parameters);
    const sound = fc.check(honest, parameters);

    // then the omission was exercised, and only the forgetful cache's run fails, on a proxy's config
    expect(caches.some((c) => c.omitted > 0)).toBe(true);
    expect(broken.failed).toBe(true);
    expect(String(broken.errorInstance)).toMatch(/after \{"kind":"(dataplane|address)"/);
    expect(sound.failed).toBe(false);
  }, 600_000);
});

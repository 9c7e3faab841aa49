import { describe, expect, it } from 'vitest';
import { checkRe2, re2FullMatch } from '../../src/regex/re2.js';
import { describeMatcher, subjectMatcherHits } from '../../src/api/subject-match.js';
import { freeRe2, liveRe2, re2HeapTop } from '../helpers/re2-engine.js';

describe('checkRe2', () => {
  it.each([['^svc-[0-9]+\\.acme\\.org$'], ['client-.*'], ['(?i)ACME'], ['[[:alpha:]]+'], ['\\pL+']])('accepts RE2 syntax %s', (pattern) => {
    expect(checkRe2(pattern)).toBeUndefined();
  });

  it.each([
    ['(', /missing \)/],
    ['(?=a)b', /invalid perl operator: \(\?=.*no lookaround/],
    ['(?!a)b', /invalid perl operator: \(\?!/],
    ['(?<=a)b', /invalid perl operator: \(\?<=|lookaround/],
    ['(a)\\1', /invalid escape sequence: \\1.*no backreferences/],
    ['\\u0041', /invalid escape sequence: \\u/],
    ['\\cA', /invalid escape sequence: \\c/],
    ['a**', /bad repetition operator/],
  ])('rejects %s', (pattern, reason) => {
    expect(checkRe2(pattern)).toMatch(reason);
  });
});

describe('re2FullMatch', () => {
  it('matches the whole value, as Envoy safe_regex does', () => {
    expect(re2FullMatch('acme', 'acme')).toBe(true);
    expect(re2FullMatch('acme', 'xacme')).toBe(false);
    expect(re2FullMatch('acme', 'acmex')).toBe(false);
    expect(re2FullMatch('a|b', 'ab')).toBe(false);
    expect(re2FullMatch('^svc-[0-9]+\\.acme\\.org$', 'svc-42.acme.org')).toBe(true);
    expect(re2FullMatch('^svc-[0-9]+\\.acme\\.org$', 'svc-42.acme.org\n')).toBe(false);
  });

  it('never matches with an invalid pattern', () => {
    expect(re2FullMatch('(', '(')).toBe(false);
  });
});

describe('subjectMatcherHits', () => {
  it.each([
    [{ exact: 'client.acme.org' }, 'client.acme.org', true],
    [{ exact: 'client.acme.org' }, 'Client.acme.org', false],
    [{ hasPrefix: 'client-' }, 'client-7', true],
    [{ hasPrefix: 'client-' }, 'xclient-7', false],
    [{ hasSuffix: '.acme.org' }, 'a.acme.org', true],
    [{ hasSuffix: '.acme.org' }, 'acme.org', false],
    [{ regex: 'svc-[0-9]+' }, 'svc-1', true],
    [{ regex: 'svc-[0-9]+' }, 'svc-1.acme.org', false],
  ])('%j against %s → %s', (matcher, value, hit) => {
    expect(subjectMatcherHits(matcher, value)).toBe(hit);
  });

  it('describes matchers', () => {
    expect(describeMatcher({ hasSuffix: '.acme.org' })).toBe('hasSuffix ".acme.org"');
    expect(describeMatcher({ regex: 'a+' })).toBe('regex "a+"');
  });
});

describe('re2-wasm memory', () => {
  /** `count` distinct patterns, each checked and used for a full match; yields between batches so the worker stays responsive. */
  async function checkAndMatch(from: number, count: number): Promise<{ valid: number; hits: number }> {
    let valid = 0;
    let hits = 0;
    for (let i = from; i < from + count; i++) {
      const pattern = `client-${i}\\.acme\\.org|svc-[0-9]+-${i}`;
      if (checkRe2(pattern) === undefined) valid++;
      if (re2FullMatch(pattern, `client-${i}.acme.org`)) hits++;
      if (i % 100 === 99) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return { valid, hits };
  }

  it('frees what it compiles: the engine heap does not grow with the number of distinct patterns', async () => {
    // given: what one compiled pattern costs the fixed 16 MiB heap when it is never freed
    const kept = 100;
    const Engine = liveRe2();
    const start = re2HeapTop();
    const compiled = Array.from({ length: kept }, (_, i) => new Engine(`kept-${i}\\.acme\\.org|svc-[0-9]+-${i}`, 'u'));
    const unfreedCost = (re2HeapTop() - start) / kept;
    compiled.forEach(freeRe2);
    expect(unfreedCost).toBeGreaterThan(500); // bytes: the probe sees a leak
    // and: the probe watches the heap meshcp compiles in (the full-match cache keeps what it compiles, up to 500 patterns)
    const empty = re2HeapTop();
    expect(await checkAndMatch(0, 400)).toEqual({ valid: 400, hits: 400 });
    expect(re2HeapTop() - empty).toBeGreaterThan((400 * unfreedCost) / 2);
    // and: the full-match cache full of distinct patterns, the allocator past its first fragmentation
    expect(await checkAndMatch(400, 1_100)).toEqual({ valid: 1_100, hits: 1_100 });
    const before = re2HeapTop();
    // when: 1 000 more distinct patterns, each checked (compiled, freed) and full-matched (cached, the oldest evicted and freed)
    const result = await checkAndMatch(1_500, 1_000);
    // then: every answer is right, and the heap grew by far less than 1 000 unfreed patterns take
    // (re2-wasm itself keeps a few dozen bytes per compilation, about 1/50 of a pattern: a restart
    // of the engine, re2.ts, recovers from that after hundreds of thousands of compilations)
    expect(result).toEqual({ valid: 1_000, hits: 1_000 });
    expect(re2HeapTop() - before).toBeLessThan((1_000 * unfreedCost) / 4);
  });
});

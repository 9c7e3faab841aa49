import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/api/duration.js';
import { levenshtein, nearest } from '../../src/api/suggest.js';

describe('parseDuration', () => {
  it.each([
    ['30d', 30 * 86_400],
    ['1d', 86_400],
    ['10y', 10 * 365 * 86_400],
    ['1h30m', 5_400],
    ['500ms', 0.5],
    ['5s', 5],
    ['1m', 60],
    ['1.5h', 5_400],
    ['24h', 86_400],
    ['0', 0],
  ])('%s → %d seconds', (text, seconds) => {
    expect(parseDuration(text)).toBeCloseTo(seconds, 9);
  });

  it.each([[''], ['1'], ['d'], ['1 day'], ['-1h'], ['1w'], ['1h 30m'], ['h1']])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('suggestions', () => {
  it('computes edit distances', () => {
    expect(levenshtein('servce', 'service')).toBe(1);
    expect(levenshtein('', 'abc')).toBe(3);
    expect(levenshtein('kitten', 'sitting')).toBe(3);
  });

  it('suggests the nearest candidate, case-insensitively, or nothing when far away', () => {
    expect(nearest('rsabits', ['RSAbits', 'expiration'])).toBe('RSAbits');
    expect(nearest('prefix', ['exact', 'hasPrefix', 'hasSuffix', 'regex'])).toBe('hasPrefix');
    expect(nearest('zzzzzz', ['exact', 'regex'])).toBeUndefined();
  });
});

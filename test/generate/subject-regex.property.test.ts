/**
 * The rewritten subject matchers mean what SPEC §1 says, for any CN and any SAN list: the
 * `envoy.matching.inputs.subject` pattern hits exactly when the CN satisfies the matcher
 * (src/api/subject-match.ts, shared with `meshcp cert check`), whatever the other attributes
 * hold, and the `envoy.matching.inputs.dns_san` pattern hits exactly when one DNS SAN does.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { subjectMatcherHits } from '../../src/api/subject-match.js';
import type { SubjectMatcher } from '../../src/api/types.js';
import { subjectPatterns, type SubjectMatch } from '../../src/regex/subject-regex.js';
import { envoyRegexFullMatch, renderRfc2253 } from '../helpers/envoy-tls.js';

/** Small, so that matchers hit often; with every character RFC 2253 escapes or case-folds. */
const ALPHABET = ['a', 'b', 'k', 'K', '\u212a', 'é', 'α', '1', '.', '-', ',', '+', '\\', '"', '<', ';', '#', ' ', '=', 'C', 'N', '\n', '\u0001', '😀'];
const text = (maxLength: number): fc.Arbitrary<string> => fc.array(fc.constantFrom(...ALPHABET), { maxLength }).map((cs) => cs.join(''));

const REGEXES = [
  '^svc-[0-9]+\\.acme\\.org$',
  '.*',
  '.+',
  '.',
  '..',
  '(?s).*',
  '(?i)k.*',
  '(?i)[^k]+',
  '[^,]+',
  '[^a-z]*',
  'a|b',
  '(a|b)*1',
  'é+',
  '\\p{Greek}+',
  '\\P{Greek}*',
  '\\pN',
  '[[:alpha:]]+',
  '[[:^alpha:]]*',
  '\\d{1,2}',
  '\\w+',
  '\\W',
  '\\Q.,+\\E.*',
  '\\x{e9}.?',
  '(?i:K)\\+',
  'a{0}b?',
  '^$',
  '(?:^a|b$)',
  '#.*',
  '.* ',
  '[\\\\",+<>;]+',
  '(?U)a+?',
  '\\x{1F600}|\\n',
  'CN=.*',
] as const;

// Run counts stay modest: re2-wasm never frees a compiled pattern, and its heap is 16 MiB.
const matcherArb: fc.Arbitrary<SubjectMatch> = fc.oneof(
  fc.record({ kind: fc.constantFrom('exact' as const, 'hasPrefix' as const, 'hasSuffix' as const), value: text(4).filter((v) => v !== '') }),
  fc.record({ kind: fc.constant('regex' as const), value: fc.constantFrom(...REGEXES) }),
);

function apiMatcher(m: SubjectMatch): SubjectMatcher {
  switch (m.kind) {
    case 'exact':
      return { exact: m.value };
    case 'hasPrefix':
      return { hasPrefix: m.value };
    case 'hasSuffix':
      return { hasSuffix: m.value };
    case 'regex':
      return { regex: m.value };
  }
}

function patternsOf(m: SubjectMatch): { subject: string; dnsSan: string } {
  const p = subjectPatterns(m);
  if (!p.ok) throw new Error(`${m.kind} ${JSON.stringify(m.value)}: ${p.reason}`);
  return p;
}

describe('subject matcher patterns for the Envoy ssl matching inputs', () => {
  it('hit the Subject exactly when the CN satisfies the matcher, whatever surrounds it', () => {
    fc.assert(
      fc.property(matcherArb, text(6), text(6), text(6), fc.boolean(), (m, cn, before, after, multiValued) => {
        // given a Subject whose CN sits among attributes made of the same troublesome characters
        const rdns: Array<Array<readonly [string, string]>> = [[['C', before]], multiValued ? [['OU', after], ['CN', cn]] : [['CN', cn]], [['O', after]]];
        // when
        const hit = envoyRegexFullMatch(patternsOf(m).subject, renderRfc2253(rdns));
        // then
        expect(hit).toBe(subjectMatcherHits(apiMatcher(m), cn));
      }),
      { numRuns: 300 },
    );
  });

  it('never hit a Subject without a CN', () => {
    fc.assert(
      fc.property(matcherArb, text(8), text(8), (m, o, ou) => {
        // given other attributes only, even ones holding "CN=…" text
        const subject = renderRfc2253([[['O', `x,CN=${o}`]], [['OU', ou]]]);
        // when / then
        expect(envoyRegexFullMatch(patternsOf(m).subject, subject)).toBe(false);
      }),
    );
  });

  it('hit the DNS SAN list exactly when one SAN satisfies the matcher', () => {
    const sanArb = text(5).map((s) => s.replace(/,/g, ''));
    fc.assert(
      fc.property(matcherArb, fc.array(sanArb, { minLength: 1, maxLength: 3 }), (m, sans) => {
        // given DNS SANs as Envoy joins them
        // when
        const hit = envoyRegexFullMatch(patternsOf(m).dnsSan, sans.join(','));
        // then
        expect(hit).toBe(sans.some((s) => subjectMatcherHits(apiMatcher(m), s)));
      }),
      { numRuns: 300 },
    );
  });

  it('reports constructs that cannot be carried over instead of guessing', () => {
    // given regexes whose meaning depends on text outside the value
    // (and one too large to send: every letter of Unicode, byte by byte)
    for (const regex of ['\\bclient', 'a^b', 'a$b', '(?:^a)*', '\\C', '\\p{L}+']) {
      // when
      const patterns = subjectPatterns({ kind: 'regex', value: regex });
      // then
      expect(patterns.ok, regex).toBe(false);
    }
  });
});

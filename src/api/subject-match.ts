/**
 * Client certificate subject matchers (Akka route descriptor), shared by the translator and
 * `meshcp cert check`. A matcher is tested against the CN and each DNS SAN; any hit admits.
 */
import { re2FullMatch } from '../regex/re2.js';
import type { SubjectMatcher } from './types.js';

export function subjectMatcherHits(m: SubjectMatcher, value: string): boolean {
  if ('exact' in m) return value === m.exact;
  if ('hasPrefix' in m) return value.startsWith(m.hasPrefix);
  if ('hasSuffix' in m) return value.endsWith(m.hasSuffix);
  return re2FullMatch(m.regex, value);
}

export function describeMatcher(m: SubjectMatcher): string {
  if ('exact' in m) return `exact "${m.exact}"`;
  if ('hasPrefix' in m) return `hasPrefix "${m.hasPrefix}"`;
  if ('hasSuffix' in m) return `hasSuffix "${m.hasSuffix}"`;
  return `regex "${m.regex}"`;
}

/**
 * Client certificate subject matching (SPEC §1 Route `validation.clientCertificate`) as an HTTP
 * RBAC filter with the matching API: one entry per subject matcher, each the OR of "the CN
 * matches" (`envoy.matching.inputs.subject`) and "a DNS SAN matches"
 * (`envoy.matching.inputs.dns_san`); the first hit allows, no hit denies with 403.
 *
 * Why not the alternatives:
 * - `match_typed_subject_alt_names` in the validation context tests SANs only, and as a
 *   handshake condition it would be ANDed with, never ORed with, a CN rule.
 * - RBAC `authenticated.principal_name` tests the URI and DNS SANs, and the whole Subject only
 *   when there is no SAN: never the CN alone, and a URI SAN could admit a client.
 */
import { typed } from './any.js';
import { subjectPatterns, type SubjectMatch } from '../regex/subject-regex.js';

export const RBAC_FILTER_NAME = 'envoy.filters.http.rbac';
const RBAC_ACTION_NAME = 'envoy.filters.rbac.action';

export const SUBJECT_INPUT = { name: 'envoy.matching.inputs.subject', type: 'envoy.extensions.matching.common_inputs.ssl.v3.SubjectInput' } as const;
export const DNS_SAN_INPUT = { name: 'envoy.matching.inputs.dns_san', type: 'envoy.extensions.matching.common_inputs.ssl.v3.DnsSanInput' } as const;

/** The RBAC action name recorded when no matcher hits (Envoy's `rbac.denied` stats and access log). */
export const NO_SUBJECT_MATCH = 'no-subject-match';

export interface UnenforceableMatcher {
  readonly index: number;
  readonly reason: string;
}

export interface SubjectRbac {
  readonly filter: Record<string, unknown>;
  /** Matchers that could not be expressed: they admit nobody (fail closed). */
  readonly unenforceable: readonly UnenforceableMatcher[];
}

function action(name: string, allow: boolean): Record<string, unknown> {
  return { action: { name: RBAC_ACTION_NAME, typed_config: typed('envoy.config.rbac.v3.Action', { name, action: allow ? 'ALLOW' : 'DENY' }) } };
}

function regexPredicate(input: { readonly name: string; readonly type: string }, regex: string): Record<string, unknown> {
  return {
    single_predicate: {
      input: { name: input.name, typed_config: typed(input.type, {}) },
      // StringMatcher.safe_regex is a full match (RE2::FullMatch).
      value_match: { safe_regex: { google_re2: {}, regex } },
    },
  };
}

/** The action name of the matcher at `index`: `subjectMatches[0]`, as in the Route descriptor. */
export function subjectMatcherActionName(index: number): string {
  return `subjectMatches[${index}]`;
}

export function subjectRbacFilter(matchers: readonly SubjectMatch[]): SubjectRbac {
  const unenforceable: UnenforceableMatcher[] = [];
  const fieldMatchers: Record<string, unknown>[] = [];
  matchers.forEach((m, index) => {
    const patterns = subjectPatterns(m);
    if (!patterns.ok) {
      unenforceable.push({ index, reason: patterns.reason });
      return;
    }
    fieldMatchers.push({
      predicate: { or_matcher: { predicate: [regexPredicate(SUBJECT_INPUT, patterns.subject), regexPredicate(DNS_SAN_INPUT, patterns.dnsSan)] } },
      on_match: action(subjectMatcherActionName(index), true),
    });
  });
  // With nothing to match, RBAC rules that are present but empty deny every request.
  const config =
    fieldMatchers.length > 0
      ? { matcher: { matcher_list: { matchers: fieldMatchers }, on_no_match: action(NO_SUBJECT_MATCH, false) } }
      : { rules: { action: 'ALLOW', policies: {} } };
  return { filter: { name: RBAC_FILTER_NAME, typed_config: typed('envoy.extensions.filters.http.rbac.v3.RBAC', config) }, unenforceable };
}

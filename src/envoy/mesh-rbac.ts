/**
 * TrafficPermissions as RBAC at the destination (SPEC §1 TrafficPermission): an ALLOW policy
 * per permission that applies to the inbound, whose principals are callers' SPIFFE IDs
 * (`authenticated.principal_name`, which Envoy and grpc-js-xds test against URI SANs first).
 * Policies are ORed. With none, the ALLOW rule set is empty and denies everything: mesh mTLS
 * is default deny.
 */
import { typed } from './any.js';
import { RBAC_FILTER_NAME } from './subject-rbac.js';
import { statPrefix } from './names.js';

export const NETWORK_RBAC_FILTER_NAME = 'envoy.filters.network.rbac';

/** Who a policy admits: a SPIFFE ID, every SPIFFE ID under a prefix, or anybody (no identity needed). */
export type RbacPrincipal = { readonly exact: string } | { readonly prefix: string } | { readonly any: true };

export interface RbacPolicy {
  /** The TrafficPermission's name: Envoy's `rbac.allowed` stats and access logs say which one admitted. */
  readonly name: string;
  readonly principals: readonly RbacPrincipal[];
}

function principal(p: RbacPrincipal): Record<string, unknown> {
  if ('any' in p) return { any: true };
  return { authenticated: { principal_name: 'exact' in p ? { exact: p.exact } : { prefix: p.prefix } } };
}

/** `envoy.config.rbac.v3.RBAC`. Envoy requires at least one principal per policy: empty ones are left out. */
export function allowRules(policies: readonly RbacPolicy[]): Record<string, unknown> {
  const entries: Array<[string, Record<string, unknown>]> = policies
    .filter((p) => p.principals.length > 0)
    .map((p) => [p.name, { permissions: [{ any: true }], principals: p.principals.map(principal) }]);
  return { action: 'ALLOW', policies: Object.fromEntries(entries) };
}

/**
 * HTTP RBAC (http, http2 and gRPC inbounds; proxyless gRPC servers): a denied request gets 403 /
 * PERMISSION_DENIED. A new object per call: generation builds one per policy list and shares it
 * (generate/memo.ts `PolicyInfo`), so thousands of proxies hold one RBAC filter instead of one each.
 */
export function meshHttpRbacFilter(policies: readonly RbacPolicy[]): Record<string, unknown> {
  return { name: RBAC_FILTER_NAME, typed_config: typed('envoy.extensions.filters.http.rbac.v3.RBAC', { rules: allowRules(policies) }) };
}

/**
 * Network RBAC (tcp inbounds): a denied connection is closed. `rules`: `allowRules(policies)`,
 * given when the caller shares one per policy list.
 */
export function meshNetworkRbacFilter(listenerName: string, policies: readonly RbacPolicy[], rules: Record<string, unknown> = allowRules(policies)): Record<string, unknown> {
  return {
    name: NETWORK_RBAC_FILTER_NAME,
    typed_config: typed('envoy.extensions.filters.network.rbac.v3.RBAC', { stat_prefix: statPrefix(listenerName), rules }),
  };
}

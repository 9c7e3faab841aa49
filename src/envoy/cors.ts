/**
 * Envoy's CORS filter for a gateway host (the akka route descriptor's `corsPolicy`): the filter
 * sits in the host's connection manager, and the policy on its virtual host. Envoy answers a
 * preflight from an allowed origin itself, with `access-control-allow-origin` and the allowed
 * methods; from any other origin it adds no CORS header, so the browser refuses the call.
 */
import type { GatewayCorsModel } from '../model/model.js';
import { typed } from './any.js';

export const CORS_FILTER_NAME = 'envoy.filters.http.cors';

export const CORS_FILTER = { name: CORS_FILTER_NAME, typed_config: typed('envoy.extensions.filters.http.cors.v3.Cors', {}) };

const RE2_SPECIAL = /[\\.+*?()|[\]{}^$]/g;

/** `*` any origin; `https://*.acme.org` any subdomain (one or more labels); else the exact origin. */
function originMatcher(origin: string): Record<string, unknown> {
  if (origin === '*') return { safe_regex: { regex: '.*' } };
  if (origin.includes('*')) return { safe_regex: { regex: origin.split('*').map((part) => part.replace(RE2_SPECIAL, '\\$&')).join('[A-Za-z0-9.-]+') } };
  return { exact: origin };
}

/** The virtual host's `typed_per_filter_config` entry. */
export function corsPolicy(cors: GatewayCorsModel): Record<string, Record<string, unknown>> {
  return {
    [CORS_FILTER_NAME]: typed('envoy.extensions.filters.http.cors.v3.CorsPolicy', {
      allow_origin_string_match: cors.allowedOrigins.map(originMatcher),
      ...(cors.allowedMethods.length > 0 ? { allow_methods: cors.allowedMethods.join(',') } : {}),
    }),
  };
}

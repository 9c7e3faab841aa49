/** Route: the Akka route descriptor (SPEC §1 Route). */
import { subjectPatterns } from '../regex/subject-regex.js';
import { checkRe2, checkRe2Complexity } from '../regex/re2.js';
import { field, index, isAbsent, quoteValue, readHostname, readList, readName, readObject, readString, type DocumentContext, type Issues, type YamlObject } from './fields.js';
import type { RouteCorsPolicy, RouteResource, RouteRule, RouteTls, RouteValidation, SecretReference, SubjectMatcher } from './types.js';

const ROUTE_FIELDS = ['type', 'name', 'mesh', 'gateway', 'host', 'tls', 'validation', 'corsPolicy', 'routes'] as const;
/** A serialized origin (scheme://host[:port]), the host possibly `*.`-prefixed; or `*`. */
const ORIGIN = /^(\*|[a-z][a-z0-9+.-]*:\/\/(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?)$/;
/** RFC 9110 method token. */
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MATCHER_KINDS = ['exact', 'hasPrefix', 'hasSuffix', 'regex'] as const;

function readSecretReference(v: unknown, path: string, issues: Issues): SecretReference | undefined {
  const o = readObject(v, path, issues, ['name']);
  if (!o) return undefined;
  const name = readName(o['name'], field(path, 'name'), issues);
  return name !== undefined ? { name } : undefined;
}

function readTls(v: unknown, path: string, issues: Issues): RouteTls | undefined {
  const o = readObject(v, path, issues, ['clientValidationCa', 'serverCertificate']);
  if (!o) return undefined;
  const clientValidationCa = readSecretReference(o['clientValidationCa'], field(path, 'clientValidationCa'), issues);
  const serverCertificate = readSecretReference(o['serverCertificate'], field(path, 'serverCertificate'), issues);
  return { ...(clientValidationCa ? { clientValidationCa } : {}), ...(serverCertificate ? { serverCertificate } : {}) };
}

function readMatcher(v: unknown, path: string, issues: Issues, ctx: DocumentContext): SubjectMatcher | undefined {
  const o = readObject(v, path, issues, MATCHER_KINDS);
  if (!o) return undefined;
  const present = MATCHER_KINDS.filter((k) => !isAbsent(o[k]));
  if (present.length === 0 && Object.keys(o).length > 0) return undefined; // the unknown field was reported with a suggestion
  if (present.length !== 1) {
    const found = present.length === 0 ? 'none' : present.join(', ');
    issues.error(path, `expected exactly one of ${MATCHER_KINDS.join(', ')}, found ${found}`);
    return undefined;
  }
  const [kind = 'exact'] = present;
  const valuePath = field(path, kind);
  const value = readString(o[kind], valuePath, issues, true);
  if (value === undefined) return undefined;
  switch (kind) {
    case 'exact':
      return { exact: value };
    case 'hasPrefix':
      return { hasPrefix: value };
    case 'hasSuffix':
      return { hasSuffix: value };
    case 'regex': {
      // Bounded before compiling; not a syntax error, so said differently.
      const bound = checkRe2Complexity(value);
      if (bound !== undefined) {
        issues.error(valuePath, `regex refused: ${bound}`);
        return undefined;
      }
      const problem = checkRe2(value);
      if (problem !== undefined) {
        issues.error(valuePath, `invalid RE2 syntax: ${problem}`);
        return undefined;
      }
      // Valid RE2 that Envoy's certificate matcher cannot carry (it sees the whole Subject or the
      // joined SAN list, envoy/subject-regex.ts) would admit nobody while `cert check` admits:
      // refused here, so what cert check says is what the gateway does.
      const carried = subjectPatterns({ kind: 'regex', value });
      if (!carried.ok && ctx.stored !== true) {
        const hint = carried.reason.includes('too large')
          ? "a Unicode class such as \\p{L} spans thousands of escaped byte sequences in Envoy's subject; list the characters you need instead, e.g. [a-zà-ÿ]+"
          : "the regex is matched against the whole CN or DNS SAN, so drop the construct (e.g. '\\bclient.*' → 'client.*')";
        issues.error(valuePath, `cannot be enforced by the gateway: ${carried.reason}; ${hint}`);
        return undefined;
      }
      return { regex: value };
    }
  }
}

function readValidation(v: unknown, path: string, issues: Issues, ctx: DocumentContext): RouteValidation | undefined {
  const o = readObject(v, path, issues, ['clientCertificate']);
  if (!o) return undefined;
  const certPath = field(path, 'clientCertificate');
  const cert = readObject(o['clientCertificate'], certPath, issues, ['subjectMatches']);
  if (!cert) return {};
  const matchesPath = field(certPath, 'subjectMatches');
  const entries = readList(cert['subjectMatches'], matchesPath, issues, { required: true, nonEmpty: true }) ?? [];
  const subjectMatches = entries.map((e, i) => readMatcher(e, index(matchesPath, i), issues, ctx)).filter((m): m is SubjectMatcher => m !== undefined);
  return { clientCertificate: { subjectMatches } };
}

function readCorsPolicy(v: unknown, path: string, issues: Issues): RouteCorsPolicy | undefined {
  const o = readObject(v, path, issues, ['allowedOrigins', 'allowedMethods']);
  if (!o) return undefined;
  const originsPath = field(path, 'allowedOrigins');
  const allowedOrigins = (readList(o['allowedOrigins'], originsPath, issues, { required: true, nonEmpty: true }) ?? [])
    .map((e, i) => {
      const origin = readString(e, index(originsPath, i), issues, true);
      if (origin !== undefined && !ORIGIN.test(origin)) {
        issues.error(index(originsPath, i), `expected an origin such as https://app.acme.org (scheme, host, optional port; no path), https://*.acme.org, or *; got ${quoteValue(origin)}`);
        return undefined;
      }
      return origin;
    })
    .filter((x): x is string => x !== undefined);
  const methodsPath = field(path, 'allowedMethods');
  const allowedMethods = (readList(o['allowedMethods'], methodsPath, issues) ?? [])
    .map((e, i) => {
      const method = readString(e, index(methodsPath, i), issues, true);
      if (method !== undefined && !METHOD.test(method)) {
        issues.error(index(methodsPath, i), `expected an HTTP method such as GET or PUT, got ${quoteValue(method)}`);
        return undefined;
      }
      return method?.toUpperCase();
    })
    .filter((x): x is string => x !== undefined);
  return { allowedOrigins, allowedMethods: [...new Set(allowedMethods)] };
}

function readRule(v: unknown, path: string, issues: Issues): RouteRule | undefined {
  const o = readObject(v, path, issues, ['name', 'prefix', 'route']);
  if (!o) return undefined;
  const name = readString(o['name'], field(path, 'name'), issues);
  const prefix = readString(o['prefix'], field(path, 'prefix'), issues, true);
  if (prefix !== undefined && !prefix.startsWith('/')) issues.error(field(path, 'prefix'), `path prefix must start with "/", got ${quoteValue(prefix)}`);
  const routePath = field(path, 'route');
  const route = readObject(o['route'], routePath, issues, ['service'], true);
  const service = route ? readString(route['service'], field(routePath, 'service'), issues, true) : undefined;
  return { ...(name !== undefined ? { name } : {}), prefix: prefix ?? '/', route: { service: service ?? '' } };
}

export function validateRoute(o: YamlObject, scope: { name: string; mesh: string }, issues: Issues, ctx: DocumentContext = {}): RouteResource {
  readObject(o, '', issues, ROUTE_FIELDS);
  const gateway = readName(o['gateway'], 'gateway', issues, false);
  const host = readHostname(o['host'], 'host', issues, { required: true, wildcard: true });
  const tls = readTls(o['tls'], 'tls', issues);
  const validation = readValidation(o['validation'], 'validation', issues, ctx);
  if (validation?.clientCertificate && !tls?.clientValidationCa) {
    issues.error(
      'validation.clientCertificate.subjectMatches',
      'subject matchers need tls.clientValidationCa: without a client CA no client certificate is requested, so there is no subject to check',
    );
  }
  const corsPolicy = readCorsPolicy(o['corsPolicy'], 'corsPolicy', issues);
  const rules = readList(o['routes'], 'routes', issues, { required: true, nonEmpty: true }) ?? [];
  const routes = rules.map((r, i) => readRule(r, index('routes', i), issues)).filter((r): r is RouteRule => r !== undefined);
  return {
    type: 'Route',
    name: scope.name,
    mesh: scope.mesh,
    ...(gateway !== undefined ? { gateway } : {}),
    host: host ?? '',
    ...(tls ? { tls } : {}),
    ...(validation ? { validation } : {}),
    ...(corsPolicy ? { corsPolicy } : {}),
    routes,
  };
}

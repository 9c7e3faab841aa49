/**
 * A stand-in for the gateway Envoy's TLS and RBAC behaviour, driven only by what Envoy would
 * receive: the generated Listener, RouteConfigurations and SDS Secrets, decoded from the
 * encoded snapshot. It never looks at the Route resources, so a test against it proves the
 * generated config means what SPEC §1 says.
 *
 * - TLS inspector: a TCP server reads the ClientHello's SNI and hands the connection to the
 *   filter chain whose `server_names` match (exact, then the longest `*.` suffix).
 * - Per chain, a Node TLS server built from the DownstreamTlsContext: `cert`/`key` from the
 *   tls_certificate secret, `ca` from the validation_context secret, `requestCert` and
 *   `rejectUnauthorized` from require_client_certificate.
 * - Upstream: a cluster's UpstreamTlsContext as Node `tls.connect` options.
 * - HTTP: the RBAC filter's matcher tree, evaluated on Envoy's ssl matching inputs (the
 *   Subject printed as BoringSSL prints it, the DNS SANs joined with commas) with RE2; then the
 *   route table. The reply names the cluster a request was routed to.
 */
import type http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type tls from 'node:tls';
import { re2FullMatch } from '../../src/regex/re2.js';
import { x509 } from '../../src/ca/x509.js';
import { decodeResource } from '../../src/snapshot/encode.js';
import { buildSnapshot, type GeneratedConfig } from '../../src/snapshot/snapshot.js';
import { CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { envoyValidate } from '../peers/envoy-validate.js';

type Json = Record<string, unknown>;

function obj(v: unknown, what: string): Json {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Json;
  throw new Error(`${what}: expected an object, got ${JSON.stringify(v)}`);
}
function arr(v: unknown, what: string): unknown[] {
  if (Array.isArray(v)) return v;
  throw new Error(`${what}: expected a list, got ${JSON.stringify(v)}`);
}
function str(v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  throw new Error(`${what}: expected a string, got ${JSON.stringify(v)}`);
}
function typeOf(v: Json): string {
  return str(v['@type'], '@type').replace(/^type\.googleapis\.com\//, '');
}

export interface DecodedProxyConfig {
  readonly clusters: ReadonlyMap<string, Json>;
  readonly listeners: ReadonlyMap<string, Json>;
  readonly routes: ReadonlyMap<string, Json>;
  readonly secrets: ReadonlyMap<string, Json>;
}

/** Encodes the config as the snapshot does, and decodes it back: exactly what Envoy is sent, which Envoy must accept. */
export function decodeProxyConfig(config: GeneratedConfig): DecodedProxyConfig {
  const result = buildSnapshot(config);
  if (!result.ok) throw new Error(`inconsistent snapshot: ${result.errors.join('; ')}`);
  // Envoy's own validation rules (go-control-plane's ValidateAll), every resource in one batch.
  const encoded = [...result.snapshot.resources].flatMap(([typeUrl, byName]) => [...byName.values()].map((r) => ({ typeUrl, value: r.value, name: r.name })));
  const verdicts = envoyValidate(encoded);
  encoded.forEach((r, i) => {
    if ((verdicts[i] ?? []).length > 0) throw new Error(`${r.name} would be NACKed: ${JSON.stringify(verdicts[i])}`);
  });
  const decode = (typeUrl: string): Map<string, Json> =>
    new Map([...(result.snapshot.resources.get(typeUrl) ?? new Map()).values()].map((r) => [r.name, decodeResource(typeUrl, r.value)]));
  return { clusters: decode(CLUSTER_TYPE), listeners: decode(LISTENER_TYPE), routes: decode(ROUTE_TYPE), secrets: decode(SECRET_TYPE) };
}

// ---------------------------------------------------------------------------------------------
// Envoy's ssl matching inputs (envoy.extensions.matching.common_inputs.ssl.v3)

/** One RFC 2253 attribute value as BoringSSL's X509_NAME_print_ex(XN_FLAG_RFC2253) prints it. */
export function renderRfc2253Value(value: string): string {
  const bytes = [...Buffer.from(value, 'utf8')];
  return bytes
    .map((b, i) => {
      const c = String.fromCharCode(b);
      if (b > 0x7f || b < 0x20 || b === 0x7f) return `\\${b.toString(16).toUpperCase().padStart(2, '0')}`;
      if ('\\",+<>;'.includes(c) || (i === 0 && (c === ' ' || c === '#')) || (i === bytes.length - 1 && c === ' ')) return `\\${c}`;
      return c;
    })
    .join('');
}

/** RDNs in certificate order, each a list of [type, value]: printed last RDN first (XN_FLAG_DN_REV). */
export function renderRfc2253(rdns: ReadonlyArray<ReadonlyArray<readonly [string, string]>>): string {
  return [...rdns]
    .reverse()
    .map((rdn) => [...rdn].reverse().map(([type, value]) => `${type}=${renderRfc2253Value(value)}`).join('+'))
    .join(',');
}

export interface SslInputs {
  /** `envoy.matching.inputs.subject`; undefined when Envoy reports no data. */
  readonly subject: string | undefined;
  /** `envoy.matching.inputs.dns_san`. */
  readonly dnsSan: string | undefined;
  readonly uriSan: string | undefined;
}

export function sslInputs(der: Buffer): SslInputs {
  const cert = new x509.X509Certificate(new Uint8Array(der));
  const rdns = cert.subjectName.toJSON().map((rdn) => Object.entries(rdn).flatMap(([type, values]) => values.map((v) => [type, v] as const)));
  const subject = renderRfc2253(rdns);
  const names = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
  const join = (type: string): string | undefined => {
    const values = names.filter((n) => n.type === type).map((n) => n.value);
    return values.length > 0 ? values.join(',') : undefined;
  };
  return { subject: subject === '' ? undefined : subject, dnsSan: join('dns'), uriSan: join('url') };
}

// ---------------------------------------------------------------------------------------------
// HTTP RBAC filter (envoy.extensions.filters.http.rbac.v3.RBAC)

export interface RbacDecision {
  readonly allowed: boolean;
  /** The envoy.config.rbac.v3.Action name that decided, if any. */
  readonly action?: string;
}

function stringMatches(matcher: Json, value: string): boolean {
  const ignoreCase = matcher['ignore_case'] === true;
  const v = ignoreCase ? value.toLowerCase() : value;
  const text = (key: string): string => (ignoreCase ? str(matcher[key], key).toLowerCase() : str(matcher[key], key));
  if ('exact' in matcher) return v === text('exact');
  if ('prefix' in matcher) return v.startsWith(text('prefix'));
  if ('suffix' in matcher) return v.endsWith(text('suffix'));
  if ('contains' in matcher) return v.includes(text('contains'));
  if ('safe_regex' in matcher) return envoyRegexFullMatch(str(obj(matcher['safe_regex'], 'safe_regex')['regex'], 'regex'), value);
  throw new Error(`string matcher not emulated: ${JSON.stringify(matcher)}`);
}

function inputValue(input: Json, inputs: SslInputs): string | undefined {
  const type = typeOf(obj(input['typed_config'], 'input.typed_config'));
  if (type === 'envoy.extensions.matching.common_inputs.ssl.v3.SubjectInput') return inputs.subject;
  if (type === 'envoy.extensions.matching.common_inputs.ssl.v3.DnsSanInput') return inputs.dnsSan;
  if (type === 'envoy.extensions.matching.common_inputs.ssl.v3.UriSanInput') return inputs.uriSan;
  throw new Error(`matching input not emulated: ${type}`);
}

function predicateHolds(predicate: Json, inputs: SslInputs): boolean {
  if ('single_predicate' in predicate) {
    const single = obj(predicate['single_predicate'], 'single_predicate');
    const value = inputValue(obj(single['input'], 'input'), inputs);
    // No data: the predicate does not match.
    return value !== undefined && stringMatches(obj(single['value_match'], 'value_match'), value);
  }
  const list = (key: string): Json[] => arr(obj(predicate[key], key)['predicate'], key).map((p) => obj(p, key));
  if ('or_matcher' in predicate) return list('or_matcher').some((p) => predicateHolds(p, inputs));
  if ('and_matcher' in predicate) return list('and_matcher').every((p) => predicateHolds(p, inputs));
  if ('not_matcher' in predicate) return !predicateHolds(obj(predicate['not_matcher'], 'not_matcher'), inputs);
  throw new Error(`predicate not emulated: ${JSON.stringify(predicate)}`);
}

function onMatch(on: Json, inputs: SslInputs): RbacDecision | undefined {
  if ('matcher' in on) return evaluateMatcher(obj(on['matcher'], 'matcher'), inputs);
  const action = obj(obj(on['action'], 'action')['typed_config'], 'action.typed_config');
  if (typeOf(action) !== 'envoy.config.rbac.v3.Action') throw new Error(`RBAC action not emulated: ${typeOf(action)}`);
  // Action.action defaults to ALLOW (enum value 0), which the decoder leaves out.
  const kind = action['action'] ?? 'ALLOW';
  return { allowed: kind === 'ALLOW', action: str(action['name'], 'action.name') };
}

function evaluateMatcher(matcher: Json, inputs: SslInputs): RbacDecision | undefined {
  if ('matcher_tree' in matcher) throw new Error('matcher_tree not emulated');
  const list = matcher['matcher_list'] === undefined ? [] : arr(obj(matcher['matcher_list'], 'matcher_list')['matchers'], 'matchers');
  for (const entry of list) {
    const field = obj(entry, 'field matcher');
    if (!predicateHolds(obj(field['predicate'], 'predicate'), inputs)) continue;
    const decision = onMatch(obj(field['on_match'], 'on_match'), inputs);
    if (decision) return decision;
  }
  return matcher['on_no_match'] !== undefined ? onMatch(obj(matcher['on_no_match'], 'on_no_match'), inputs) : undefined;
}

/** The HTTP RBAC filter's verdict for a connection's inputs. */
export function evaluateRbac(config: Json, inputs: SslInputs): RbacDecision {
  if (config['matcher'] !== undefined) {
    // "Requests do not match any matcher will be denied."
    return evaluateMatcher(obj(config['matcher'], 'matcher'), inputs) ?? { allowed: false };
  }
  if (config['rules'] !== undefined) {
    const rules = obj(config['rules'], 'rules');
    const policies = Object.keys(obj(rules['policies'] ?? {}, 'policies'));
    if (policies.length > 0) throw new Error('RBAC policies not emulated');
    // No policy ever matches: an ALLOW list allows nothing, a DENY list denies nothing.
    return { allowed: (rules['action'] ?? 'ALLOW') === 'DENY' };
  }
  return { allowed: true };
}

// ---------------------------------------------------------------------------------------------
// Listener → per filter chain TLS server options and HTTP behaviour

export interface ChainEmulation {
  readonly serverNames: readonly string[];
  readonly tlsOptions: tls.TlsOptions;
  /** The RBAC filter's typed_config, when the chain has one. */
  readonly rbac: Json | undefined;
  readonly routeConfig: Json;
  readonly stripPort: boolean;
}

function secretOf(config: DecodedProxyConfig, sds: unknown, what: string): Json {
  const ref = obj(sds, what);
  // Envoy would wait for an SDS secret forever unless it comes over ADS with the rest.
  if (obj(ref['sds_config'], `${what}.sds_config`)['ads'] === undefined) throw new Error(`${what}: not on the ADS stream`);
  const name = str(ref['name'], `${what}.name`);
  const secret = config.secrets.get(name);
  if (!secret) throw new Error(`${what}: SDS secret "${name}" is not in the snapshot`);
  return secret;
}

function inline(source: unknown, what: string): string {
  return str(obj(source, what)['inline_string'], `${what}.inline_string`);
}

export function chainEmulation(config: DecodedProxyConfig, chain: Json): ChainEmulation {
  const socket = obj(chain['transport_socket'], 'transport_socket');
  if (socket['name'] !== 'envoy.transport_sockets.tls') throw new Error(`transport socket ${String(socket['name'])} not emulated`);
  const downstream = obj(socket['typed_config'], 'typed_config');
  if (typeOf(downstream) !== 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext') throw new Error('not a DownstreamTlsContext');
  const common = obj(downstream['common_tls_context'], 'common_tls_context');
  const [certRef, ...more] = arr(common['tls_certificate_sds_secret_configs'], 'tls_certificate_sds_secret_configs');
  if (more.length > 0) throw new Error('several server certificates not emulated');
  const certificate = obj(secretOf(config, certRef, 'tls_certificate_sds_secret_configs[0]')['tls_certificate'], 'tls_certificate');
  const validation = common['validation_context_sds_secret_config'];
  const ca = validation === undefined ? undefined : inline(obj(secretOf(config, validation, 'validation_context_sds_secret_config')['validation_context'], 'validation_context')['trusted_ca'], 'trusted_ca');
  const required = obj(downstream['require_client_certificate'] ?? {}, 'require_client_certificate')['value'] === true;
  if (ca !== undefined && !required) throw new Error('an optional client certificate is not emulated');
  const [hcmFilter, ...others] = arr(chain['filters'], 'filters').map((f) => obj(f, 'filter'));
  if (!hcmFilter || others.length > 0 || hcmFilter['name'] !== 'envoy.filters.network.http_connection_manager') throw new Error('only a lone HTTP connection manager is emulated');
  const hcm = obj(hcmFilter['typed_config'], 'hcm');
  const routeName = str(obj(hcm['rds'], 'rds')['route_config_name'], 'route_config_name');
  const routeConfig = config.routes.get(routeName);
  if (!routeConfig) throw new Error(`RDS "${routeName}" is not in the snapshot`);
  const httpFilters = arr(hcm['http_filters'], 'http_filters').map((f) => obj(f, 'http filter'));
  const rbacFilter = httpFilters.find((f) => f['name'] === 'envoy.filters.http.rbac');
  return {
    serverNames: arr(obj(chain['filter_chain_match'] ?? {}, 'filter_chain_match')['server_names'] ?? [], 'server_names').map((n) => str(n, 'server name')),
    tlsOptions: {
      cert: inline(certificate['certificate_chain'], 'certificate_chain'),
      key: inline(certificate['private_key'], 'private_key'),
      ...(ca !== undefined ? { ca } : {}),
      requestCert: ca !== undefined,
      rejectUnauthorized: required,
      ALPNProtocols: ['http/1.1'],
    },
    rbac: rbacFilter ? obj(rbacFilter['typed_config'], 'rbac typed_config') : undefined,
    routeConfig,
    stripPort: hcm['strip_any_host_port'] === true,
  };
}

/** Envoy's filter chain match on SNI: an exact name, else the longest matching `*.` wildcard. */
export function selectChain<T extends { readonly serverNames: readonly string[] }>(chains: readonly T[], sni: string | undefined): T | undefined {
  if (sni === undefined) return chains.find((c) => c.serverNames.length === 0);
  const name = sni.toLowerCase();
  const exact = chains.find((c) => c.serverNames.includes(name));
  if (exact) return exact;
  let best: { chain: T; length: number } | undefined;
  for (const chain of chains) {
    for (const pattern of chain.serverNames) {
      if (pattern.startsWith('*.') && name.endsWith(pattern.slice(1)) && (!best || pattern.length > best.length)) best = { chain, length: pattern.length };
    }
  }
  return best?.chain ?? chains.find((c) => c.serverNames.length === 0);
}

/** The cluster a request is routed to, or undefined (404). */
export function routeRequest(routeConfig: Json, host: string, path: string): string | undefined {
  const hosts = arr(routeConfig['virtual_hosts'], 'virtual_hosts').map((v) => obj(v, 'virtual host'));
  const domainMatches = (d: string): boolean => d === '*' || d === host || (d.startsWith('*.') && host.endsWith(d.slice(1)));
  const vhost = hosts.find((v) => arr(v['domains'], 'domains').some((d) => domainMatches(str(d, 'domain'))));
  if (!vhost) return undefined;
  for (const r of arr(vhost['routes'], 'routes').map((x) => obj(x, 'route'))) {
    const prefix = str(obj(r['match'], 'match')['prefix'], 'prefix');
    if (path.startsWith(prefix)) return str(obj(r['route'], 'route action')['cluster'], 'cluster');
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Cluster → upstream TLS client options

/** Envoy's DNS SAN check: an exact name, also met by a wildcard SAN covering it (one label). */
function dnsSanMatches(san: string, expected: string): boolean {
  if (san === expected) return true;
  return san.startsWith('*.') && expected.endsWith(san.slice(1)) && !expected.slice(0, -san.length + 1).includes('.');
}

/** How the cluster's Envoy would connect: chain check against the CA, SAN check only when configured (Envoy does no hostname check by itself). */
export function upstreamTlsOptions(config: DecodedProxyConfig, clusterName: string): tls.ConnectionOptions {
  const cluster = config.clusters.get(clusterName);
  if (!cluster) throw new Error(`cluster "${clusterName}" is not in the snapshot`);
  const socket = obj(cluster['transport_socket'], 'transport_socket');
  const upstream = obj(socket['typed_config'], 'typed_config');
  if (socket['name'] !== 'envoy.transport_sockets.tls' || typeOf(upstream) !== 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext') throw new Error('not upstream TLS');
  const common = obj(upstream['common_tls_context'] ?? {}, 'common_tls_context');
  const certRefs = common['tls_certificate_sds_secret_configs'] === undefined ? [] : arr(common['tls_certificate_sds_secret_configs'], 'tls_certificate_sds_secret_configs');
  const certificate = certRefs[0] === undefined ? undefined : obj(secretOf(config, certRefs[0], 'tls_certificate_sds_secret_configs[0]')['tls_certificate'], 'tls_certificate');
  const combined = common['combined_validation_context'] === undefined ? undefined : obj(common['combined_validation_context'], 'combined_validation_context');
  const validationRef = combined ? combined['validation_context_sds_secret_config'] : common['validation_context_sds_secret_config'];
  const ca = validationRef === undefined ? undefined : inline(obj(secretOf(config, validationRef, 'validation context')['validation_context'], 'validation_context')['trusted_ca'], 'trusted_ca');
  const sanMatchers = combined
    ? arr(obj(combined['default_validation_context'] ?? {}, 'default_validation_context')['match_typed_subject_alt_names'] ?? [], 'match_typed_subject_alt_names').map((m) => obj(m, 'san matcher'))
    : [];
  const expectedDns = sanMatchers.map((m) => {
    if (m['san_type'] !== 'DNS') throw new Error(`SAN type ${String(m['san_type'])} not emulated`);
    return str(obj(m['matcher'], 'matcher')['exact'], 'exact');
  });
  const sni = upstream['sni'] === undefined ? undefined : str(upstream['sni'], 'sni');
  return {
    ...(certificate ? { cert: inline(certificate['certificate_chain'], 'certificate_chain'), key: inline(certificate['private_key'], 'private_key') } : {}),
    ...(ca !== undefined ? { ca } : {}),
    rejectUnauthorized: ca !== undefined,
    ...(sni !== undefined ? { servername: sni } : {}),
    checkServerIdentity: (_host, peer) => {
      if (expectedDns.length === 0) return undefined;
      const sans = (peer.subjectaltname ?? '').split(', ').filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4));
      return expectedDns.some((e) => sans.some((san) => dnsSanMatches(san, e))) ? undefined : new Error(`no DNS SAN of ${sans.join(',')} matches ${expectedDns.join(',')}`);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// TLS inspector: SNI from a ClientHello

/** undefined: need more bytes; null: no SNI (or not TLS). */
export function clientHelloSni(data: Buffer): string | null | undefined {
  if (data.length < 5) return undefined;
  if (data[0] !== 0x16) return null;
  const recordEnd = 5 + data.readUInt16BE(3);
  if (data.length < recordEnd) return undefined;
  let at = 5 + 4 + 2 + 32; // handshake header, client_version, random
  at += 1 + (data[at] ?? 0); // session_id
  at += 2 + data.readUInt16BE(at); // cipher_suites
  at += 1 + (data[at] ?? 0); // compression_methods
  if (at + 2 > recordEnd) return null;
  const extensionsEnd = at + 2 + data.readUInt16BE(at);
  at += 2;
  while (at + 4 <= extensionsEnd) {
    const type = data.readUInt16BE(at);
    const length = data.readUInt16BE(at + 2);
    if (type === 0) {
      // server_name_list length (2), name_type (1) = host_name, name length (2), name
      const nameLength = data.readUInt16BE(at + 4 + 3);
      return data.subarray(at + 4 + 5, at + 4 + 5 + nameLength).toString('ascii');
    }
    at += 4 + length;
  }
  return null;
}

export interface EmulatedReply {
  readonly cluster: string;
  /** The client certificate the chain saw, if any. */
  readonly peerSubject: string | null;
}

export interface EmulatedGateway {
  readonly port: number;
  close(): Promise<void>;
}

function handle(chain: ChainEmulation, req: http.IncomingMessage, res: http.ServerResponse): void {
  const socket = req.socket as tls.TLSSocket;
  const peer = socket.getPeerCertificate();
  const raw = 'raw' in peer && peer.raw instanceof Buffer ? peer.raw : undefined;
  const inputs: SslInputs = raw ? sslInputs(raw) : { subject: undefined, dnsSan: undefined, uriSan: undefined };
  if (chain.rbac && !evaluateRbac(chain.rbac, inputs).allowed) {
    res.writeHead(403, { 'content-type': 'text/plain' }).end('RBAC: access denied');
    return;
  }
  const hostHeader = req.headers.host ?? '';
  const host = chain.stripPort ? hostHeader.replace(/:\d+$/, '') : hostHeader;
  const cluster = routeRequest(chain.routeConfig, host, req.url ?? '/');
  if (cluster === undefined) {
    res.writeHead(404).end();
    return;
  }
  const reply: EmulatedReply = { cluster, peerSubject: inputs.subject ?? null };
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
}

function chainServer(chain: ChainEmulation): https.Server {
  return https.createServer(chain.tlsOptions, (req, res) => {
    try {
      handle(chain, req, res);
    } catch (error) {
      // A config the emulation cannot read fails the request loudly rather than hanging it.
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`emulation error: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
}

/** Serves the listener on 127.0.0.1 (an ephemeral port) the way the gateway Envoy would. */
export async function startEmulatedListener(config: DecodedProxyConfig, listenerName: string): Promise<EmulatedGateway> {
  const listener = config.listeners.get(listenerName);
  if (!listener) throw new Error(`listener "${listenerName}" is not in the snapshot`);
  const inspector = arr(listener['listener_filters'] ?? [], 'listener_filters').some((f) => obj(f, 'listener filter')['name'] === 'envoy.filters.listener.tls_inspector');
  const chains = arr(listener['filter_chains'], 'filter_chains').map((c) => {
    const emulation = chainEmulation(config, obj(c, 'filter chain'));
    if (emulation.serverNames.length > 0 && !inspector) throw new Error('server_names without a TLS inspector never match');
    return { ...emulation, server: chainServer(emulation) };
  });
  const front = net.createServer((socket) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const sni = clientHelloSni(buffered);
      if (sni === undefined) return;
      socket.off('data', onData);
      socket.pause();
      const chain = selectChain(chains, sni ?? undefined);
      if (!chain) {
        // No filter chain matches: Envoy closes the connection.
        socket.destroy();
        return;
      }
      socket.unshift(buffered);
      chain.server.emit('connection', socket);
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const address = front.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    port: address.port,
    close: async () => {
      await new Promise<void>((resolve) => front.close(() => resolve()));
      for (const chain of chains) chain.server.closeAllConnections();
    },
  };
}

/**
 * Envoy's `safe_regex` full match, as Envoy 1.40 runs it: RE2 in Latin-1 mode, so a pattern is
 * read as bytes and matched against the value's UTF-8 bytes. A pattern Envoy would refuse (a
 * `\x{…}` above 0xFF, a non-ASCII literal, a Unicode class) never matches here either.
 */
export function envoyRegexFullMatch(pattern: string, value: string): boolean {
  if (!/^[\x00-\x7f]*$/.test(pattern) || /\\x\{0*[1-9A-Fa-f][0-9A-Fa-f]{2,}\}/.test(pattern) || /\\[pP]/.test(pattern)) return false;
  return re2FullMatch(pattern, Buffer.from(value, 'utf8').toString('latin1'), 'generated');
}

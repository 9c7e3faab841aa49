/**
 * protoc-gen-validate rules checked against real Envoy protos (the ones Envoy itself enforces
 * when it accepts a resource), plus small in-memory protos for rule kinds Envoy does not use.
 */
import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import { envoyRoot, lookupType } from '../../src/protos/load.js';
import { checkEncodedResource, checkValidateRules, type RuleViolation } from '../../src/protos/validate-rules.js';
import { misfits } from '../../src/protos/validate-rules-fit.js';
import { collectRuleKinds, fieldRules, isSupportedKind, unsupportedKinds } from '../../src/protos/validate-rules-options.js';
import { checkBytes, checkNumeric, checkString } from '../../src/protos/validate-rules-scalars.js';
import { walkMessage } from '../../src/protos/validate-rules-walk.js';
import { checkDuration, checkTimestamp } from '../../src/protos/validate-rules-wkt.js';

const TYPE_PREFIX = 'type.googleapis.com/';
const CLUSTER = 'envoy.config.cluster.v3.Cluster';
const LISTENER = 'envoy.config.listener.v3.Listener';
const CLA = 'envoy.config.endpoint.v3.ClusterLoadAssignment';
const ROUTE_CONFIG = 'envoy.config.route.v3.RouteConfiguration';
const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'envoy.extensions.filters.http.router.v3.Router';
const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** `path :: rule` pairs: compact, and exact so that unexpected extra violations fail too. */
const summary = (violations: readonly RuleViolation[]): string[] => violations.map((v) => `${v.path} :: ${v.rule}`);

const ads = { ads: {}, resource_api_version: 'V3' };

function validCluster(): Record<string, unknown> {
  return {
    name: 'backend',
    type: 'EDS',
    eds_cluster_config: { eds_config: ads },
    connect_timeout: { seconds: 1 },
    lb_policy: 'ROUND_ROBIN',
    metadata: { filter_metadata: { 'meshcp.io': { fields: { team: { stringValue: 'edge' } } } } },
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': `${TYPE_PREFIX}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
        sni: 'backend.mesh.local',
        common_tls_context: {
          tls_certificate_sds_secret_configs: [{ name: 'workload', sds_config: ads }],
          validation_context_sds_secret_config: { name: 'trust', sds_config: ads },
        },
      },
    },
    typed_extension_protocol_options: {
      [HTTP_PROTOCOL_OPTIONS]: {
        '@type': `${TYPE_PREFIX}${HTTP_PROTOCOL_OPTIONS}`,
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
  };
}

function validRouteConfiguration(): Record<string, unknown> {
  return {
    name: 'edge',
    virtual_hosts: [
      {
        name: 'shop',
        domains: ['shop.example.com', '*.shop.example.com'],
        request_headers_to_add: [{ header: { key: 'x-meshcp-edge', value: 'on' } }],
        request_headers_to_remove: ['x-internal'],
        routes: [
          {
            match: { prefix: '/', headers: [{ name: 'x-env', string_match: { exact: 'prod' } }] },
            route: { cluster: 'backend', timeout: { seconds: 5 } },
          },
        ],
      },
    ],
  };
}

function hcm(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    '@type': `${TYPE_PREFIX}${HCM}`,
    stat_prefix: 'ingress_http',
    rds: { route_config_name: 'edge', config_source: ads },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': `${TYPE_PREFIX}${ROUTER}` } }],
    ...overrides,
  };
}

function listenerWith(typedConfig: Record<string, unknown>): Record<string, unknown> {
  return {
    name: 'edge_https',
    address: { socket_address: { address: '0.0.0.0', port_value: 8443 } },
    listener_filters: [
      {
        name: 'envoy.filters.listener.tls_inspector',
        typed_config: { '@type': `${TYPE_PREFIX}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector` },
      },
    ],
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: typedConfig }] }],
  };
}

function validClusterLoadAssignment(): Record<string, unknown> {
  return {
    cluster_name: 'backend',
    endpoints: [
      {
        lb_endpoints: [
          { endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 8080 } } } },
          { endpoint: { address: { socket_address: { address: '10.0.0.2', port_value: 8080 } } }, load_balancing_weight: { value: 2 } },
        ],
      },
    ],
  };
}

function claWithSocketAddress(socketAddress: Record<string, unknown>): Record<string, unknown> {
  return { cluster_name: 'backend', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: socketAddress } } }] }] };
}

describe('checkValidateRules: valid Envoy resources', () => {
  it.each([
    ['Cluster', CLUSTER, validCluster()],
    ['Listener', LISTENER, listenerWith(hcm())],
    ['Listener with an inline route config', LISTENER, listenerWith(hcm({ rds: undefined, route_config: validRouteConfiguration() }))],
    ['ClusterLoadAssignment', CLA, validClusterLoadAssignment()],
    ['RouteConfiguration', ROUTE_CONFIG, validRouteConfiguration()],
  ])('a valid %s has no violations', async (_label, typeName, resource) => {
    // given a resource Envoy would accept
    // when it is checked
    const violations = checkValidateRules(typeName, resource);
    // then nothing is reported
    expect(violations).toEqual([]);
  });

  it('accepts an already decoded protobufjs message', async () => {
    // given a decoded Cluster message
    const type = lookupType(CLUSTER);
    const decoded = type.decode(type.encode(type.fromObject(validCluster())).finish());
    // when it is checked
    const violations = checkValidateRules(CLUSTER, decoded);
    // then nothing is reported
    expect(violations).toEqual([]);
  });
});

describe('checkValidateRules: violations', () => {
  it('reports an empty cluster_name of a ClusterLoadAssignment', async () => {
    // given a ClusterLoadAssignment without a cluster name
    const cla = { ...validClusterLoadAssignment(), cluster_name: '' };
    // when it is checked
    const violations = checkValidateRules(CLA, cla);
    // then string.min_len is reported at cluster_name
    expect(summary(violations)).toEqual(['cluster_name :: string.min_len']);
    expect(violations[0].message).toContain('at least 1');
  });

  it('reports a port_value above 65535', async () => {
    // given an endpoint on port 70000
    const cla = claWithSocketAddress({ address: '10.0.0.1', port_value: 70000 });
    // when it is checked
    const violations = checkValidateRules(CLA, cla);
    // then uint32.lte is reported with the full path
    expect(summary(violations)).toEqual(['endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value :: uint32.lte']);
  });

  it('reports a required oneof that has no member set', async () => {
    // given a socket address without port_value or named_port, and a listener address without any kind
    const cla = claWithSocketAddress({ address: '10.0.0.1' });
    const listener = { ...listenerWith(hcm()), address: {} };
    // when both are checked
    const claViolations = checkValidateRules(CLA, cla);
    const listenerViolations = checkValidateRules(LISTENER, listener);
    // then oneof.required is reported at the oneof's name
    expect(summary(claViolations)).toEqual(['endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_specifier :: oneof.required']);
    expect(summary(listenerViolations)).toEqual(['address.address :: oneof.required']);
  });

  it('accepts a oneof member explicitly set to its default value', async () => {
    // given port_value explicitly 0 (a set oneof member, even if it is the default)
    const cla = claWithSocketAddress({ address: '10.0.0.1', port_value: 0 });
    // when it is checked
    const violations = checkValidateRules(CLA, cla);
    // then the required oneof is satisfied
    expect(violations).toEqual([]);
  });

  it('reports violations inside an Any typed_config with a path through typed_config', async () => {
    // given an HttpConnectionManager with an empty stat_prefix and an inline route to an empty cluster name
    const routeConfig = validRouteConfiguration();
    const badRoute = { match: { prefix: '/' }, route: { cluster: '' } };
    const virtualHosts = [{ name: 'shop', domains: ['*'], routes: [badRoute] }];
    const listener = listenerWith(hcm({ stat_prefix: '', rds: undefined, route_config: { ...routeConfig, virtual_hosts: virtualHosts } }));
    // when the listener is checked
    const violations = checkValidateRules(LISTENER, listener);
    // then both are reported below filter_chains[0].filters[0].typed_config
    expect(summary(violations)).toEqual([
      'filter_chains[0].filters[0].typed_config.stat_prefix :: string.min_len',
      'filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.cluster :: string.min_len',
    ]);
  });

  it('reports header names that violate HTTP_HEADER_NAME in a RouteConfiguration', async () => {
    // given header names carrying CR/LF (rejected even by the non-strict header rule Envoy uses here)
    const config = validRouteConfiguration();
    const [vhost] = config.virtual_hosts as Array<Record<string, unknown>>;
    vhost.request_headers_to_remove = ['x-fine', 'x-bad\r\nx-injected'];
    vhost.request_headers_to_add = [{ header: { key: 'x-evil\n', value: 'v' } }];
    // when it is checked
    const violations = checkValidateRules(ROUTE_CONFIG, config);
    // then each is reported as a well_known_regex violation at its element
    expect(summary(violations)).toEqual([
      'virtual_hosts[0].request_headers_to_add[0].header.key :: string.well_known_regex',
      'virtual_hosts[0].request_headers_to_remove[1] :: string.well_known_regex',
    ]);
    expect(violations[0].message).toContain('HTTP_HEADER_NAME');
  });

  it('applies strict HTTP_HEADER_NAME with ignore_empty inside a map of Any values', async () => {
    // given upstream HTTP options whose override_auto_sni_header is strict and ignore_empty
    const withSniHeader = (header: string): Record<string, unknown> => ({
      ...validCluster(),
      typed_extension_protocol_options: {
        [HTTP_PROTOCOL_OPTIONS]: {
          '@type': `${TYPE_PREFIX}${HTTP_PROTOCOL_OPTIONS}`,
          explicit_http_config: { http2_protocol_options: {} },
          upstream_http_protocol_options: { override_auto_sni_header: header },
        },
      },
    });
    // when a header with a space, an empty one and a good one are checked
    const spaced = checkValidateRules(CLUSTER, withSniHeader('x sni'));
    const empty = checkValidateRules(CLUSTER, withSniHeader(''));
    const good = checkValidateRules(CLUSTER, withSniHeader(':authority'));
    // then only the space (not a token character) is a violation
    expect(summary(spaced)).toEqual([
      `typed_extension_protocol_options["${HTTP_PROTOCOL_OPTIONS}"].upstream_http_protocol_options.override_auto_sni_header :: string.well_known_regex`,
    ]);
    expect(empty).toEqual([]);
    expect(good).toEqual([]);
  });

  it('reports Duration rule violations', async () => {
    // given a negative and a zero connect_timeout (gt 0), and a negative request_headers_timeout (gte 0)
    const negative = { ...validCluster(), connect_timeout: { seconds: -1 } };
    const zero = { ...validCluster(), connect_timeout: { seconds: 0, nanos: 0 } };
    const listener = listenerWith(hcm({ request_headers_timeout: { seconds: -5 } }));
    // when they are checked
    const negativeViolations = checkValidateRules(CLUSTER, negative);
    const zeroViolations = checkValidateRules(CLUSTER, zero);
    const listenerViolations = checkValidateRules(LISTENER, listener);
    // then duration.gt / duration.gte are reported
    expect(summary(negativeViolations)).toEqual(['connect_timeout :: duration.gt']);
    expect(summary(zeroViolations)).toEqual(['connect_timeout :: duration.gt']);
    expect(summary(listenerViolations)).toEqual(['filter_chains[0].filters[0].typed_config.request_headers_timeout :: duration.gte']);
  });

  it('reports an empty domains list (repeated.min_items)', async () => {
    // given a virtual host without domains
    const config = validRouteConfiguration();
    (config.virtual_hosts as Array<Record<string, unknown>>)[0].domains = [];
    // when it is checked
    const violations = checkValidateRules(ROUTE_CONFIG, config);
    // then repeated.min_items is reported at domains
    expect(summary(violations)).toEqual(['virtual_hosts[0].domains :: repeated.min_items']);
  });

  it('reports an Any whose type is not in the loaded protos', async () => {
    // given a network filter with a typed_config of an unknown type
    const listener = listenerWith({ type_url: `${TYPE_PREFIX}acme.filters.v1.Mystery`, value: Buffer.from([8, 1]) });
    // when it is checked
    const violations = checkValidateRules(LISTENER, listener);
    // then the Any itself is reported as an unknown type
    expect(summary(violations)).toEqual(['filter_chains[0].filters[0].typed_config :: unknown-type']);
    expect(violations[0].message).toContain('unknown type');
    expect(violations[0].message).toContain('acme.filters.v1.Mystery');
  });

  it('reports message.required, enum.defined_only and a missing any.required', async () => {
    // given a route without match, a cluster with an undefined lb_policy, and an extension without typed_config
    const config = validRouteConfiguration();
    (config.virtual_hosts as Array<Record<string, unknown>>)[0].routes = [{ route: { cluster: 'backend' } }];
    const cluster = { ...validCluster(), lb_policy: 99 };
    const listener = listenerWith(hcm({ original_ip_detection_extensions: [{ name: 'envoy.extensions.http.original_ip_detection.xff' }] }));
    // when they are checked
    const routeViolations = checkValidateRules(ROUTE_CONFIG, config);
    const clusterViolations = checkValidateRules(CLUSTER, cluster);
    const listenerViolations = checkValidateRules(LISTENER, listener);
    // then each rule is reported at its field
    expect(summary(routeViolations)).toEqual(['virtual_hosts[0].routes[0].match :: message.required']);
    expect(summary(clusterViolations)).toEqual(['lb_policy :: enum.defined_only']);
    expect(summary(listenerViolations)).toEqual([
      'filter_chains[0].filters[0].typed_config.original_ip_detection_extensions[0].typed_config :: any.required',
    ]);
  });

  it('applies wrapper rules to .value only when the wrapper is set', async () => {
    // given preconnect ratios (DoubleValue, 1 <= value <= 3) and a ring size (UInt64Value, lte 8388608)
    const withPolicy = (policy: Record<string, unknown>): Record<string, unknown> => ({ ...validCluster(), preconnect_policy: policy });
    const ringHash = { ...validCluster(), lb_policy: 'RING_HASH', ring_hash_lb_config: { maximum_ring_size: { value: '9007199254740993' } } };
    // when they are checked
    const tooHigh = checkValidateRules(CLUSTER, withPolicy({ per_upstream_preconnect_ratio: { value: 3.5 } }));
    const setToDefault = checkValidateRules(CLUSTER, withPolicy({ per_upstream_preconnect_ratio: {} }));
    const unset = checkValidateRules(CLUSTER, withPolicy({}));
    const ring = checkValidateRules(CLUSTER, ringHash);
    // then the set wrappers are checked (a set wrapper with the default 0 too) and the unset one is not
    expect(summary(tooHigh)).toEqual(['preconnect_policy.per_upstream_preconnect_ratio :: double.lte']);
    expect(summary(setToDefault)).toEqual(['preconnect_policy.per_upstream_preconnect_ratio :: double.gte']);
    expect(unset).toEqual([]);
    expect(summary(ring)).toEqual(['ring_hash_lb_config.maximum_ring_size :: uint64.lte']);
  });

  it('reports map key rules and repeated.unique', async () => {
    // given metadata with an empty filter name, and an internal redirect policy copying a header twice
    const cluster = { ...validCluster(), metadata: { filter_metadata: { '': { fields: {} } } } };
    const config = validRouteConfiguration();
    const [vhost] = config.virtual_hosts as Array<Record<string, unknown>>;
    vhost.routes = [
      { match: { prefix: '/' }, route: { cluster: 'backend', internal_redirect_policy: { response_headers_to_copy: ['x-a', 'x-b', 'x-a'] } } },
    ];
    // when they are checked
    const clusterViolations = checkValidateRules(CLUSTER, cluster);
    const routeViolations = checkValidateRules(ROUTE_CONFIG, config);
    // then the key and the duplicate are reported
    expect(summary(clusterViolations)).toEqual(['metadata.filter_metadata[""] :: map.keys.string.min_len']);
    expect(summary(routeViolations)).toEqual([
      'virtual_hosts[0].routes[0].route.internal_redirect_policy.response_headers_to_copy[2] :: repeated.unique',
    ]);
  });

  it('checks a oneof member only when it is set, with RE2 patterns', async () => {
    // given route matches using path_separated_prefix (pattern ^[^?#]+[^?#/]$) or prefix
    const withMatch = (match: Record<string, unknown>): Record<string, unknown> => {
      const config = validRouteConfiguration();
      (config.virtual_hosts as Array<Record<string, unknown>>)[0].routes = [{ match, route: { cluster: 'backend' } }];
      return config;
    };
    // when they are checked
    const trailingSlash = checkValidateRules(ROUTE_CONFIG, withMatch({ path_separated_prefix: '/api/' }));
    const good = checkValidateRules(ROUTE_CONFIG, withMatch({ path_separated_prefix: '/api' }));
    const otherMember = checkValidateRules(ROUTE_CONFIG, withMatch({ prefix: '/api/' }));
    // then only the set member with a trailing slash fails
    expect(summary(trailingSlash)).toEqual(['virtual_hosts[0].routes[0].match.path_separated_prefix :: string.pattern']);
    expect(good).toEqual([]);
    expect(otherMember).toEqual([]);
  });

  it('reports an unknown type name passed to checkValidateRules', async () => {
    // given a type name that is not loaded
    // when it is checked
    const violations = checkValidateRules('acme.v1.Nothing', {});
    // then it is reported instead of throwing
    expect(summary(violations)).toEqual([' :: unknown-type']);
  });
});

describe('checkEncodedResource', () => {
  it('round-trips bytes from Type.encode to the same violations', async () => {
    // given an invalid and a valid ClusterLoadAssignment encoded with protobufjs
    const type = lookupType(CLA);
    const invalid = { ...claWithSocketAddress({ address: '10.0.0.1', port_value: 70000 }), cluster_name: '' };
    const invalidBytes = type.encode(type.fromObject(invalid)).finish();
    const validBytes = type.encode(type.fromObject(validClusterLoadAssignment())).finish();
    // when the bytes are checked by type URL
    const invalidViolations = checkEncodedResource(`${TYPE_PREFIX}${CLA}`, invalidBytes);
    const validViolations = checkEncodedResource(`${TYPE_PREFIX}${CLA}`, validBytes);
    // then they match the check of the object form
    expect(invalidViolations).toEqual(checkValidateRules(CLA, invalid));
    expect(summary(invalidViolations)).toEqual([
      'cluster_name :: string.min_len',
      'endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value :: uint32.lte',
    ]);
    expect(validViolations).toEqual([]);
  });

  it('round-trips a Listener whose typed_config carries a violation', async () => {
    // given an encoded listener with an HCM without stat_prefix
    const type = lookupType(LISTENER);
    const bytes = type.encode(type.fromObject(listenerWith(hcm({ stat_prefix: '' })))).finish();
    // when the bytes are checked
    const violations = checkEncodedResource(`${TYPE_PREFIX}${LISTENER}`, bytes);
    // then the nested violation is found through the Any
    expect(summary(violations)).toEqual(['filter_chains[0].filters[0].typed_config.stat_prefix :: string.min_len']);
  });

  it('reports undecodable bytes and unknown type URLs as violations', async () => {
    // given truncated bytes (a length-delimited field claiming 10 bytes) and an unknown type URL
    const truncated = Uint8Array.from([0x0a, 0x0a, 0x61]);
    // when they are checked
    const decodeFailure = checkEncodedResource(`${TYPE_PREFIX}${CLA}`, truncated);
    const unknown = checkEncodedResource(`${TYPE_PREFIX}acme.v1.Nothing`, new Uint8Array());
    // then each is a single violation at the root
    expect(summary(decodeFailure)).toEqual([' :: decode-error']);
    expect(summary(unknown)).toEqual([' :: unknown-type']);
  });
});

describe('rule coverage of the loaded Envoy protos', () => {
  it('supports every rule kind used anywhere in the root', async () => {
    // given every (validate.rules) kind declared in the loaded protos
    const kinds = [...collectRuleKinds(envoyRoot())].sort();
    // when each is looked up in the supported set
    const unsupported = kinds.filter((kind) => !isSupportedKind(kind));
    // then none is missing (and the scan did find the rules Envoy relies on)
    expect(unsupported).toEqual([]);
    expect(kinds).toEqual(expect.arrayContaining(['string.min_len', 'string.well_known_regex', 'duration.gt', 'repeated.items', 'map.keys']));
  });

  it('has no rule family on a field type it cannot apply to', async () => {
    // given every field with rules in the root
    const problems: string[] = [];
    const visit = (ns: protobuf.NamespaceBase): void => {
      for (const nested of ns.nestedArray) {
        if (nested instanceof protobuf.Type) {
          for (const field of nested.fieldsArray) {
            const rules = fieldRules(field);
            // when its rule families are matched against its type
            for (const issue of rules ? misfits(field, rules) : []) problems.push(`${field.fullName}: ${issue.message}`);
          }
        }
        if (nested instanceof protobuf.Namespace) visit(nested);
      }
    };
    visit(envoyRoot());
    // then every family fits
    expect(problems).toEqual([]);
  });
});

describe('walkMessage on small in-memory protos', () => {
  const source = `
    syntax = "proto3";
    package t;
    message Quiet { option (validate.disabled) = true; string s = 1 [(validate.rules).string.min_len = 1]; }
    message Leaf { int32 x = 1 [(validate.rules).int32 = {lt: 0, gt: 10}]; }
    message Outer {
      string name = 1 [(validate.rules).string = {min_len: 2, frobnicate: true}];
      uint32 n = 2 [(validate.rules).string.min_len = 1];
      Quiet quiet = 3;
      Leaf skipped = 4 [(validate.rules).message.skip = true];
      Leaf checked = 5;
      optional string opt = 6 [(validate.rules).string.min_len = 3];
      map<int64, string> m = 7 [(validate.rules).map = {max_pairs: 1, keys: {int64: {gt: 0}}, values: {string: {prefix: "v"}}}];
      repeated bytes bs = 8 [(validate.rules).repeated = {unique: true, items: {bytes: {len: 2}}}];
      oneof choice { option (validate.required) = true; string a = 9; int32 b = 10; }
    }`;
  const root = protobuf.parse(source, { keepCase: true }).root;
  root.resolveAll();
  const outer = root.lookupType('t.Outer');

  it('reports unknown rules, misfits and each rule family, honouring disabled and skip', async () => {
    // given a message exercising disabled, skip, proto3 optional, maps, unique bytes and an exclusive range
    const message = outer.fromObject({
      name: 'a',
      quiet: { s: '' },
      skipped: { x: 5 },
      checked: { x: 5 },
      opt: 'ab',
      m: { '-1': 'x', '2': 'v' },
      bs: [Buffer.from('ab'), Buffer.from('ab'), Buffer.from('c')],
      b: 0,
    });
    // when it is walked
    const violations = walkMessage(root, outer, message);
    // then exactly the expected violations are reported
    expect(summary(violations)).toEqual([
      'name :: unsupported-rule:string.frobnicate',
      'name :: string.min_len',
      'n :: unsupported-rule:string',
      'checked.x :: int32.lt/gt',
      'opt :: string.min_len',
      'm :: map.max_pairs',
      'm["-1"] :: map.keys.int64.gt',
      'm["-1"] :: string.prefix',
      'bs[1] :: repeated.unique',
      'bs[2] :: bytes.len',
    ]);
  });

  it('decodes 64-bit map keys and reports a missing required oneof', async () => {
    // given an encoded message with a negative int64 key and no oneof member
    const bytes = outer.encode(outer.fromObject({ name: 'ok', m: { '-7': 'v' } })).finish();
    // when it is decoded and walked
    const violations = walkMessage(root, outer, outer.decode(bytes));
    // then the key is shown in decimal and the oneof is required
    expect(summary(violations)).toEqual([
      'name :: unsupported-rule:string.frobnicate',
      'n :: unsupported-rule:string',
      'm["-7"] :: map.keys.int64.gt',
      'choice :: oneof.required',
    ]);
  });

  it('flags rules that are not understood', async () => {
    // given rule sets with an unknown key and an unknown family
    // when they are scanned
    const kinds = unsupportedKinds({ string: { min_len: 1, sparkle: true }, widget: { size: 1 } });
    // then both are named
    expect(kinds).toEqual(['string.sparkle', 'widget.size']);
  });
});

describe('scalar and well-known-type rule semantics', () => {
  it('compares 64-bit values exactly and applies PGV exclusive ranges', async () => {
    // given values around 2^53 and ranges where lt < gt (value must lie outside [lt, gt])
    const unsignedLong = (decimal: string): protobuf.Long => protobuf.util.LongBits.from(decimal).toLong(true);
    // when they are checked
    const results = {
      aboveMax: checkNumeric('uint64', unsignedLong('9007199254740993'), { lte: 9007199254740992 }),
      atMax: checkNumeric('uint64', unsignedLong('9007199254740992'), { lte: 9007199254740992 }),
      huge: checkNumeric('uint64', unsignedLong('18446744073709551615'), { gt: 0 }),
      insideExclusive: checkNumeric('int32', 5, { lt: 0, gt: 10 }),
      belowExclusive: checkNumeric('int32', -1, { lt: 0, gt: 10 }),
      aboveExclusive: checkNumeric('sint64', 11, { lt: 0, gt: 10 }),
      floatRounded: checkNumeric('float', Math.fround(0.1), { lte: 0.1 }),
      ignoredZero: checkNumeric('uint32', 0, { gt: 5, ignore_empty: true }),
      notIn: checkNumeric('fixed32', 3, { not_in: [1, 3] }),
    };
    // then only the out-of-range ones are reported
    expect(Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.map((i) => i.rule)]))).toEqual({
      aboveMax: ['uint64.lte'],
      atMax: [],
      huge: [],
      insideExclusive: ['int32.lt/gt'],
      belowExclusive: [],
      aboveExclusive: [],
      floatRounded: [],
      ignoredZero: [],
      notIn: ['fixed32.not_in'],
    });
  });

  it('applies strict and non-strict header regexes and string formats', async () => {
    // given strings checked against well-known regexes and formats
    const rules = (r: Record<string, unknown>): string[] => checkString(r.value, r).map((i) => i.rule);
    // when they are checked, then the PGV semantics hold
    expect(rules({ value: 'x y', well_known_regex: 'HTTP_HEADER_NAME' })).toEqual(['string.well_known_regex']);
    expect(rules({ value: 'x y', well_known_regex: 'HTTP_HEADER_NAME', strict: false })).toEqual([]);
    expect(rules({ value: '', well_known_regex: 'HTTP_HEADER_NAME' })).toEqual(['string.well_known_regex']);
    expect(rules({ value: 'a\tb', well_known_regex: 'HTTP_HEADER_VALUE' })).toEqual([]);
    expect(rules({ value: 'a\u0001b', well_known_regex: 2 })).toEqual(['string.well_known_regex']);
    expect(rules({ value: 'héllo', len: 5, max_bytes: 5 })).toEqual(['string.max_bytes']);
    expect(rules({ value: 'dev@example.com', email: true })).toEqual([]);
    expect(rules({ value: 'not an email', email: true })).toEqual(['string.email']);
    expect(rules({ value: '-bad-.example', hostname: true })).toEqual(['string.hostname']);
    expect(rules({ value: '::1', ipv6: true })).toEqual([]);
    expect(rules({ value: '::1', ipv4: true })).toEqual(['string.ipv4']);
    expect(rules({ value: 'relative/path', uri: true })).toEqual(['string.uri']);
    expect(rules({ value: 'relative/path', uri_ref: true })).toEqual([]);
    expect(rules({ value: '10.0.0.1', address: true })).toEqual([]);
    expect(rules({ value: '123e4567-e89b-12d3-a456-426614174000', uuid: true })).toEqual([]);
    expect(rules({ value: 'abc', prefix: 'a', suffix: 'c', contains: 'b', not_contains: 'z', in: ['abc'] })).toEqual([]);
    expect(rules({ value: 'abc', const: 'abd', not_in: 'abc' })).toEqual(['string.const', 'string.not_in']);
    expect(rules({ value: 'x', pattern: '(?i)^X$' })).toEqual([]);
    expect(rules({ value: 'x', pattern: '(?=x)' })).toEqual(['string.pattern']);
  });

  it('checks bytes, durations and timestamps', async () => {
    // given a fixed clock
    const now = new Date('2025-01-01T00:00:00Z');
    const seconds = now.getTime() / 1000;
    // when values are checked
    const bytes = checkBytes(Buffer.from([1, 2, 3]), { prefix: '\u0001', suffix: '\u0003', len: 3, in: ['\u0001\u0002\u0003'] });
    const badBytes = checkBytes(Buffer.from([1, 2]), { ipv4: true, const: '\u0001' });
    const duration = checkDuration({ seconds: 1, nanos: 500_000_000 }, { in: [{ seconds: 1 }, { seconds: 2 }] });
    const past = checkTimestamp({ seconds: seconds - 10 }, { lt_now: true, within: { seconds: 60 } }, now);
    const future = checkTimestamp({ seconds: seconds + 10 }, { lt_now: true }, now);
    const tooFar = checkTimestamp({ seconds: seconds - 3600 }, { within: { seconds: 60 } }, now);
    const absolute = checkTimestamp({ seconds: 0 }, { gt: { seconds: 1 } }, now);
    // then the rules are applied with their PGV meaning
    expect(bytes).toEqual([]);
    expect(badBytes.map((i) => i.rule)).toEqual(['bytes.const', 'bytes.ipv4']);
    expect(duration.map((i) => i.rule)).toEqual(['duration.in']);
    expect(past).toEqual([]);
    expect(future.map((i) => i.rule)).toEqual(['timestamp.lt_now']);
    expect(tooFar.map((i) => i.rule)).toEqual(['timestamp.within']);
    expect(absolute.map((i) => i.rule)).toEqual(['timestamp.gt']);
  });
});

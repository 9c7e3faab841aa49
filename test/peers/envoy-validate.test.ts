/**
 * The Go tool that runs Envoy's compiled validators (test/peers/go/cmd/envoy-validate) finds what
 * Envoy would refuse: a broken rule at the top, one inside a typed_config Any, a type it does not
 * know, and fields Envoy's protos do not have. Without this, its empty verdicts on generated
 * resources would prove nothing.
 */
import { describe, expect, it } from 'vitest';
import { lookupType } from '../../src/protos/load.js';
import { encodeResource } from '../../src/snapshot/encode.js';
import { CLUSTER_TYPE, LISTENER_TYPE } from '../../src/snapshot/types.js';
import { envoyValidate } from './envoy-validate.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

/** Encoded without meshcp's own checks, so that invalid resources can be made. */
function encodeRaw(typeUrl: string, value: Record<string, unknown>): Uint8Array {
  const type = lookupType(typeUrl.replace('type.googleapis.com/', ''));
  return type.encode(type.fromObject(value)).finish();
}

const cluster = (name: string): Record<string, unknown> => ({ name, type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } }, connect_timeout: { seconds: 1 } });

const listener = (statPrefix: string, typeUrl = HCM): Record<string, unknown> => ({
  name: 'in',
  address: { socket_address: { address: '127.0.0.1', port_value: 8080 } },
  filter_chains: [
    {
      filters: [
        {
          name: 'envoy.filters.network.http_connection_manager',
          typed_config: { '@type': typeUrl, stat_prefix: statPrefix, rds: { route_config_name: 'r', config_source: { ads: {}, resource_api_version: 'V3' } }, http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }] },
        },
      ],
    },
  ],
});

describe("Envoy's compiled validators (envoy-validate)", () => {
  it('accepts valid resources and names the rule and field path of invalid ones, inside Any too', () => {
    // given: a valid cluster and listener, a cluster with no name, an HCM with no stat_prefix
    const inputs = [
      { typeUrl: CLUSTER_TYPE, value: encodeResource(CLUSTER_TYPE, cluster('backend')).value },
      { typeUrl: LISTENER_TYPE, value: encodeResource(LISTENER_TYPE, listener('in')).value },
      { typeUrl: CLUSTER_TYPE, value: encodeRaw(CLUSTER_TYPE, cluster('')) },
      { typeUrl: LISTENER_TYPE, value: encodeResource(LISTENER_TYPE, listener('')).value },
    ];

    // when
    const [validCluster, validListener, noName, noStatPrefix] = envoyValidate(inputs);

    // then
    expect(validCluster).toEqual([]);
    expect(validListener).toEqual([]);
    expect(noName).toHaveLength(1);
    expect(noName?.[0]).toMatch(/Cluster.*Name/);
    expect(noStatPrefix).toHaveLength(1);
    expect(noStatPrefix?.[0]).toMatch(/filter_chains\[0\]\.filters\[0\]\.typed_config<envoy\.extensions\.filters\.network\.http_connection_manager\.v3\.HttpConnectionManager>.*StatPrefix/);
  });

  it('refuses what it cannot check: an unknown type, an Any of an unknown type, fields Envoy does not have', () => {
    // given: proto3 JSON (a Duration is a string there), as Envoy reads a bootstrap file
    const clusterJson = { ...cluster('backend'), connect_timeout: '1s' };
    const withTrailingUnknownField = Buffer.concat([Buffer.from(encodeResource(CLUSTER_TYPE, cluster('backend')).value), Buffer.from([0xf8, 0xff, 0x3f, 0x01])]);
    const inputs = [
      { typeUrl: 'type.googleapis.com/example.NotEnvoy', value: new Uint8Array() },
      { typeUrl: LISTENER_TYPE, value: encodeRaw(LISTENER_TYPE, { ...listener('in'), listener_filters: [{ name: 'x', typed_config: { type_url: 'type.googleapis.com/example.NotAFilter', value: Buffer.from([8, 1]) } }] }) },
      { typeUrl: CLUSTER_TYPE, value: withTrailingUnknownField },
      { typeUrl: CLUSTER_TYPE, json: { ...clusterJson, not_a_field: true } },
      { typeUrl: CLUSTER_TYPE, json: clusterJson },
    ];

    // when
    const [unknownType, unknownAny, unknownBinaryField, unknownJsonField, validJson] = envoyValidate(inputs);

    // then
    expect(unknownType?.[0]).toMatch(/unknown type "type.googleapis.com\/example.NotEnvoy"/);
    expect(unknownAny?.join('\n')).toMatch(/listener_filters\[0\]\.typed_config: cannot unpack "type.googleapis.com\/example.NotAFilter"/);
    expect(unknownBinaryField?.[0]).toMatch(/fields unknown to Envoy's envoy\.config\.cluster\.v3\.Cluster/);
    expect(unknownJsonField?.[0]).toMatch(/not_a_field/);
    expect(validJson).toEqual([]);
  });
});

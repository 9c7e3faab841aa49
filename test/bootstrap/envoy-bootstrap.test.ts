/**
 * The Envoy bootstrap `meshcp bootstrap envoy` prints must be a valid Envoy Bootstrap: it is
 * converted to the proto (Struct fields as proto JSON), must survive an encode/decode round trip
 * without losing a field (protobufjs drops unknown fields silently), and must pass validate.rules.
 */
import { describe, expect, it } from 'vitest';
import { envoyBootstrap, XDS_CLUSTER_NAME } from '../../src/bootstrap/envoy.js';
import { lookupType } from '../../src/protos/load.js';
import { checkEncodedResource } from '../../src/protos/validate-rules.js';
import { jsonToStruct, structToJson } from '../../src/xds/struct.js';

const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';

type Obj = Record<string, unknown>;
const get = (o: unknown, ...keys: Array<string | number>): unknown => keys.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], o);

/** The two google.protobuf.Struct fields are plain JSON in a bootstrap file (proto3 JSON mapping). */
function mapStructs(bootstrap: Obj, convert: (json: Obj) => Obj): Obj {
  const copy = structuredClone(bootstrap);
  const node = get(copy, 'node') as Obj;
  node['metadata'] = convert(node['metadata'] as Obj);
  for (const layer of get(copy, 'layered_runtime', 'layers') as Obj[]) if (layer['static_layer']) layer['static_layer'] = convert(layer['static_layer'] as Obj);
  return copy;
}

describe('meshcp bootstrap envoy', () => {
  it('is a lossless, valid Envoy Bootstrap with ADS to meshcp', () => {
    // given
    const bootstrap = envoyBootstrap({ name: 'edge', mesh: 'default', xdsAddress: '10.0.0.5:5678', token: 'tkn' });
    // when: encoded as the Bootstrap proto and decoded again
    const type = lookupType(BOOTSTRAP);
    const bytes = type.encode(type.fromObject(mapStructs(bootstrap, jsonToStruct))).finish();
    const decoded = type.toObject(type.decode(bytes), { json: true, enums: String, longs: Number });
    // then: nothing was dropped, and validate.rules holds
    expect(mapStructs(decoded, structToJson)).toEqual(JSON.parse(JSON.stringify(bootstrap)));
    expect(checkEncodedResource(`type.googleapis.com/${BOOTSTRAP}`, bytes)).toEqual([]);
    // and: node identity, ADS and the raised RE2 limit the gateway's subject matchers need
    expect(get(bootstrap, 'node')).toMatchObject({ id: 'edge', metadata: { mesh: 'default', flavor: 'envoy', token: 'tkn' } });
    expect(get(bootstrap, 'dynamic_resources', 'ads_config', 'grpc_services', 0, 'envoy_grpc', 'cluster_name')).toBe(XDS_CLUSTER_NAME);
    expect(get(bootstrap, 'layered_runtime', 'layers', 0, 'static_layer', 're2.max_program_size.error_level')).toBeGreaterThan(100);
  });
});

import { describe, expect, it } from 'vitest';
import { lookupType } from '../../src/protos/load.js';
import { jsonToStruct, structToJson } from '../../src/xds/struct.js';

describe('node metadata Struct', () => {
  it('survives a wire round trip through the Envoy Node message', () => {
    // given: metadata as meshcp bootstraps write it
    const metadata = { mesh: 'default', flavor: 'grpc', token: 'abc', nested: { n: 2, ok: true, list: ['x', null] } };
    const Node = lookupType('envoy.config.core.v3.Node');
    // when: encoded and decoded as the xDS server decodes requests
    const bytes = Node.encode(Node.fromObject({ id: 'web', metadata: jsonToStruct(metadata) })).finish();
    const decoded = Node.toObject(Node.decode(bytes), { defaults: true, longs: String, enums: String });
    // then: the same JSON comes back
    expect(bytes.length).toBeGreaterThan(40);
    expect(structToJson(decoded['metadata'])).toEqual(metadata);
  });
});

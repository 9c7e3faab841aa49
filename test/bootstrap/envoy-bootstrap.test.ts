/**
 * The Envoy bootstrap `meshcp bootstrap envoy` prints must be a bootstrap Envoy 1.40 accepts
 * (`envoy --mode validate`).
 */
import { describe, expect, it } from 'vitest';
import { envoyBootstrap, XDS_CLUSTER_NAME } from '../../src/bootstrap/envoy.js';
import { get, validateBootstrap } from '../helpers/envoy-bootstrap.js';

describe('meshcp bootstrap envoy', () => {
  it('is a lossless, valid Envoy Bootstrap with ADS to meshcp', () => {
    // given
    const bootstrap = envoyBootstrap({ name: 'edge', mesh: 'default', xdsAddress: '10.0.0.5:5678', token: 'tkn' });
    // when: Envoy 1.40 checks it as it would at start
    const validation = validateBootstrap(bootstrap);
    // then
    expect(validation).toEqual({ ok: true });
    // and: node identity, ADS and the raised RE2 limit the gateway's subject matchers need
    expect(get(bootstrap, 'node')).toMatchObject({ id: 'edge', metadata: { mesh: 'default', flavor: 'envoy', token: 'tkn' } });
    expect(get(bootstrap, 'dynamic_resources', 'ads_config', 'grpc_services', 0, 'envoy_grpc', 'cluster_name')).toBe(XDS_CLUSTER_NAME);
    expect(get(bootstrap, 'layered_runtime', 'layers', 0, 'static_layer', 're2.max_program_size.error_level')).toBeGreaterThan(100);
  });
});

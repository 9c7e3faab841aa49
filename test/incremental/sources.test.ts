/**
 * Every generated resource knows the user resources it came from (issue #11), so a NACK can be
 * shown on the Route, Mesh, Service or Secret that caused it.
 */
import { BehaviorSubject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Resource } from '../../src/api/types.js';
import type { MeshTlsMaterial } from '../../src/ca/workload-identity.js';
import { generateForProxy } from '../../src/generate/generate.js';
import { secretMaterialFromResources } from '../helpers/secret-material.js';
import { ControlPlane } from '../../src/runtime/control-plane.js';
import { silentLogger } from '../../src/log/logger.js';
import { translateMeshes } from '../../src/translate/mesh-services.js';
import { gatewayListenerName, gatewayRouteName, userCertificateSecretName } from '../../src/envoy/names.js';
import { sourcesOf } from '../../src/snapshot/snapshot.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { FakeEnvoy } from '../helpers/fake-envoy.js';
import { waitFor } from '../helpers/wait.js';
import { changesOfLists } from '../helpers/list-changes.js';

const material: MeshTlsMaterial = {
  identity: () => ({ certChainPem: 'CERT', keyPem: 'KEY', spiffeIds: [], serialHex: '1', notAfter: new Date(0) }),
  trustBundle: () => 'ROOTS',
};

const resources = [
  {
    type: 'Mesh',
    name: 'default',
    mtls: {
      enabledBackend: 'ca-1',
      backends: [{ name: 'ca-1', type: 'builtin', mode: 'STRICT', dpCert: { rotation: { expiration: '24h', expirationSeconds: 86400 } }, conf: { caCert: { RSAbits: 2048, expiration: '10y', expirationSeconds: 315360000 } } }],
    },
  },
  {
    type: 'Dataplane',
    name: 'web-01',
    mesh: 'default',
    networking: { address: '10.0.0.1', inbound: [{ port: 8080, servicePort: 18080, tags: { 'kuma.io/service': 'web', 'kuma.io/protocol': 'http' } }], outbound: [{ port: 10001, tags: { 'kuma.io/service': 'billing' } }] },
  },
  { type: 'TrafficPermission', name: 'edge-to-web', mesh: 'default', sources: [{ match: { 'kuma.io/service': 'edge' } }], destinations: [{ match: { 'kuma.io/service': 'web' } }] },
  { type: 'Service', name: 'billing', mesh: 'default', endpoints: [{ address: '10.9.0.1', port: 443 }], tls: { caSecret: 'billing-ca', sni: 'billing.example.com' } },
  { type: 'Secret', name: 'billing-ca', mesh: 'default', secretType: 'tls-ca', cert: 'PEM-CA' },
  { type: 'Secret', name: 'shop-cert', mesh: 'default', secretType: 'tls', cert: 'PEM-CERT', key: 'PEM-KEY' },
  { type: 'Gateway', name: 'edge', mesh: 'default', listeners: [{ port: 8443 }] },
  { type: 'Route', name: 'shop', mesh: 'default', host: 'shop.example.com', tls: { serverCertificate: { name: 'shop-cert' } }, routes: [{ prefix: '/', route: { service: 'billing' } }] },
] as unknown as Resource[];

describe('sources of generated resources', () => {
  it('name the Dataplane, Mesh, Service, TrafficPermission, Gateway, Route and Secret each resource comes from', () => {
    // given the model and material
    const model = translateMeshes(resources);
    const context = { meshTls: material, secrets: secretMaterialFromResources(resources, () => undefined) };

    // when the sidecar and the gateway are generated
    const sidecar = generateForProxy(model, { mesh: 'default', name: 'web-01', flavor: 'envoy' }, context).sources;
    const gateway = generateForProxy(model, { mesh: 'default', name: 'edge', flavor: 'envoy' }, context).sources;

    // then each resource names what it came from
    expect(sourcesOf(sidecar, LISTENER_TYPE, 'inbound:10.0.0.1:8080')).toEqual(['Dataplane/web-01', 'Mesh/default', 'TrafficPermission/edge-to-web']);
    expect(sourcesOf(sidecar, LISTENER_TYPE, 'outbound:127.0.0.1:10001')).toEqual(['Dataplane/web-01', 'Service/billing']);
    expect(sourcesOf(sidecar, CLUSTER_TYPE, 'billing')).toEqual(['Dataplane/web-01', 'Service/billing']);
    expect(sourcesOf(sidecar, SECRET_TYPE, 'identity-cert:default')).toEqual(['Dataplane/web-01', 'Mesh/default']);
    expect(sourcesOf(gateway, ROUTE_TYPE, gatewayRouteName('shop.example.com'))).toEqual(['Gateway/edge', 'Route/shop', 'Service/billing']);
    expect(sourcesOf(gateway, CLUSTER_TYPE, 'billing')).toEqual(['Gateway/edge', 'Secret/billing-ca', 'Service/billing']);
    expect(sourcesOf(gateway, ENDPOINT_TYPE, 'billing')).toEqual(['Gateway/edge', 'Service/billing']);
    expect(sourcesOf(gateway, LISTENER_TYPE, gatewayListenerName(8443))).toEqual(['Gateway/edge', 'Route/shop']);
    expect(sourcesOf(gateway, SECRET_TYPE, userCertificateSecretName('default', 'shop-cert'))).toEqual(['Gateway/edge', 'Route/shop', 'Secret/shop-cert']);
  });

  it('are what the control plane shows for a NACKed type', async () => {
    // given a proxy connected to a real control plane (mTLS off: no certificates to wait for)
    const plain = resources.map((r) => (r.type === 'Mesh' ? ({ type: 'Mesh', name: 'default' } as Resource) : r));
    const controlPlane = new ControlPlane({ changes: changesOfLists(new BehaviorSubject<readonly Resource[]>(plain)), log: silentLogger() });
    const port = await controlPlane.listen('127.0.0.1:0');
    const envoy = new FakeEnvoy({ address: `127.0.0.1:${port}`, mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'default' } } });
    try {
      envoy.subscribe(LISTENER_TYPE, []);
      const listeners = await envoy.nextOf(LISTENER_TYPE);

      // when it NACKs the listeners
      envoy.nack(listeners, 'invalid listener');
      await waitFor('the NACK', () => controlPlane.status.get('web-01', 'default')?.types.get(LISTENER_TYPE)?.lastError !== undefined);

      // then the sources of what it refused name its Dataplane and the Service it calls
      expect(controlPlane.resourceSources('web-01', 'default', LISTENER_TYPE)).toEqual(['Dataplane/web-01', 'Service/billing']);
      expect(controlPlane.resourceSources('web-01', 'default', LISTENER_TYPE, ['inbound:10.0.0.1:8080'])).toEqual(['Dataplane/web-01']);
    } finally {
      envoy.close();
      await controlPlane.close();
    }
  });
});

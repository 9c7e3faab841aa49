/**
 * Mesh mTLS generation (SPEC §1 Mesh, TrafficPermission): the model's mTLS state, which callers
 * each inbound admits, and failing closed while a proxy has no identity yet. The goldens
 * (test/golden/mesh-mtls-*) show the full resources; these tests pin the rules.
 */
import { DependencyCache } from '../../src/change/dependency-cache.js';
import { describe, expect, it } from 'vitest';
import { parseYamlDocuments } from '../helpers/parse-yaml.js';
import type { Resource } from '../../src/api/types.js';
import type { MeshTlsMaterial } from '../../src/ca/workload-identity.js';
import { generateForProxy, type Flavor, type GenerateContext } from '../../src/generate/generate.js';
import { generationMemo } from '../../src/generate/memo.js';
import { inboundPolicies, plaintextPolicies, selectorMatches } from '../../src/generate/permissions.js';
import { secretMaterialFromResources } from '../helpers/secret-material.js';
import { identityCertificateSecretName, meshTrustBundleSecretName } from '../../src/identity/names.js';
import type { MeshModel } from '../../src/model/model.js';
import { translateMeshes } from '../../src/translate/mesh-services.js';
import type { GeneratedConfig } from '../../src/snapshot/snapshot.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { decodeProxyConfig } from '../helpers/envoy-tls.js';

type Json = Record<string, unknown>;

function parse(yaml: string): Resource[] {
  const parsed = parseYamlDocuments(yaml, { file: 'test.yaml' });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.value;
}

function meshOf(resources: readonly Resource[], name = 'default'): MeshModel {
  const mesh = translateMeshes(resources).meshes.get(name);
  if (!mesh) throw new Error(`no mesh ${name}`);
  return mesh;
}

const pem = (kind: string, text: string): string => `-----BEGIN ${kind}-----\n${Buffer.from(text).toString('base64')}\n-----END ${kind}-----\n`;
const keyBody = (proxy: string): string => Buffer.from(`key of ${proxy}`).toString('base64');

/** Issues an identity to every proxy listed in `issued`. */
function material(issued: readonly string[]): MeshTlsMaterial {
  return {
    identity: (_mesh, name) =>
      issued.includes(name) ? { certChainPem: pem('CERTIFICATE', name), keyPem: pem('PRIVATE KEY', `key of ${name}`), spiffeIds: [], serialHex: '01', notAfter: new Date(0) } : undefined,
    trustBundle: () => pem('CERTIFICATE', 'mesh CA'),
  };
}

function generate(resources: readonly Resource[], name: string, flavor: Flavor, context: GenerateContext): GeneratedConfig {
  return generateForProxy(translateMeshes(resources), { name, mesh: 'default', flavor }, { secrets: secretMaterialFromResources(resources, () => undefined), ...context });
}

function byName(config: GeneratedConfig, typeUrl: string): Map<string, Json> {
  return new Map((config.resources.get(typeUrl) ?? []).map((r) => [String(r['name']), r as Json]));
}

function chains(listener: Json | undefined): Json[] {
  return (listener?.['filter_chains'] ?? []) as Json[];
}

const MESH = (mode: 'STRICT' | 'PERMISSIVE' | undefined): string =>
  mode === undefined
    ? 'type: Mesh\nname: default\n'
    : `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
    mode: ${mode}
`;

const WORKLOADS = `---
type: Dataplane
name: web-01
networking:
  address: 10.0.0.1
  inbound:
  - port: 8080
    servicePort: 18080
    tags: { kuma.io/service: web, kuma.io/protocol: http, team: shop }
  outbound:
  - port: 10001
    tags: { kuma.io/service: backend }
  - port: 10003
    tags: { kuma.io/service: legacy }
---
type: Dataplane
name: backend-01
networking:
  address: 10.0.0.2
  inbound:
  - port: 8080
    servicePort: 18080
    tags: { kuma.io/service: backend, kuma.io/protocol: http, version: v1 }
---
type: Dataplane
name: backend-02
networking:
  address: 10.0.0.3
  inbound:
  - port: 8080
    servicePort: 18080
    tags: { kuma.io/service: backend, kuma.io/protocol: http, version: v2 }
---
type: Service
name: legacy
endpoints:
- address: 10.0.1.10
  port: 8080
---
type: TrafficPermission
name: web-to-backend
sources: [ { match: { kuma.io/service: web } } ]
destinations: [ { match: { kuma.io/service: backend } } ]
`;

describe('mesh mTLS in the model', () => {
  it('is off when enabledBackend is missing or empty, and carries the enabled backend mode otherwise (not which backend: that is for the CA side)', () => {
    // given meshes without mtls, with an empty enabledBackend, and with a PERMISSIVE backend enabled
    const resources = parse(`type: Mesh
name: off
---
type: Mesh
name: empty
mtls:
  enabledBackend: ''
  backends: [ { name: ca-1, type: builtin } ]
---
type: Mesh
name: on
mtls:
  enabledBackend: ca-2
  backends: [ { name: ca-1, type: builtin }, { name: ca-2, type: builtin, mode: PERMISSIVE } ]
`);
    // when translated
    const model = translateMeshes(resources);
    // then
    expect(model.meshes.get('off')?.mtls).toBeUndefined();
    expect(model.meshes.get('empty')?.mtls).toBeUndefined();
    expect(model.meshes.get('on')?.mtls).toEqual({ mode: 'PERMISSIVE' });
  });

  it('holds TrafficPermissions of its own mesh, sorted by name', () => {
    // given permissions in two meshes
    const resources = parse(`type: TrafficPermission
name: z-last
sources: [ { match: { kuma.io/service: a } } ]
destinations: [ { match: { kuma.io/service: '*' } } ]
---
type: TrafficPermission
name: a-first
sources: [ { match: { kuma.io/service: b, version: v1 } } ]
destinations: [ { match: { kuma.io/service: c } } ]
---
type: TrafficPermission
mesh: other
name: elsewhere
sources: [ { match: { kuma.io/service: a } } ]
destinations: [ { match: { kuma.io/service: c } } ]
`);
    // when translated
    const mesh = meshOf(resources);
    // then
    expect(mesh.trafficPermissions).toEqual([
      { name: 'a-first', sources: [{ 'kuma.io/service': 'b', version: 'v1' }], destinations: [{ 'kuma.io/service': 'c' }] },
      { name: 'z-last', sources: [{ 'kuma.io/service': 'a' }], destinations: [{ 'kuma.io/service': '*' }] },
    ]);
  });
});

describe('which callers an inbound admits', () => {
  it('matches selectors on every tag, `*` requiring the tag with any value', () => {
    expect(selectorMatches({ 'kuma.io/service': '*' }, { 'kuma.io/service': 'web' })).toBe(true);
    expect(selectorMatches({ 'kuma.io/service': 'web', version: '*' }, { 'kuma.io/service': 'web' })).toBe(false);
    expect(selectorMatches({ 'kuma.io/service': 'web', version: '*' }, { 'kuma.io/service': 'web', version: 'v1' })).toBe(true);
    expect(selectorMatches({ 'kuma.io/service': 'web', version: 'v2' }, { 'kuma.io/service': 'web', version: 'v1' })).toBe(false);
  });

  it('turns service sources into SPIFFE IDs, resolves other tags against every instance, and ORs the permissions', () => {
    // given permissions into backend: by service, by wildcard, by a tag every web instance has,
    // by a tag only one backend instance has, and one into another service
    const mesh = meshOf(
      parse(`${MESH('STRICT')}${WORKLOADS}---
type: TrafficPermission
name: anyone-to-backend-v1
sources: [ { match: { kuma.io/service: '*' } } ]
destinations: [ { match: { kuma.io/service: backend, version: v1 } } ]
---
type: TrafficPermission
name: shop-team
sources: [ { match: { team: shop } } ]
destinations: [ { match: { kuma.io/service: backend } } ]
---
type: TrafficPermission
name: backend-v2-only
sources: [ { match: { kuma.io/service: backend, version: v2 } } ]
destinations: [ { match: { kuma.io/service: backend } } ]
---
type: TrafficPermission
name: into-web
sources: [ { match: { kuma.io/service: backend } } ]
destinations: [ { match: { kuma.io/service: web } } ]
`),
    );
    const inbound = (dp: string) => {
      const found = mesh.dataplanes.get(dp)?.inbound[0];
      if (!found) throw new Error(dp);
      return found;
    };

    // when the policies of each backend instance are computed
    const v1 = inboundPolicies(mesh, inbound('backend-01'));
    const v2 = inboundPolicies(mesh, inbound('backend-02'));

    // then: a wildcard is any SPIFFE ID of the mesh; a tag is admitted only when every instance
    // of a service carries it, so backend v2 cannot be told from v1 and admits nobody
    expect(v1).toEqual([
      { name: 'anyone-to-backend-v1', principals: [{ prefix: 'spiffe://default/' }] },
      { name: 'shop-team', principals: [{ exact: 'spiffe://default/web' }] },
      { name: 'web-to-backend', principals: [{ exact: 'spiffe://default/web' }] },
    ]);
    expect(v2.map((p) => p.name)).toEqual(['shop-team', 'web-to-backend']);

    // and: plaintext callers (PERMISSIVE) have no identity; only the wildcard permission admits them
    expect(plaintextPolicies(mesh, inbound('backend-01'))).toEqual([{ name: 'anyone-to-backend-v1', principals: [{ any: true }] }]);
    expect(plaintextPolicies(mesh, inbound('backend-02'))).toEqual([]);
  });
});

describe('envoy flavor with mesh mTLS', () => {
  it('changes nothing while mTLS is off, TrafficPermissions or not', () => {
    // given a mesh without mTLS but with a permission
    const resources = parse(`${MESH(undefined)}${WORKLOADS}`);
    // when backend-01 and web-01 are generated with identity material at hand
    const backend = generate(resources, 'backend-01', 'envoy', { meshTls: material(['backend-01', 'web-01']) });
    const web = generate(resources, 'web-01', 'envoy', { meshTls: material(['backend-01', 'web-01']) });
    // then: no secret, no TLS, no RBAC
    for (const config of [backend, web]) {
      expect(byName(config, SECRET_TYPE).size).toBe(0);
      expect(JSON.stringify([...config.resources.values()])).not.toMatch(/transport_sockets\.tls|rbac/);
    }
  });

  it('STRICT: the inbound requires a mesh client certificate behind RBAC; mesh outbounds verify the callee; other Services stay plaintext', () => {
    // given a STRICT mesh and identities for everyone
    const resources = parse(`${MESH('STRICT')}${WORKLOADS}`);
    const context = { meshTls: material(['backend-01', 'web-01']) };

    // when
    const backend = decodeProxyConfig(generate(resources, 'backend-01', 'envoy', context));
    const web = decodeProxyConfig(generate(resources, 'web-01', 'envoy', context));

    // then: backend's only inbound chain is mTLS, with its own identity over SDS
    const [chain, ...others] = chains(backend.listeners.get('inbound:10.0.0.2:8080'));
    expect(others).toEqual([]);
    expect(chain?.['filter_chain_match']).toBeUndefined();
    const downstream = (chain?.['transport_socket'] as Json)['typed_config'] as Json;
    expect(downstream['require_client_certificate']).toEqual({ value: true });
    expect(JSON.stringify(downstream)).toContain(identityCertificateSecretName('default'));
    expect(JSON.stringify(downstream)).toContain(meshTrustBundleSecretName('default'));
    expect(JSON.stringify(chain)).toContain('"exact":"spiffe://default/web"');
    expect([...backend.secrets.keys()].sort()).toEqual([identityCertificateSecretName('default'), meshTrustBundleSecretName('default')]);

    // and: web's cluster to backend presents web's certificate and expects backend's SPIFFE ID
    const upstream = JSON.stringify(web.clusters.get('backend'));
    expect(upstream).toContain('UpstreamTlsContext');
    expect(upstream).toContain('{"san_type":"URI","matcher":{"exact":"spiffe://default/backend"}}');
    expect(web.clusters.get('legacy')?.['transport_socket']).toBeUndefined();
  });

  it('instances of a service share one inbound RBAC filter and TLS context, built once per model', () => {
    // given backend-03 with backend-01's tags (in another order) and a model generated for both
    const resources = parse(`${MESH('STRICT')}${WORKLOADS}---
type: Dataplane
name: backend-03
networking:
  address: 10.0.0.4
  inbound:
  - port: 8080
    servicePort: 18080
    tags: { version: v1, kuma.io/protocol: http, kuma.io/service: backend }
`);
    const model = translateMeshes(resources);
    // (generated on one cache, as the control plane's proxies are: the TLS context is an entry of it)
    const context = { meshTls: material(['backend-01', 'backend-02', 'backend-03']), cache: new DependencyCache() };
    const inboundOf = (name: string, address: string): Json => {
      const config = generateForProxy(model, { name, mesh: 'default', flavor: 'envoy' }, context);
      const listener = (config.resources.get(LISTENER_TYPE) ?? []).find((l) => l['name'] === `inbound:${address}:8080`) as Json;
      return chains(listener)[0] as Json;
    };
    const rbacOf = (chain: Json): unknown => {
      const hcm = ((chain['filters'] as Json[])[0]?.['typed_config'] as Json)['http_filters'] as Json[];
      return hcm.find((f) => f['name'] === 'envoy.filters.http.rbac');
    };
    // when
    const one = inboundOf('backend-01', '10.0.0.2');
    const two = inboundOf('backend-02', '10.0.0.3');
    const three = inboundOf('backend-03', '10.0.0.4');
    // then: the same objects for every instance, with the same content whatever the tag set
    expect(rbacOf(one)).toBeDefined();
    expect(rbacOf(three)).toBe(rbacOf(one));
    expect(three['transport_socket']).toBe(one['transport_socket']);
    expect(two['transport_socket']).toBe(one['transport_socket']);
    expect(rbacOf(two)).toEqual(rbacOf(one));
    const mesh = model.meshes.get('default')!;
    const inbound = mesh.dataplanes.get('backend-03')!.inbound[0]!;
    const memo = generationMemo(context.cache);
    expect(inboundPolicies(mesh, inbound, memo)).toBe(inboundPolicies(mesh, mesh.dataplanes.get('backend-01')!.inbound[0]!, memo));
    expect(inboundPolicies(mesh, inbound, memo)).toEqual([{ name: 'web-to-backend', principals: [{ exact: 'spiffe://default/web' }] }]);
  });

  it('shares between proxies of one cache, and nothing between two caches (two control planes, or the oracle)', () => {
    // given one model, generated on two caches
    const resources = parse(`${MESH('STRICT')}${WORKLOADS}`);
    const model = translateMeshes(resources);
    const meshTls = material(['backend-01', 'web-01']);
    const [one, other] = [new DependencyCache(), new DependencyCache()];
    const gen = (name: string, cache: DependencyCache): GeneratedConfig => generateForProxy(model, { name, mesh: 'default', flavor: 'envoy' }, { meshTls, cache });
    const rbacOf = (config: GeneratedConfig): unknown => {
      const listener = byName(config, LISTENER_TYPE).get('inbound:10.0.0.2:8080');
      const hcm = ((chains(listener)[0]?.['filters'] as Json[])[0]?.['typed_config'] as Json)['http_filters'] as Json[];
      return hcm.find((f) => f['name'] === 'envoy.filters.http.rbac');
    };
    // when each proxy is generated twice on one cache and once on the other
    const [web, webAgain, webElsewhere] = [gen('web-01', one), gen('web-01', one), gen('web-01', other)];
    const [backend, backendAgain, backendElsewhere] = [gen('backend-01', one), gen('backend-01', one), gen('backend-01', other)];
    // then one cache shares its cluster, assignment, references and RBAC filter between generations
    expect(byName(webAgain, CLUSTER_TYPE).get('backend')).toBe(byName(web, CLUSTER_TYPE).get('backend'));
    expect(byName(webAgain, ENDPOINT_TYPE).size).toBeGreaterThan(0);
    expect(webAgain.resources.get(ENDPOINT_TYPE)![0]).toBe(web.resources.get(ENDPOINT_TYPE)![0]);
    expect(web.refs.length).toBeGreaterThan(0);
    expect(webAgain.refs).toBe(web.refs);
    expect(rbacOf(backend)).toBeDefined();
    expect(rbacOf(backendAgain)).toBe(rbacOf(backend));
    // and the other cache holds equal objects of its own: nothing is shared between the two
    expect(byName(webElsewhere, CLUSTER_TYPE).get('backend')).not.toBe(byName(web, CLUSTER_TYPE).get('backend'));
    expect(byName(webElsewhere, CLUSTER_TYPE).get('backend')).toEqual(byName(web, CLUSTER_TYPE).get('backend'));
    expect(webElsewhere.resources.get(ENDPOINT_TYPE)![0]).not.toBe(web.resources.get(ENDPOINT_TYPE)![0]);
    expect(webElsewhere.resources.get(ENDPOINT_TYPE)).toEqual(web.resources.get(ENDPOINT_TYPE));
    expect(webElsewhere.refs).not.toBe(web.refs);
    expect(webElsewhere.refs).toEqual(web.refs);
    expect(rbacOf(backendElsewhere)).not.toBe(rbacOf(backend));
    expect(rbacOf(backendElsewhere)).toEqual(rbacOf(backend));
  });

  it('sends a proxy its own key and no other', () => {
    // given a STRICT mesh and identities for everyone
    const resources = parse(`${MESH('STRICT')}${WORKLOADS}`);
    // when web-01 is generated
    const web = JSON.stringify(generate(resources, 'web-01', 'envoy', { meshTls: material(['backend-01', 'web-01']) }).resources.get(SECRET_TYPE));
    // then
    expect(web).toContain(keyBody('web-01'));
    expect(web).not.toContain(keyBody('backend-01'));
  });

  it('denies everything at an inbound no permission applies to', () => {
    // given a STRICT mesh whose only permission is into backend
    const resources = parse(`${MESH('STRICT')}${WORKLOADS}`);
    // when web-01 is generated
    const web = decodeProxyConfig(generate(resources, 'web-01', 'envoy', { meshTls: material(['web-01']) }));
    // then its inbound RBAC has rules, an ALLOW list without policies (an empty map is not on the wire)
    const hcm = (chains(web.listeners.get('inbound:10.0.0.1:8080'))[0]?.['filters'] as Json[])[0]?.['typed_config'] as Json;
    const rbac = (hcm['http_filters'] as Json[]).find((f) => f['name'] === 'envoy.filters.http.rbac');
    expect((rbac?.['typed_config'] as Json)['rules']).toEqual({ action: 'ALLOW' });
  });

  it('STRICT without an identity yet: no inbound listener, no cluster to mesh services, the rest unchanged', () => {
    // given a STRICT mesh and no identity issued
    const resources = parse(`${MESH('STRICT')}${WORKLOADS}`);
    // when generated without material, and with material that has not issued these proxies yet
    for (const context of [{}, { meshTls: material([]) }]) {
      const backend = generate(resources, 'backend-01', 'envoy', context);
      const web = generate(resources, 'web-01', 'envoy', context);
      // then
      expect([...byName(backend, LISTENER_TYPE).keys()]).toEqual([]);
      expect([...byName(web, LISTENER_TYPE).keys()].sort()).toEqual(['outbound:127.0.0.1:10001', 'outbound:127.0.0.1:10003']);
      expect([...byName(web, CLUSTER_TYPE).keys()].sort()).toEqual(['legacy', 'localhost:18080']);
      expect(byName(web, SECRET_TYPE).size).toBe(0);
      expect(() => decodeProxyConfig(web)).not.toThrow();
    }
  });

  it('PERMISSIVE: TLS and plaintext chains chosen by the TLS inspector; without an identity, the plaintext chain alone', () => {
    // given a PERMISSIVE mesh
    const resources = parse(`${MESH('PERMISSIVE')}${WORKLOADS}`);

    // when backend-01 is generated with and without its identity
    const issued = decodeProxyConfig(generate(resources, 'backend-01', 'envoy', { meshTls: material(['backend-01']) }));
    const pending = decodeProxyConfig(generate(resources, 'backend-01', 'envoy', { meshTls: material([]) }));

    // then
    const listener = issued.listeners.get('inbound:10.0.0.2:8080');
    expect(JSON.stringify(listener?.['listener_filters'])).toContain('envoy.filters.listener.tls_inspector');
    expect(chains(listener).map((c) => [c['name'], c['filter_chain_match'], c['transport_socket'] !== undefined])).toEqual([
      ['mtls', { transport_protocol: 'tls' }, true],
      ['plaintext', { transport_protocol: 'raw_buffer' }, false],
    ]);
    // web-to-backend names a caller: plaintext, which has no identity, is denied
    expect(JSON.stringify(chains(listener)[1])).toContain('"rules":{"action":"ALLOW"}');
    expect(chains(pending.listeners.get('inbound:10.0.0.2:8080')).map((c) => [c['name'], c['transport_socket'] !== undefined])).toEqual([['plaintext', false]]);
  });

  it('a gateway calls mesh services over mTLS with its own identity, or not at all before it has one', () => {
    // given a STRICT mesh with a gateway routing to backend and to the plain Service legacy
    const resources = parse(`${MESH('STRICT')}${WORKLOADS}---
type: Gateway
name: edge
listeners: [ { port: 8443 } ]
---
type: Route
name: shop
host: shop.acme.org
tls: { serverCertificate: { name: shop-cert } }
routes:
- { prefix: /legacy, route: { service: legacy } }
- { prefix: /, route: { service: backend } }
---
type: Secret
name: shop-cert
secretType: tls
cert: |
  -----BEGIN CERTIFICATE-----
  c2hvcA==
  -----END CERTIFICATE-----
key: |
  -----BEGIN PRIVATE KEY-----
  c2hvcC1rZXk=
  -----END PRIVATE KEY-----
`);
    // when generated with and without its identity
    const issued = decodeProxyConfig(generate(resources, 'edge', 'envoy', { meshTls: material(['edge']) }));
    const pending = decodeProxyConfig(generate(resources, 'edge', 'envoy', { meshTls: material([]) }));
    // then
    expect(JSON.stringify(issued.clusters.get('backend'))).toContain('"exact":"spiffe://default/backend"');
    expect(issued.clusters.get('legacy')?.['transport_socket']).toBeUndefined();
    expect([...pending.clusters.keys()]).toEqual(['legacy']);
  });
});

describe('grpc flavor with mesh mTLS', () => {
  it('uses the bootstrap certificate provider (no SDS), RBAC before the router, and serves PERMISSIVE as STRICT', () => {
    // given a PERMISSIVE mesh with proxyless workloads
    const resources = parse(`${MESH('PERMISSIVE')}${WORKLOADS}`);
    // when backend-01 is generated for proxyless gRPC
    const config = generate(resources, 'backend-01', 'grpc', { meshTls: material(['backend-01']) });
    const decoded = decodeProxyConfig(config);
    // then: one mTLS chain, no listener filter (gRPC NACKs them), no SDS anywhere in listeners and clusters
    const listener = decoded.listeners.get('meshcp.io/grpc/inbound/10.0.0.2:8080');
    expect(listener?.['listener_filters']).toBeUndefined();
    const [chain, ...others] = chains(listener);
    expect(others).toEqual([]);
    expect(JSON.stringify(chain?.['transport_socket'])).toContain('"tls_certificate_provider_instance":{"instance_name":"meshcp"');
    const filters = ((chain?.['filters'] as Json[])[0]?.['typed_config'] as Json)['http_filters'] as Json[];
    expect(filters.map((f) => f['name'])).toEqual(['envoy.filters.http.rbac', 'envoy.filters.http.router']);
    expect(JSON.stringify([...decoded.listeners.values(), ...decoded.clusters.values()])).not.toContain('sds');
    expect(JSON.stringify(decoded.clusters.get('backend'))).toContain('"match_subject_alt_names":[{"exact":"spiffe://default/backend"');
    // and: the identity Secrets are there for `meshcp agent`
    expect([...decoded.secrets.keys()].sort()).toEqual([identityCertificateSecretName('default'), meshTrustBundleSecretName('default')]);
  });
});

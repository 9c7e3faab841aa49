/**
 * Gateway generation: which secrets reach which proxy (SPEC §2: a Route's server key only
 * ever reaches the gateway serving that route), and failing closed when material is missing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseYamlDocuments } from '../helpers/parse-yaml.js';
import type { Resource } from '../../src/api/types.js';
import { generateForProxy, type GenerateContext } from '../../src/generate/generate.js';
import { gatewayWarnings } from '../../src/generate/gateway-warnings.js';
import { NO_SECRET_MATERIAL, type SecretMaterialSource } from '../../src/generate/secret-material.js';
import { secretMaterialFromResources } from '../helpers/secret-material.js';
import { lookupType } from '../../src/protos/load.js';
import { translateMeshes } from '../../src/translate/mesh-services.js';
import { buildSnapshot, type GeneratedConfig } from '../../src/snapshot/snapshot.js';
import { CLUSTER_TYPE, LISTENER_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { GOLDEN_DIR } from '../helpers/golden.js';
import { chainEmulation, decodeProxyConfig, evaluateRbac } from '../helpers/envoy-tls.js';

function load(file: string): Resource[] {
  const parsed = parseYamlDocuments(fs.readFileSync(path.join(GOLDEN_DIR, file), 'utf8'), { file });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.value;
}

const issuedKey = (host: string): string => `issued-key-for-${host}`;

function fakeSource(resources: readonly Resource[]): SecretMaterialSource {
  return secretMaterialFromResources(resources, (_mesh, host) => ({
    certPem: `-----BEGIN CERTIFICATE-----\nissued-cert-for-${host}\n-----END CERTIFICATE-----\n`,
    keyPem: `-----BEGIN PRIVATE KEY-----\n${issuedKey(host)}\n-----END PRIVATE KEY-----\n`,
  }));
}

function generate(resources: readonly Resource[], name: string, context: GenerateContext = { secrets: fakeSource(resources) }): GeneratedConfig {
  return generateForProxy(translateMeshes(resources), { name, mesh: 'default', flavor: 'envoy' }, context);
}

/** Every encoded byte this proxy would be sent, as text. */
function wire(config: GeneratedConfig): string {
  const result = buildSnapshot(config);
  if (!result.ok) throw new Error(result.errors.join('; '));
  return [...result.snapshot.resources.values()].flatMap((byName) => [...byName.values()].map((r) => Buffer.from(r.value).toString('latin1'))).join('\n');
}

function names(config: GeneratedConfig, typeUrl: string): string[] {
  const result = buildSnapshot(config);
  if (!result.ok) throw new Error(result.errors.join('; '));
  return [...(result.snapshot.resources.get(typeUrl)?.keys() ?? [])].sort();
}

const EDGE_KEYS = ['bXktdGxzLWtleQ==', issuedKey('partners.acme.org'), issuedKey('www.acme.org')];
const INTERNAL_KEYS = ['YWRtaW4ta2V5'];

describe('gateway secrets', () => {
  const resources = load('gateway-edge.in.yaml');

  it('sends each gateway the keys of its own routes and no other', () => {
    // given gateways edge and internal with routes of their own
    // when each one's snapshot is generated
    const edge = wire(generate(resources, 'edge'));
    const internal = wire(generate(resources, 'internal'));
    // then
    for (const key of EDGE_KEYS) {
      expect(edge).toContain(key);
      expect(internal).not.toContain(key);
    }
    for (const key of INTERNAL_KEYS) {
      expect(internal).toContain(key);
      expect(edge).not.toContain(key);
    }
  });

  it('sends a sidecar no route key, even one calling the routed service', () => {
    // given web-01 calls shopping-cart, which the routes serve; cart-01 serves it
    for (const dataplane of ['web-01', 'cart-01']) {
      // when
      const config = generate(resources, dataplane);
      // then
      expect(names(config, SECRET_TYPE)).toEqual([]);
      expect(wire(config)).not.toContain('PRIVATE KEY');
    }
  });

  it('names only the secrets its routes use', () => {
    // given internal serves admin.acme.org with admin-cert
    // when
    const secrets = names(generate(resources, 'internal'), SECRET_TYPE);
    // then
    expect(secrets).toEqual(['cert:default:admin-cert']);
  });
});

describe('gateway generation fails closed', () => {
  const resources = load('gateway-edge.in.yaml');

  it('serves nothing without secret material', () => {
    // given no source of PEM material
    // when
    const config = generate(resources, 'edge', { secrets: NO_SECRET_MATERIAL });
    // then
    expect(names(config, LISTENER_TYPE)).toEqual([]);
    expect(generate(resources, 'edge', {}).resources.get(SECRET_TYPE)).toEqual([]);
  });

  it('leaves out a host whose client CA is missing, never serving it without client certificates', () => {
    // given the source has every secret but the shop route's client CA
    const full = fakeSource(resources);
    const source: SecretMaterialSource = {
      userSecret: (mesh, name) => (name === 'my-root-ca' ? undefined : full.userSecret(mesh, name)),
      issuedServerCertificate: (mesh, host) => full.issuedServerCertificate(mesh, host),
    };
    // when
    const listener = decodeProxyConfig(generate(resources, 'edge', { secrets: source })).listeners.get('gateway:0.0.0.0:8443');
    // then the other hosts are still served
    const chains = (listener?.['filter_chains'] as Array<{ name: string }> | undefined)?.map((c) => c.name);
    expect(chains).toEqual(['partners.acme.org', 'www.acme.org']);
  });

  it('leaves out a host while its issued certificate is not ready', () => {
    // given the mesh CA has not issued anything yet
    const full = fakeSource(resources);
    const source: SecretMaterialSource = { userSecret: (mesh, name) => full.userSecret(mesh, name), issuedServerCertificate: () => undefined };
    // when
    const listener = decodeProxyConfig(generate(resources, 'edge', { secrets: source })).listeners.get('gateway:0.0.0.0:8443');
    // then only the host with its own certificate is served
    expect((listener?.['filter_chains'] as Array<{ name: string }> | undefined)?.map((c) => c.name)).toEqual(['ecommerce.acme.org']);
  });

  it('builds no cluster towards a TLS service whose client certificate is missing', () => {
    // given payments wants mutual TLS, and its client certificate is gone
    const tlsResources = load('gateway-upstream-tls.in.yaml');
    const full = fakeSource(tlsResources);
    const source: SecretMaterialSource = {
      userSecret: (mesh, name) => (name === 'gw-client' ? undefined : full.userSecret(mesh, name)),
      issuedServerCertificate: (mesh, host) => full.issuedServerCertificate(mesh, host),
    };
    // when
    const clusters = names(generate(tlsResources, 'edge', { secrets: source }), CLUSTER_TYPE);
    // then requests to payments fail (no cluster) rather than go out without TLS
    expect(clusters).toEqual(['ledger']);
  });

  it('denies every request when no subject matcher can be enforced', () => {
    // given a route whose only matcher uses \b, which has no meaning on one certificate name
    const edited = resources.map((r) =>
      r.type === 'Route' && r.name === 'shop' ? { ...r, validation: { clientCertificate: { subjectMatches: [{ regex: '\\bclient' }] } } } : r,
    );
    // when
    const model = translateMeshes(edited);
    const listener = decodeProxyConfig(generate(edited, 'edge')).listeners.get('gateway:0.0.0.0:8443');
    // then the RBAC filter denies even a subject the matcher was meant for, and the operator is told why
    const chain = (listener?.['filter_chains'] as unknown[] | undefined)?.[0];
    const rbac = chainEmulation(decodeProxyConfig(generate(edited, 'edge')), chain as Record<string, unknown>).rbac;
    expect(rbac && evaluateRbac(rbac, { subject: 'CN=client.acme.org', dnsSan: 'client.acme.org', uriSan: undefined }).allowed).toBe(false);
    const mesh = model.meshes.get('default');
    const gateway = mesh?.gateways.get('edge');
    if (!mesh || !gateway) throw new Error('no gateway');
    expect(gatewayWarnings(mesh, gateway).join('\n')).toContain('Route/shop: validation.clientCertificate.subjectMatches[0].regex: Envoy cannot enforce it');
  });
});

describe('gateway proxies', () => {
  it('keeps a Dataplane of the same name a sidecar', () => {
    // given a Dataplane and a Gateway both named edge
    const resources = [
      ...load('gateway-upstream-tls.in.yaml'),
      ...load('mesh-external.in.yaml').map((r) => (r.type === 'Dataplane' ? { ...r, name: 'edge' } : r)),
    ];
    // when
    const listeners = names(generate(resources, 'edge'), LISTENER_TYPE);
    // then
    expect(listeners.every((n) => n.startsWith('outbound:'))).toBe(true);
  });

  it('gives a proxyless gRPC client named like a gateway nothing of the gateway', () => {
    // given
    const resources = load('gateway-edge.in.yaml');
    // when
    const config = generateForProxy(translateMeshes(resources), { name: 'edge', mesh: 'default', flavor: 'grpc' }, { secrets: fakeSource(resources) });
    // then
    expect(wire(config)).not.toContain('PRIVATE KEY');
  });

  it('warns about issued certificates and about upstream TLS that verifies less', () => {
    // given
    const edge = translateMeshes(load('gateway-edge.in.yaml')).meshes.get('default');
    const upstream = translateMeshes(load('gateway-upstream-tls.in.yaml')).meshes.get('default');
    if (!edge || !upstream) throw new Error('no mesh');
    // when
    const edgeWarnings = gatewayWarnings(edge, edge.gateways.get('edge') ?? { mesh: 'default', name: 'edge', ports: [], hosts: [] });
    const upstreamWarnings = gatewayWarnings(upstream, upstream.gateways.get('edge') ?? { mesh: 'default', name: 'edge', ports: [], hosts: [] });
    // then
    expect(edgeWarnings.filter((w) => w.includes('not publicly trusted')).map((w) => w.split(':')[0])).toEqual(['Route/partners', 'Route/public']);
    expect(upstreamWarnings.filter((w) => w.startsWith('Service/'))).toEqual(['Service/ledger: tls.caSecret without tls.sni: gateway edge verifies the upstream\'s chain but not its name']);
  });
});

describe('Envoy protos', () => {
  it('include the ssl matching inputs the subject RBAC filter names', () => {
    // given the RBAC matcher uses envoy.matching.inputs.subject and dns_san
    // when / then: without them in src/protos/load.ts ENVOY_PROTO_FILES, their Any cannot be encoded
    for (const type of ['SubjectInput', 'DnsSanInput']) {
      expect(() => lookupType(`envoy.extensions.matching.common_inputs.ssl.v3.${type}`), `add 'envoy/extensions/matching/common_inputs/ssl/v3/ssl_inputs.proto' to ENVOY_PROTO_FILES`).not.toThrow();
    }
  });
});

/**
 * Template encoding (snapshot/template.ts ResourceTemplate, initial config): per-proxy inbound
 * listeners are spliced from a template per shape rather than encoded with protobuf. The rule is
 * byte-identical output: for every golden proxy and for random meshes, every resource encoded by
 * the default encoder (templates on) has exactly the bytes and version protobuf gives
 * (`templates: false`), and the templates were really used.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseYamlDocuments } from '../helpers/parse-yaml.js';
import { generateForProxy, type Flavor } from '../../src/generate/generate.js';
import { socketListener } from '../../src/envoy/listener.js';
import { httpConnectionManagerFilter, tcpProxyFilter } from '../../src/envoy/filters.js';
import { inboundListenerName, statPrefix } from '../../src/envoy/names.js';
import { translateMeshes } from '../../src/translate/mesh-services.js';
import { lookupType } from '../../src/protos/load.js';
import { ResourceEncoder, ResourceTemplate, templated, type ResourceObject } from '../../src/snapshot/encode.js';
import type { GeneratedConfig } from '../../src/snapshot/snapshot.js';
import { LISTENER_TYPE } from '../../src/snapshot/types.js';
import { GOLDEN_DIR, fakeMeshTls, fakeSecretMaterial } from '../helpers/golden.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** Encodes every resource of `config` both ways; returns how many were spliced. */
function expectSameBytes(config: GeneratedConfig, label: string): number {
  const spliced = new ResourceEncoder();
  const reference = new ResourceEncoder({ templates: false });
  for (const [typeUrl, list] of config.resources) {
    for (const resource of list) {
      const a = spliced.encode(typeUrl, resource);
      const b = reference.encode(typeUrl, resource);
      expect(hex(a.value), `${label}: ${typeUrl} ${a.name}`).toBe(hex(b.value));
      expect(a.version).toBe(b.version);
      expect(a.name).toBe(b.name);
      expect(a.refs).toEqual(b.refs);
    }
  }
  expect(reference.stats.templated).toBe(0);
  return spliced.stats.templated;
}

function inboundListenerCount(config: GeneratedConfig): number {
  return (config.resources.get(LISTENER_TYPE) ?? []).filter((l) => String(l['name']).startsWith('inbound:')).length;
}

describe('template encoding of per-proxy listeners', () => {
  it('gives the bytes protobuf gives, for every golden proxy, and is used for every sidecar inbound listener', () => {
    let spliced = 0;
    for (const file of fs.readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.in.yaml'))) {
      const parsed = parseYamlDocuments(fs.readFileSync(path.join(GOLDEN_DIR, file), 'utf8'), { file });
      if (!parsed.ok) throw new Error(`${file}: ${JSON.stringify(parsed.errors)}`);
      const model = translateMeshes(parsed.value);
      const flavor: Flavor = file.includes('proxyless') ? 'grpc' : 'envoy';
      for (const r of parsed.value) {
        if (r.type !== 'Dataplane' && r.type !== 'Gateway') continue;
        const proxy = { name: r.name, mesh: r.mesh, flavor: r.type === 'Gateway' ? ('envoy' as const) : flavor };
        const config = generateForProxy(model, proxy, { secrets: fakeSecretMaterial(parsed.value), meshTls: fakeMeshTls });
        const count = expectSameBytes(config, `${file} ${r.name}`);
        if (r.type === 'Dataplane' && flavor === 'envoy') expect(count, `${file} ${r.name}`).toBe(inboundListenerCount(config));
        spliced += count;
      }
    }
    expect(spliced).toBeGreaterThan(10);
  });

  it('gives the bytes protobuf gives for random dataplanes, addresses, ports, protocols and mTLS modes', () => {
    // Dataplane addresses are IPs (Envoy binds to them); names of every length are covered by the splice test below.
    const address = fc.oneof(fc.ipV4(), fc.ipV6());
    const protocol = fc.constantFrom('http', 'http2', 'grpc', 'tcp', undefined);
    const mode = fc.constantFrom('STRICT', 'PERMISSIVE', undefined);
    fc.assert(
      fc.property(
        // Few ports and services, so dataplanes share templates (one shape, many addresses); some odd ports too.
        fc.array(
          fc.record({
            address,
            port: fc.oneof(fc.constantFrom(8080, 9090), fc.integer({ min: 1, max: 65535 })),
            servicePort: fc.oneof(fc.constantFrom(18080, 19090), fc.integer({ min: 1, max: 65535 })),
            service: fc.constantFrom('web', 'backend', 'db'),
            protocol,
            version: fc.constantFrom('v1', 'v2', undefined),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        mode,
        fc.boolean(),
        (dataplanes, mtlsMode, permissions) => {
          const docs: unknown[] = [
            mtlsMode === undefined
              ? { type: 'Mesh', name: 'default' }
              : { type: 'Mesh', name: 'default', mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin', mode: mtlsMode }] } },
            ...dataplanes.map((d, i) => ({
              type: 'Dataplane',
              name: `dp-${i}`,
              networking: {
                address: d.address,
                inbound: [
                  {
                    port: d.port,
                    servicePort: d.servicePort,
                    tags: { 'kuma.io/service': d.service, ...(d.protocol ? { 'kuma.io/protocol': d.protocol } : {}), ...(d.version ? { version: d.version } : {}) },
                  },
                ],
                outbound: [{ port: 10001, tags: { 'kuma.io/service': 'backend' } }],
              },
            })),
            ...(permissions
              ? [
                  { type: 'TrafficPermission', name: 'web-to-backend', sources: [{ match: { 'kuma.io/service': 'web' } }], destinations: [{ match: { 'kuma.io/service': 'backend' } }] },
                  { type: 'TrafficPermission', name: 'any-to-db', sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': 'db' } }] },
                  // Per-instance policies: only the v2 instances of backend admit db.
                  { type: 'TrafficPermission', name: 'db-to-backend-v2', sources: [{ match: { 'kuma.io/service': 'db' } }], destinations: [{ match: { 'kuma.io/service': 'backend', version: 'v2' } }] },
                ]
              : []),
          ];
          const parsed = parseYamlDocuments(docs.map((d) => JSON.stringify(d)).join('\n---\n'), { file: 'random.yaml' });
          if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
          const model = translateMeshes(parsed.value);
          for (let i = 0; i < dataplanes.length; i++) {
            const config = generateForProxy(model, { name: `dp-${i}`, mesh: 'default', flavor: 'envoy' }, { meshTls: fakeMeshTls });
            expect(expectSameBytes(config, `dp-${i}`)).toBe(inboundListenerCount(config));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('splices any string, multi-byte and long ones included', () => {
    const build = (address: string): ResourceObject => {
      const name = inboundListenerName(address, 8080);
      return socketListener(name, address, 8080, [{ filters: [httpConnectionManagerFilter({ name, routeConfig: { name, virtual_hosts: [] } })] }, { filters: [tcpProxyFilter(name, 'local')] }], 'INBOUND');
    };
    const holes = (address: string): string[] => {
      const name = inboundListenerName(address, 8080);
      return [name, address, statPrefix(name)];
    };
    const template = new ResourceTemplate(LISTENER_TYPE, build, holes);
    expect(template.usable).toBe(true);
    const type = lookupType('envoy.config.listener.v3.Listener');
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.string({ maxLength: 3000 })), (address) => {
        expect(hex(template.instantiate(holes(address)))).toBe(hex(type.encode(type.fromObject(build(address))).finish()));
      }),
      { numRuns: 200 },
    );
  });

  it('is not used when the value appears where no hole is (the check at build time), and the bytes stay right', () => {
    // The address also goes into a header-like field the holes do not name.
    const build = (address: string): ResourceObject => ({ ...socketListener(inboundListenerName(address, 80), address, 80, [], 'INBOUND'), stat_prefix: `x-${address}` });
    const holes = (address: string): string[] => [inboundListenerName(address, 80), address];
    const template = new ResourceTemplate(LISTENER_TYPE, build, holes);
    expect(template.usable).toBe(false);
    const encoder = new ResourceEncoder();
    const resource = templated(build('10.0.0.1'), template, '10.0.0.1');
    const encoded = encoder.encode(LISTENER_TYPE, resource);
    expect(encoder.stats.templated).toBe(0);
    expect(hex(encoded.value)).toBe(hex(new ResourceEncoder({ templates: false }).encode(LISTENER_TYPE, build('10.0.0.1')).value));
  });

  it('shares one EncodedResource between equal spliced listeners, and counts a new content as an encoding', () => {
    const build = (address: string): ResourceObject => socketListener(inboundListenerName(address, 80), address, 80, [{ filters: [tcpProxyFilter(inboundListenerName(address, 80), 'local')] }], 'INBOUND');
    const holes = (address: string): string[] => {
      const name = inboundListenerName(address, 80);
      return [name, address, statPrefix(name)];
    };
    const template = new ResourceTemplate(LISTENER_TYPE, build, holes);
    const encoder = new ResourceEncoder();
    const a = encoder.encode(LISTENER_TYPE, templated(build('10.0.0.1'), template, '10.0.0.1'));
    const b = encoder.encode(LISTENER_TYPE, templated(build('10.0.0.1'), template, '10.0.0.1'));
    const c = encoder.encode(LISTENER_TYPE, templated(build('10.0.0.2'), template, '10.0.0.2'));
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(encoder.stats).toEqual({ encodes: 2, hits: 1, templated: 3 });
    // A lone surrogate (UTF-8 writers disagree on it) is left to protobuf.
    const odd = encoder.encode(LISTENER_TYPE, templated(build('a\uD800b'), template, 'a\uD800b'));
    expect(encoder.stats.templated).toBe(3);
    expect(hex(odd.value)).toBe(hex(new ResourceEncoder({ templates: false }).encode(LISTENER_TYPE, build('a\uD800b')).value));
  });
});

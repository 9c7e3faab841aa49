import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseYamlDocuments } from '../../src/api/parse.js';
import { translateMeshes } from '../../src/translate/mesh-services.js';
import { generateForProxy, type Flavor } from '../../src/generate/generate.js';
import { secretMaterialFromResources } from '../../src/generate/secret-material.js';
import type { Resource } from '../../src/api/types.js';
import type { MeshTlsMaterial } from '../../src/ca/workload-identity.js';
import { GOLDEN_DIR, expectGolden, renderConfig } from '../helpers/golden.js';

interface GoldenCase {
  name: string;
  proxies: Array<{ name: string; mesh: string; flavor: Flavor }>;
}

/** Stands in for the mesh CA: fixed PEMs (goldens mask PEM blocks anyway). */
function fakeSecretMaterial(resources: readonly Resource[]) {
  return secretMaterialFromResources(resources, (_mesh, host) => ({
    certPem: `-----BEGIN CERTIFICATE-----\n${Buffer.from(`issued for ${host}`).toString('base64')}\n-----END CERTIFICATE-----\n`,
    keyPem: `-----BEGIN PRIVATE KEY-----\n${Buffer.from(`key for ${host}`).toString('base64')}\n-----END PRIVATE KEY-----\n`,
  }));
}

const fakePem = (kind: string, text: string): string => `-----BEGIN ${kind}-----\n${Buffer.from(text).toString('base64')}\n-----END ${kind}-----\n`;

/**
 * Stands in for the mesh identities: every proxy has a certificate, except those named
 * `pending-*`, whose identity is not issued yet (so goldens show what failing closed looks like).
 */
const fakeMeshTls: MeshTlsMaterial = {
  identity: (mesh, proxyName) =>
    proxyName.startsWith('pending-')
      ? undefined
      : {
          certChainPem: fakePem('CERTIFICATE', `workload ${mesh}/${proxyName}`),
          keyPem: fakePem('PRIVATE KEY', `workload key ${mesh}/${proxyName}`),
          spiffeIds: [],
          serialHex: '01',
          notAfter: new Date(0),
        },
  trustBundle: (mesh) => fakePem('CERTIFICATE', `mesh CA ${mesh}`),
};

/** Which proxies each case renders: every Dataplane, in the flavor named by the case, and every Gateway (envoy). */
function cases(): GoldenCase[] {
  return fs
    .readdirSync(GOLDEN_DIR)
    .filter((f) => (f.startsWith('mesh-') || f.startsWith('gateway-')) && f.endsWith('.in.yaml'))
    .map((f) => {
      const name = f.replace(/\.in\.yaml$/, '');
      const parsed = parseYamlDocuments(fs.readFileSync(path.join(GOLDEN_DIR, f), 'utf8'), { file: f });
      if (!parsed.ok) throw new Error(`${f}: ${JSON.stringify(parsed.errors)}`);
      const flavor: Flavor = name.includes('proxyless') ? 'grpc' : 'envoy';
      const proxies = parsed.value
        .filter((r) => r.type === 'Dataplane' || r.type === 'Gateway')
        .map((r) => ({ name: r.name, mesh: (r as { mesh?: string }).mesh ?? 'default', flavor: r.type === 'Gateway' ? ('envoy' as const) : flavor }));
      return { name, proxies };
    });
}

describe('golden files: generated Envoy resources per proxy', () => {
  for (const c of cases()) {
    for (const proxy of c.proxies) {
      it(`${c.name} → ${proxy.name} (${proxy.flavor})`, () => {
        // given
        const text = fs.readFileSync(path.join(GOLDEN_DIR, `${c.name}.in.yaml`), 'utf8');
        const parsed = parseYamlDocuments(text, { file: `${c.name}.in.yaml` });
        if (!parsed.ok) throw new Error('unreachable: parsed above');
        // when
        const rendered = renderConfig(generateForProxy(translateMeshes(parsed.value), proxy, { secrets: fakeSecretMaterial(parsed.value), meshTls: fakeMeshTls }));
        // then
        expect(rendered.violations).toEqual([]);
        const { expected, actual } = expectGolden(`${c.name}.${proxy.name}.out.yaml`, rendered.yaml);
        expect(actual, 'golden mismatch; if intended, run: UPDATE_GOLDEN=1 npm test').toBe(expected);
      });
    }
  }
});

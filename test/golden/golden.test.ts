import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { MeshTlsMaterial } from '../../src/ca/workload-identity.js';
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';
import { createIntermediateCa } from '../helpers/intermediate-ca.js';
import { spiffeId } from '../../src/identity/names.js';
import { parseYamlDocuments } from '../helpers/parse-yaml.js';
import { translateMeshes } from '../../src/translate/mesh-services.js';
import { generateForProxy, type Flavor } from '../../src/generate/generate.js';
import { GOLDEN_DIR, expectGolden, fakeMeshTls, fakeSecretMaterial, renderConfig, type RenderedConfig } from '../helpers/golden.js';
import { envoyValidate } from '../peers/envoy-validate.js';

interface GoldenCase {
  name: string;
  proxies: Array<{ name: string; mesh: string; flavor: Flavor }>;
}

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

/**
 * Real material for a provided CA with an intermediate (cases named `*-provided`): each proxy's
 * chain is leaf + intermediate, the trust bundle the root, as the provided backend serves them.
 */
async function providedCaMaterial(proxies: GoldenCase['proxies'], services: ReadonlyMap<string, string>): Promise<MeshTlsMaterial> {
  const root = await createRootCa({ commonName: 'Corp Root', validitySeconds: 86_400 * 365 });
  const intermediate = await createIntermediateCa({ issuer: root, commonName: 'Corp Intermediate', validitySeconds: 86_400 * 30 });
  const identities = new Map<string, Awaited<ReturnType<typeof issueCertificate>>>();
  for (const p of proxies) {
    identities.set(p.name, await issueCertificate({ issuer: intermediate, uris: [spiffeId(p.mesh, services.get(p.name) ?? p.name)], usage: 'workload', validitySeconds: 3600 }));
  }
  return {
    identity: (_mesh, proxyName) => {
      const issued = identities.get(proxyName);
      return issued && { certChainPem: issued.chainPem, keyPem: issued.keyPem, spiffeIds: [], serialHex: issued.serialHex, notAfter: issued.notAfter };
    },
    trustBundle: () => root.certPem,
  };
}

const materials = new Map<string, MeshTlsMaterial>();
/** Per `case/proxy`: the rendered config, and what Envoy's own validators say of each resource. */
const rendered = new Map<string, { config: RenderedConfig; violations: string[] }>();

function render(c: GoldenCase, proxy: GoldenCase['proxies'][number]): RenderedConfig {
  const text = fs.readFileSync(path.join(GOLDEN_DIR, `${c.name}.in.yaml`), 'utf8');
  const parsed = parseYamlDocuments(text, { file: `${c.name}.in.yaml` });
  if (!parsed.ok) throw new Error(`${c.name}.in.yaml: ${JSON.stringify(parsed.errors)}`);
  return renderConfig(generateForProxy(translateMeshes(parsed.value), proxy, { secrets: fakeSecretMaterial(parsed.value), meshTls: materials.get(c.name) ?? fakeMeshTls }));
}

beforeAll(async () => {
  for (const c of cases().filter((c) => c.name.endsWith('-provided'))) {
    const parsed = parseYamlDocuments(fs.readFileSync(path.join(GOLDEN_DIR, `${c.name}.in.yaml`), 'utf8'));
    const services = new Map<string, string>();
    if (parsed.ok) for (const r of parsed.value) if (r.type === 'Dataplane') services.set(r.name, r.networking.inbound[0]?.tags['kuma.io/service'] ?? r.name);
    materials.set(c.name, await providedCaMaterial(c.proxies, services));
  }
  // Every resource of every case through Envoy's compiled validators, in one process.
  const all: Array<{ key: string; config: RenderedConfig }> = [];
  for (const c of cases()) for (const proxy of c.proxies) all.push({ key: `${c.name}/${proxy.name}`, config: render(c, proxy) });
  const verdicts = envoyValidate(all.flatMap(({ config }) => config.encoded));
  let next = 0;
  for (const { key, config } of all) {
    const violations = config.encoded.flatMap((r) => (verdicts[next++] ?? ['no verdict']).map((v) => `${r.resource}: ${v}`));
    rendered.set(key, { config, violations });
  }
}, 600_000);

describe('golden files: generated Envoy resources per proxy', () => {
  for (const c of cases()) {
    for (const proxy of c.proxies) {
      it(`${c.name} → ${proxy.name} (${proxy.flavor})`, () => {
        // given: the case's resources, rendered for this proxy and encoded as Envoy is sent them
        const result = rendered.get(`${c.name}/${proxy.name}`);
        if (!result) throw new Error(`${c.name}/${proxy.name} was not rendered`);
        // then: Envoy's own validation rules accept every resource (go-control-plane's ValidateAll)
        expect(result.config.encoded.length).toBeGreaterThan(0);
        expect(result.violations).toEqual([]);
        // and: it matches the golden file
        const { expected, actual } = expectGolden(`${c.name}.${proxy.name}.out.yaml`, result.config.yaml);
        expect(actual, 'golden mismatch; if intended, run: UPDATE_GOLDEN=1 npm test').toBe(expected);
      });
    }
  }
});

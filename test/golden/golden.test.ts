import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseYamlDocuments } from '../../src/api/parse.js';
import { translateMeshes } from '../../src/translate/mesh-services.js';
import { generateForProxy, type Flavor } from '../../src/generate/generate.js';
import type { Resource } from '../../src/api/types.js';
import { GOLDEN_DIR, expectGolden, fakeMeshTls, fakeSecretMaterial, renderConfig } from '../helpers/golden.js';

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

/**
 * The gateway warnings `serve` gives its validator (runtime/gateway-warnings.ts) read the
 * Gateways, Routes, Service resources and tls Secrets alone: they are exactly what the warnings of
 * the fully translated set say (generate/gateway-warnings.ts resourceSetWarnings), for every golden
 * input and for a set spread over two meshes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseYamlDocuments } from '../helpers/parse-yaml.js';
import type { Resource } from '../../src/api/types.js';
import { resourceSetWarnings } from '../../src/generate/gateway-warnings.js';
import { gatewayWarningsOf } from '../../src/runtime/gateway-warnings.js';
import { GOLDEN_DIR } from '../helpers/golden.js';

function load(file: string): Resource[] {
  const parsed = parseYamlDocuments(fs.readFileSync(path.join(GOLDEN_DIR, file), 'utf8'), { file });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.value;
}

const inputs = fs.readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.in.yaml')).sort();

describe('gateway warnings read off the gateways alone', () => {
  it.each(inputs)('equal the warnings of the translated set for %s', (file) => {
    // given a golden input
    const resources = load(file);
    // when / then
    expect(gatewayWarningsOf(resources)).toEqual(resourceSetWarnings(resources));
  });

  it('keep each mesh to its own Routes, Services and Secrets', () => {
    // given two meshes, each with the edge gateway set, one under another name
    const edge = load('gateway-edge.in.yaml');
    const upstream = load('gateway-upstream-tls.in.yaml').map((r) => ({ ...r, mesh: r.type === 'Mesh' ? undefined : 'other', ...(r.type === 'Mesh' ? { name: 'other' } : {}) }) as Resource);
    const resources = [...edge, ...upstream];
    // when
    const warnings = gatewayWarningsOf(resources);
    // then: the same as the full translation, and some from each mesh
    expect(warnings).toEqual(resourceSetWarnings(resources));
    expect(warnings.some((w) => w.includes('meshcp get mesh other'))).toBe(true);
    expect(warnings.some((w) => w.includes('meshcp get mesh default'))).toBe(true);
  });
});

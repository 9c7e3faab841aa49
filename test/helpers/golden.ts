/**
 * Golden files (Envoy Gateway / Kuma style): `test/golden/<case>.in.yaml` holds resources,
 * `<case>.<proxy>.out.yaml` the Envoy resources generated for one proxy, decoded from the
 * encoded bytes, sorted by type and name. `UPDATE_GOLDEN=1 npm test` rewrites them.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { buildSnapshot, type GeneratedConfig } from '../../src/snapshot/snapshot.js';
import { decodeResource } from '../../src/snapshot/encode.js';
import { PUSH_ORDER, TYPE_SHORT_NAMES } from '../../src/snapshot/types.js';
import type { ValidationInput } from '../peers/envoy-validate.js';
import type { Resource } from '../../src/api/types.js';
import type { MeshTlsMaterial } from '../../src/ca/workload-identity.js';
import { secretMaterialFromResources } from './secret-material.js';

export const GOLDEN_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../golden');

export interface RenderedConfig {
  yaml: string;
  /** Every encoded resource, as Envoy is sent it, for Envoy's own validators (test/peers/envoy-validate.ts). */
  encoded: Array<ValidationInput & { readonly resource: string; readonly value: Uint8Array }>;
}

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----\n?/g;

/** Replaces PEM blocks (which change every run) by a placeholder naming their kind. */
export function maskVolatile(text: string): string {
  return text.replace(PEM_BLOCK, (_m, kind: string) => `<${kind.replace(/ /g, '_')}>\n`);
}

export function renderConfig(config: GeneratedConfig): RenderedConfig {
  const result = buildSnapshot(config);
  if (!result.ok) throw new Error(`inconsistent snapshot:\n${result.errors.join('\n')}`);
  const out: Record<string, unknown[]> = {};
  const encoded: RenderedConfig['encoded'] = [];
  for (const typeUrl of PUSH_ORDER) {
    const byName = result.snapshot.resources.get(typeUrl) ?? new Map();
    const sorted = [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
    if (sorted.length === 0) continue;
    out[TYPE_SHORT_NAMES[typeUrl] ?? typeUrl] = sorted.map((r) => decodeResource(typeUrl, r.value));
    for (const r of sorted) encoded.push({ typeUrl, value: r.value, resource: `${TYPE_SHORT_NAMES[typeUrl]} ${r.name}` });
  }
  return { yaml: maskVolatile(YAML.stringify(out, { sortMapEntries: false, lineWidth: 0 })), encoded };
}

/** Compares with the golden file, or rewrites it under UPDATE_GOLDEN=1. Returns the expected text. */
export function expectGolden(file: string, actual: string): { expected: string; actual: string } {
  const full = path.join(GOLDEN_DIR, file);
  if (process.env['UPDATE_GOLDEN'] === '1' || !fs.existsSync(full)) {
    if (process.env['CI'] === 'true' && !fs.existsSync(full)) throw new Error(`golden file ${file} is missing; run UPDATE_GOLDEN=1 npm test`);
    fs.writeFileSync(full, actual);
  }
  return { expected: fs.readFileSync(full, 'utf8'), actual };
}

/** Stands in for the mesh CA: fixed PEMs (goldens mask PEM blocks anyway). */
export function fakeSecretMaterial(resources: readonly Resource[]) {
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
export const fakeMeshTls: MeshTlsMaterial = {
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

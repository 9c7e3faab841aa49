/**
 * Envoy bootstrap checks shared by the bootstrap and compose-kit tests: the real Envoy 1.40 judges
 * each bootstrap with `envoy --mode validate` (every field, every typed extension, the inline TLS
 * material), as it would at start.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { envoyBinary } from '../envoy/envoy-process.js';

type Obj = Record<string, unknown>;
export const get = (o: unknown, ...keys: Array<string | number>): unknown => keys.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], o);

export interface EnvoyValidation {
  readonly ok: boolean;
  /** Envoy's own words when it refuses the bootstrap. */
  readonly error?: string;
}

/** `envoy --mode validate -c FILE` on a bootstrap (an object, or the YAML text meshcp printed). */
export function validateBootstrap(bootstrap: Obj | string): EnvoyValidation {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-bootstrap-validate-'));
  try {
    const file = path.join(dir, 'bootstrap.yaml');
    fs.writeFileSync(file, typeof bootstrap === 'string' ? bootstrap : YAML.stringify(bootstrap));
    const run = spawnSync(envoyBinary(), ['--mode', 'validate', '-c', file, '-l', 'error', '--use-dynamic-base-id'], { encoding: 'utf8', timeout: 60_000, cwd: dir });
    const output = `${run.stdout}${run.stderr}`;
    if (run.status === 0 && /configuration '.*' OK/.test(output)) return { ok: true };
    return { ok: false, error: output.split('\n').filter((l) => /critical|error|rror initializing/i.test(l)).join('\n') || output.slice(-2000) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

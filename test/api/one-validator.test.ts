/**
 * Issue #13 "one validator": `validate -f` (offline), `apply -f` (admin API) and `serve --config`
 * run the same checks (sources/validate.ts validateResources) and resolve a provided CA's
 * `file:` the same way (relative to the YAML file). The same inputs must give the same verdicts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/cli/serve.js';
import { validateFiles } from '../../src/cli/validate.js';
import { silentLogger } from '../../src/log/logger.js';
import { startHarness, type Harness } from '../cli/harness.js';
import { opensslCa } from '../cli/kuma-openssl.js';

/** A Mesh whose provided CA is read from files next to it (relative paths), and a tls Secret of the same files. */
function configDir(keyUsage: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-one-validator-'));
  opensslCa(dir, 'ca', keyUsage);
  fs.writeFileSync(
    path.join(dir, 'mesh.yaml'),
    `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: provided
    conf:
      cert: { file: ./ca.crt.pem }
      key: { file: ./ca.key.pem }
  - name: ca-2
    type: provided
    conf:
      cert: { secret: my-ca }
      key: { secret: my-ca }
---
type: Secret
name: my-ca
secretType: tls
certFile: ./ca.crt.pem
keyFile: ./ca.key.pem
`,
  );
  return dir;
}

/** The part of an error line after its location (file#doc): what was checked and what is wrong. */
function verdicts(lines: readonly string[]): string[] {
  return lines
    .map((l) => l.replace(/^Error: /, '').replace(/^\S*#\d+ /, ''))
    .filter((l) => l.startsWith('Mesh/') || l.startsWith('Secret/'))
    .sort();
}

async function serveErrors(dir: string): Promise<string[]> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-one-validator-data-'));
  try {
    const server = await startServer({ config: [dir], dataDir, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'none', xdsPlaintext: true }, silentLogger());
    await server.close();
    return [];
  } catch (err) {
    return (err as Error).message.split('\n').slice(1);
  }
}

describe('one validator for validate -f, apply -f and serve --config', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h.stop();
  });

  it('refuses a provided CA with keyUsage keyAgreement everywhere, with the same errors', async () => {
    // given: the same files for all three
    const dir = configDir('keyCertSign, keyAgreement');
    // when
    const offline = await validateFiles([dir]);
    const applied = await h.cli(['apply', '-f', dir]);
    const served = await serveErrors(dir);
    // then
    const expected = [
      'Mesh/default: mtls.backends[0].conf.cert: certificate CN=ca has keyUsage keyAgreement, which a CA must not have',
      'Mesh/default: mtls.backends[1].conf.cert: certificate CN=ca has keyUsage keyAgreement, which a CA must not have',
    ];
    expect(verdicts(offline.errors)).toEqual(expected);
    expect(applied.code).not.toBe(0);
    expect(verdicts(applied.stderr.split('\n'))).toEqual(expected);
    expect(verdicts(served)).toEqual(expected);
  });

  it('accepts a compliant CA named by relative file: paths everywhere', async () => {
    // given
    const dir = configDir('keyCertSign');
    // when
    const offline = await validateFiles([dir]);
    const applied = await h.cli(['apply', '-f', path.join(dir, 'mesh.yaml')]);
    const served = await serveErrors(dir);
    // then
    expect(offline.errors).toEqual([]);
    expect(applied.stderr).not.toMatch(/Error/);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain('Mesh/default');
    expect(served).toEqual([]);
  });
});

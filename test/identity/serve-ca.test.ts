import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, type CaMaterial } from '../../src/ca/pki.js';
import { createIntermediateCa, type IntermediateCa } from '../helpers/intermediate-ca.js';
import { startServer } from '../../src/cli/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { startHarness, type Harness } from '../cli/harness.js';
import { waitFor } from '../helpers/wait.js';

const YEAR_S = 365 * 86_400;

const BUILTIN_MESH = `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
  - name: ca-2
    type: builtin
`;

function indent(pem: string, spaces: number): string {
  return pem
    .trim()
    .split('\n')
    .map((l) => `${' '.repeat(spaces)}${l}`)
    .join('\n');
}

function tlsSecretYaml(name: string, cert: string, key: string): string {
  return `type: Secret
name: ${name}
secretType: tls
cert: |
${indent(cert, 2)}
key: |
${indent(key, 2)}
`;
}

function providedMeshYaml(cert: string, key: string): string {
  return `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
  - name: ca-2
    type: provided
    conf:
      cert: { ${cert} }
      key: { ${key} }
`;
}

describe('mesh CAs in meshcp serve', () => {
  let h: Harness;
  let root: CaMaterial;
  let intermediate: IntermediateCa;
  let otherRoot: CaMaterial;

  beforeAll(async () => {
    h = await startHarness({ configYaml: BUILTIN_MESH });
    root = await createRootCa({ commonName: 'Acme Root', validitySeconds: 5 * YEAR_S });
    intermediate = await createIntermediateCa({ issuer: root, commonName: 'Acme Mesh', validitySeconds: 2 * YEAR_S, keyAlgorithm: 'ecdsa-p256' });
    otherRoot = await createRootCa({ commonName: 'Other Root', validitySeconds: 5 * YEAR_S });
  });

  afterAll(async () => {
    await h.stop();
  });

  it('lists the builtin CA of every builtin backend as two Secrets with an AGE, and never a key', async () => {
    // given: the roots are generated in the background when the Mesh appears
    await waitFor('both builtin CAs', () => h.server.controlPlane.identities.builtinCas().length === 2);
    // when
    const table = await h.cli(['get', 'secrets', '-m', 'default']);
    const keyYaml = await h.cli(['get', 'secret', 'default.ca-builtin-key-ca-1', '-m', 'default', '-o', 'yaml']);
    const certYaml = await h.cli(['get', 'secret', 'default.ca-builtin-cert-ca-1', '-m', 'default', '-o', 'yaml']);
    // then
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^MESH\s+NAME\s+TYPE\s+FINGERPRINT\s+EXPIRES\s+AGE$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3).join(' '))).toEqual([
      'default default.ca-builtin-cert-ca-1 tls-ca',
      'default default.ca-builtin-cert-ca-2 tls-ca',
      'default default.ca-builtin-key-ca-1 ca-key',
      'default default.ca-builtin-key-ca-2 ca-key',
    ]);
    for (const line of lines.slice(1)) expect(line).toMatch(/\s\d+[smhd]$/);
    expect(keyYaml.code).toBe(0);
    expect(keyYaml.stdout).toContain('privateKey: (hidden)');
    expect(keyYaml.stdout).toMatch(/keyType: RSA 2048/);
    expect(certYaml.stdout).toContain('subject: CN=meshcp default CA (ca-1)');
    for (const out of [table.stdout, keyYaml.stdout, certYaml.stdout]) expect(out).not.toContain('PRIVATE KEY');
  });

  it('keeps the builtin roots across a restart of the control plane', async () => {
    // given
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-restart-'));
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), BUILTIN_MESH);
    const options = { config: [path.join(dir, 'mesh.yaml')], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'none', xdsPlaintext: true };
    const first = await startServer(options, silentLogger());
    const before = await waitFor('CAs', () => (first.controlPlane.identities.builtinCas().length === 2 ? first.controlPlane.identities.builtinCas() : undefined));
    await first.close();
    // when
    const second = await startServer(options, silentLogger());
    const after = await waitFor('CAs after restart', () => (second.controlPlane.identities.builtinCas().length === 2 ? second.controlPlane.identities.builtinCas() : undefined));
    await second.close();
    fs.rmSync(dir, { recursive: true, force: true });
    // then
    const ids = (cas: typeof before): string[] => cas.map((c) => `${c.backend}:${c.id}:${c.creationTime ?? ''}`).sort();
    expect(ids(after)).toEqual(ids(before));
  });

  it('accepts a provided CA with an intermediate chain through the API', async () => {
    // given
    const yaml = `${tlsSecretYaml('mesh-ca', intermediate.chainPem, intermediate.keyPem)}---\n${providedMeshYaml('secret: mesh-ca', 'secret: mesh-ca')}`;
    const file = path.join(h.dir, 'provided.yaml');
    fs.writeFileSync(file, yaml);
    // when: the config file owns Mesh/default, so the API copy needs another mesh name
    const run = await h.cli(['apply', '-f', file]);
    // then
    expect(run.stderr).toContain('Mesh/default is defined in the --config files');
    // when: the config file itself switches to the provided backend
    await h.writeConfig(`${tlsSecretYaml('mesh-ca', intermediate.chainPem, intermediate.keyPem)}---\n${providedMeshYaml('secret: mesh-ca', 'secret: mesh-ca').replace('enabledBackend: ca-1', 'enabledBackend: ca-2')}`);
    // then
    expect(h.server.sources.lastErrors).toEqual([]);
    const bundle = await waitFor('the provided root in the trust bundle', () => {
      const b = h.server.controlPlane.identities.trustBundle('default');
      return b?.includes(root.certPem.trim()) ? b : undefined;
    });
    expect(bundle).toContain(root.certPem.trim());
  });

  it('rejects a Mesh change whose provided CA is unusable, naming the field, and keeps serving the last good one', async () => {
    // given: a key that does not belong to the certificate
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const bad = providedMeshYaml(`inline: ${b64(root.certPem)}`, `inline: ${b64(otherRoot.keyPem)}`).replace('name: default', 'name: other');
    const file = path.join(h.dir, 'bad-mesh.yaml');
    fs.writeFileSync(file, bad);
    // when: applied through the API
    const run = await h.cli(['apply', '-f', file]);
    // then
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('Mesh/other: mtls.backends[1].conf.key: does not match the CA certificate CN=Acme Root (the first one in cert)');
    expect(run.stderr).not.toContain('PRIVATE KEY');
    // when: the config file names CA files that do not exist
    const goodBundle = h.server.controlPlane.identities.trustBundle('default');
    expect(goodBundle).toContain(root.certPem.trim());
    await h.writeConfig(providedMeshYaml(`file: /nonexistent/ca.pem`, `file: /nonexistent/ca.key`).replace('enabledBackend: ca-1', 'enabledBackend: ca-2'));
    // then
    expect(h.server.sources.lastErrors).toEqual([
      'Mesh/default: mtls.backends[1].conf.cert.file: cannot read "/nonexistent/ca.pem": ENOENT',
      'Mesh/default: mtls.backends[1].conf.key.file: cannot read "/nonexistent/ca.key": ENOENT',
    ]);
    expect(h.server.controlPlane.identities.trustBundle('default')).toBe(goodBundle);
  });
});

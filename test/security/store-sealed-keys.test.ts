/**
 * Every private key a stored document holds is sealed in etcd (SPEC §5): a Secret's key and a
 * provided mesh CA's key, also when `meshcp apply -f` read it from a `file:` and sent it inline.
 * Proved by reading etcd directly, as anyone with etcd access would. A key an earlier meshcp left
 * in clear is sealed in place.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueCertificate, type CaMaterial } from '../../src/ca/pki.js';
import type { MeshResource } from '../../src/api/types.js';
import type { RunningServer } from '../../src/cli/serve.js';
import { runCli } from '../cli/harness.js';
import { waitFor } from '../helpers/wait.js';
import { startEtcdReplicas, type EtcdReplicas } from './store-replicas.js';

const PREFIX = 'sealed';

/** What of a PEM key could be recognised in a stored value: its PEM, a body line, or its base64 (as `inline:` holds it). */
function traces(keyPem: string): string[] {
  const body = keyPem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
  const b64 = Buffer.from(keyPem).toString('base64');
  return ['PRIVATE KEY', body[1] ?? '', body[body.length - 2] ?? '', b64.slice(120, 200), JSON.stringify(keyPem).slice(40, 120)];
}

function servedMesh(server: RunningServer, name: string): MeshResource | undefined {
  return server.sources.served()?.resources.find((r): r is MeshResource => r.type === 'Mesh' && r.name === name);
}

function providedKey(mesh: MeshResource | undefined): string | undefined {
  const backend = mesh?.mtls?.backends[0];
  return backend?.type === 'provided' && 'inline' in backend.conf.key ? backend.conf.key.inline : undefined;
}

describe('private keys at rest in etcd', () => {
  let env: EtcdReplicas;
  let server: RunningServer;
  let fileCa: CaMaterial;
  let inlineCa: CaMaterial;
  let legacyCa: CaMaterial;
  let tlsKeyPem: string;

  beforeAll(async () => {
    env = await startEtcdReplicas();
    server = await env.replica(PREFIX);
    [fileCa, inlineCa, legacyCa] = await Promise.all([1, 2, 3].map((i) => createRootCa({ commonName: `Mesh CA ${i}`, validitySeconds: 86_400 })));
    const leaf = await issueCertificate({ issuer: inlineCa, commonName: 'shop.acme.org', dnsNames: ['shop.acme.org'], usage: 'server', validitySeconds: 86_400 });
    tlsKeyPem = leaf.keyPem;
    fs.writeFileSync(path.join(env.dir, 'ca.pem'), fileCa.certPem);
    fs.writeFileSync(path.join(env.dir, 'ca.key'), fileCa.keyPem, { mode: 0o600 });
    const indent = (pem: string): string => pem.trim().split('\n').map((l) => `  ${l}`).join('\n');
    fs.writeFileSync(
      path.join(env.dir, 'resources.yaml'),
      `type: Mesh
name: from-file
mtls:
  enabledBackend: ca-1
  backends:
  - { name: ca-1, type: provided, conf: { cert: { file: ./ca.pem }, key: { file: ./ca.key } } }
---
type: Mesh
name: from-inline
mtls:
  enabledBackend: ca-1
  backends:
  - { name: ca-1, type: provided, conf: { cert: { inline: ${Buffer.from(inlineCa.certPem).toString('base64')} }, key: { inline: ${Buffer.from(inlineCa.keyPem).toString('base64')} } } }
---
type: Secret
name: shop-tls
mesh: from-inline
secretType: tls
cert: |
${indent(leaf.certPem)}
key: |
${indent(leaf.keyPem)}
`,
    );
  }, 120_000);

  afterAll(async () => {
    await env?.stop();
  });

  it('seals a provided CA key given as file: through apply -f, an inline one and a Secret key: etcd holds none of them', async () => {
    // when: the user applies them, the file: read by the CLI and sent inline
    const applied = await runCli(['apply', '-f', path.join(env.dir, 'resources.yaml'), '--server', server.adminUrl]);
    expect(applied.stderr).not.toMatch(/error/i);
    expect(applied.code).toBe(0);
    // then: reading etcd directly, no value holds any trace of the three keys
    const raw = await env.raw(PREFIX);
    const records = Object.entries(raw).filter(([key]) => key.includes('/resources/'));
    expect(records.map(([key]) => key).sort()).toEqual([`/${PREFIX}/resources/Mesh/from-file`, `/${PREFIX}/resources/Mesh/from-inline`, `/${PREFIX}/resources/Secret/from-inline/shop-tls`]);
    for (const [key, value] of Object.entries(raw)) {
      for (const keyPem of [fileCa.keyPem, inlineCa.keyPem, tlsKeyPem]) {
        for (const trace of traces(keyPem)) expect(value.includes(trace), `${key} holds ${trace.slice(0, 20)}…`).toBe(false);
      }
    }
    // and: the sealed values are where the keys were, and the certificates stay readable
    const mesh = JSON.parse(raw[`/${PREFIX}/resources/Mesh/from-file`] ?? '{}') as { resource: { mtls: { backends: { conf: { cert: { inline: string }; key: { inline: string } } }[] } } };
    expect(mesh.resource.mtls.backends[0]?.conf.key.inline).toMatch(/^meshcp-aesgcm:v1:[0-9a-f]{8}:/);
    expect(Buffer.from(mesh.resource.mtls.backends[0]?.conf.cert.inline ?? '', 'base64').toString()).toBe(fileCa.certPem);
    // and: meshcp itself reads them back: another replica serves both meshes with their keys
    const other = await env.replica(PREFIX);
    expect(Buffer.from(providedKey(servedMesh(other, 'from-file')) ?? '', 'base64').toString()).toBe(fileCa.keyPem);
    expect(Buffer.from(providedKey(servedMesh(other, 'from-inline')) ?? '', 'base64').toString()).toBe(inlineCa.keyPem);
  });

  it('seals in place a provided CA key an earlier meshcp stored in clear, and keeps serving that mesh', async () => {
    // given: a Mesh record as the previous version wrote it (the key inline, in clear)
    const inClear = Buffer.from(legacyCa.keyPem).toString('base64');
    await env.putRecord(PREFIX, 'Mesh/legacy', {
      type: 'Mesh',
      name: 'legacy',
      mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'provided', mode: 'STRICT', dpCert: { rotation: { expiration: '30d' } }, conf: { cert: { inline: Buffer.from(legacyCa.certPem).toString('base64') }, key: { inline: inClear } } }] },
    });
    // when: a replica sees it (the running one, through its watch)
    // then: the record is rewritten sealed, and the mesh is served with its key
    const sealed = await waitFor('the legacy key sealed in etcd', async () => {
      const value = (await env.raw(PREFIX))[`/${PREFIX}/resources/Mesh/legacy`] ?? '';
      return !value.includes(inClear.slice(100, 180)) && value.includes('meshcp-aesgcm:v1:') ? value : undefined;
    });
    for (const trace of traces(legacyCa.keyPem)) expect(sealed.includes(trace)).toBe(false);
    await waitFor('legacy mesh served', () => providedKey(servedMesh(server, 'legacy')) === inClear);
  });
});

/**
 * The go-control-plane server (test/peers/go/cmd/xds-server) that stands beside meshcp in the
 * bench, and can serve real Envoys: it takes one named node's resources as meshcp generates them,
 * serves them over TLS on ADS, and reports the node's ACKs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { parseYamlDocuments } from '../helpers/parse-yaml.js';
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';
import { generateForProxy } from '../../src/generate/generate.js';
import { translateMeshes } from '../../src/translate/mesh-services.js';
import { buildSnapshot } from '../../src/snapshot/snapshot.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE } from '../../src/snapshot/types.js';
import { GoXdsServer } from '../../bench/go-xds-server.js';
import { decodeAny, FakeEnvoy } from '../helpers/fake-envoy.js';
import { GOLDEN_DIR } from '../helpers/golden.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

describe('go-control-plane xds-server', () => {
  it("serves a named node meshcp's resources over TLS and reports its ACKs", async () => {
    // given: web-01's config from the mesh-basic golden case, as meshcp encodes it
    const parsed = parseYamlDocuments(fs.readFileSync(path.join(GOLDEN_DIR, 'mesh-basic.in.yaml'), 'utf8'));
    if (!parsed.ok) throw new Error('mesh-basic.in.yaml does not parse');
    const built = buildSnapshot(generateForProxy(translateMeshes(parsed.value), { name: 'web-01', mesh: 'default', flavor: 'envoy' }));
    if (!built.ok) throw new Error(built.errors.join('; '));
    // and: a serving certificate for 127.0.0.1
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-xds-server-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const ca = await createRootCa({ commonName: 'xds test ca', keyType: 'ecdsa-p256', validitySeconds: 3600 });
    const serving = await issueCertificate({ issuer: ca, ipAddresses: ['127.0.0.1'], usage: 'server', validitySeconds: 3600 });
    fs.writeFileSync(path.join(dir, 'cert.pem'), serving.chainPem);
    fs.writeFileSync(path.join(dir, 'key.pem'), serving.keyPem);
    const server = new GoXdsServer({ tls: { certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem') } });
    cleanup.push(() => server.stop());

    // when: the resources go in, with one snapshot for web-01, EDS in the LinearCache
    const types: Record<string, { version: string; ids: string[] }> = {};
    const edsIds: string[] = [];
    let n = 0;
    for (const [typeUrl, byName] of built.snapshot.resources) {
      const ids: string[] = [];
      for (const r of byName.values()) {
        const id = `r${n++}`;
        await server.send({ op: 'resource', id, typeUrl, value: Buffer.from(r.value).toString('base64') });
        ids.push(id);
      }
      if (typeUrl === ENDPOINT_TYPE) edsIds.push(...ids);
      types[typeUrl] = { version: `v-${typeUrl.length}`, ids };
    }
    await server.send({ op: 'snapshot', node: 'web-01', types });
    await server.send({ op: 'linear', typeUrl: ENDPOINT_TYPE, ids: edsIds });
    const port = Number((await server.request({ op: 'serve' }, 'listening'))['port']);
    const acked = server.request({ op: 'await-acks', token: 'web', nodes: 1, ids: [CLUSTER_TYPE, LISTENER_TYPE] }, 'acked');
    // and: web-01 connects over TLS (verifying the server) and asks for its clusters and listeners
    const envoy = new FakeEnvoy({ address: `127.0.0.1:${port}`, mode: 'sotw', node: { id: 'web-01', metadata: {} }, credentials: grpc.credentials.createSsl(Buffer.from(ca.certPem)) });
    cleanup.push(() => envoy.close());
    envoy.subscribe(CLUSTER_TYPE, []);
    envoy.subscribe(LISTENER_TYPE, []);
    // go-control-plane answers each type from its own watch: the two responses come in either order
    const first = await envoy.next(20_000);
    const second = await envoy.next(20_000);
    const byType = new Map([first, second].map((response) => [response.typeUrl, response]));
    const cds = byType.get(CLUSTER_TYPE);
    const lds = byType.get(LISTENER_TYPE);
    if (!cds || !lds) throw new Error(`expected a CDS and an LDS response, got ${first.typeUrl} and ${second.typeUrl}`);
    envoy.ack(cds);
    envoy.ack(lds);

    // then: it got exactly meshcp's clusters and listeners, and the server saw both ACKs
    const expected = (typeUrl: string): Record<string, unknown> =>
      Object.fromEntries([...(built.snapshot.resources.get(typeUrl)?.values() ?? [])].map((r) => [r.name, decodeAny(typeUrl, r.value)]));
    const received = (response: typeof cds): Record<string, unknown> => Object.fromEntries(response.resources.map((r) => [r.name, r.value]));
    expect(Object.keys(expected(CLUSTER_TYPE)).length).toBeGreaterThan(0);
    expect(received(cds)).toEqual(expected(CLUSTER_TYPE));
    expect(received(lds)).toEqual(expected(LISTENER_TYPE));
    expect(cds.version).toBe(types[CLUSTER_TYPE]!.version);
    expect((await acked)['token']).toBe('web');
  });
});

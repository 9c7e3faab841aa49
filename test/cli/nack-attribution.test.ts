/**
 * A NACK shows on the user resource that caused it (issue #11): every generated resource records
 * the Route, Mesh, Service, Secret, Gateway or Dataplane it came from, so when a proxy refuses a
 * response, `meshcp get routes` (and services, …) names the proxy and its error on the resource,
 * and `inspect dataplane NAME --config-dump` lists the resources the refused type came from.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { CLUSTER_TYPE, LISTENER_TYPE } from '../../src/snapshot/types.js';
import { FakeEnvoy } from '../helpers/fake-envoy.js';
import { waitFor } from '../helpers/wait.js';
import { runCli } from './harness.js';

const LDS_ERROR = 'Error adding/updating listener(s) gateway:8443: invalid filter chain (test)';
const CDS_ERROR = 'cluster shop-svc: unsupported lb_policy (test)';

function config(cert: string, key: string): string {
  const indent = (text: string): string => text.trim().split('\n').map((l) => `  ${l}`).join('\n');
  return `type: Mesh
name: default
---
type: Gateway
name: edge
listeners: [{ port: 8443 }]
---
type: Service
name: shop-svc
endpoints: [{ address: 127.0.0.1, port: 9001 }]
---
type: Service
name: other-svc
endpoints: [{ address: 127.0.0.1, port: 9002 }]
---
type: Secret
name: shop-cert
secretType: tls
cert: |
${indent(cert)}
key: |
${indent(key)}
---
type: Route
name: shop
gateway: edge
host: shop.acme.org
tls:
  serverCertificate: { name: shop-cert }
routes: [{ prefix: /, route: { service: shop-svc } }]
`;
}

describe('NACKs shown on the resources that caused them', () => {
  let dir: string;
  let server: RunningServer;
  const clients: FakeEnvoy[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-nack-sources-'));
    const ca = await createRootCa({ commonName: 'Shop Root', validitySeconds: 86_400 * 60 });
    const leaf = await issueCertificate({ issuer: ca, dnsNames: ['shop.acme.org'], usage: 'server', validitySeconds: 86_400 * 60 });
    fs.writeFileSync(path.join(dir, 'config.yaml'), config(leaf.chainPem, leaf.keyPem));
    server = await startServer(
      { config: [path.join(dir, 'config.yaml')], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'none', xdsPlaintext: true },
      (await import('../../src/log/logger.js')).silentLogger(),
    );
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('names the proxy and its error on the Route and the Service, and the Route in the config dump', async () => {
    // given: the edge gateway refuses its clusters and its listener
    const edge = new FakeEnvoy({ address: server.xdsAddress, mode: 'sotw', node: { id: 'edge', metadata: { mesh: 'default' } } });
    clients.push(edge);
    edge.subscribe(CLUSTER_TYPE, []);
    edge.nack(await edge.nextOf(CLUSTER_TYPE, 30_000), CDS_ERROR);
    edge.subscribe(LISTENER_TYPE, []);
    edge.nack(await edge.nextOf(LISTENER_TYPE, 30_000), LDS_ERROR);
    const dumpNacked = async (): Promise<boolean> => {
      const r = await runCli(['inspect', 'dataplane', 'edge', '--config-dump', '-o', 'json', '--server', server.adminUrl]);
      const types = (JSON.parse(r.stdout) as { types: { type: string; state: string }[] }).types;
      return types.filter((t) => t.state === 'NACKED').length === 2;
    };
    await waitFor('both NACKs recorded', dumpNacked);

    // when
    const routes = await runCli(['get', 'routes', '--server', server.adminUrl]);
    const services = await runCli(['get', 'services', '--server', server.adminUrl]);
    const routeJson = await runCli(['get', 'route', 'shop', '-o', 'json', '--server', server.adminUrl]);
    const api = (await (await fetch(`${server.adminUrl}/api/routes/shop`)).json()) as { nacks?: unknown };
    const dump = await runCli(['inspect', 'dataplane', 'edge', '--config-dump', '-o', 'table', '--server', server.adminUrl]);
    const dumpJson = JSON.parse((await runCli(['inspect', 'dataplane', 'edge', '--config-dump', '-o', 'json', '--server', server.adminUrl])).stdout) as { types: { type: string; causedBy?: string[] }[] };

    // then: the Route carries the listener NACK, with the proxy and its error
    expect(routes.code, routes.stderr).toBe(0);
    expect(routes.stdout).toContain(`NACK: Route/shop: proxy edge (mesh default) refused its LDS: ${LDS_ERROR}\n`);
    expect(api.nacks).toEqual(expect.arrayContaining([{ proxy: 'edge', mesh: 'default', type: 'LDS', error: LDS_ERROR }]));
    // and: the Service whose cluster was refused carries the CDS NACK; a Service the proxy does not use carries none
    expect(services.stdout).toContain(`NACK: Service/shop-svc: proxy edge (mesh default) refused its CDS: ${CDS_ERROR}\n`);
    expect(services.stdout).not.toContain('Service/other-svc');
    // and: the config dump says where each refused type came from
    const lds = dumpJson.types.find((t) => t.type === 'LDS');
    const cds = dumpJson.types.find((t) => t.type === 'CDS');
    expect(lds?.causedBy).toEqual(['Gateway/edge', 'Route/shop']);
    expect(cds?.causedBy).toEqual(expect.arrayContaining(['Service/shop-svc']));
    expect(dump.stdout).toMatch(/caused by \(LDS\): .*Route\/shop/);
    // and: `-o yaml|json` stays the document `apply -f` takes back (no status fields in it)
    expect(JSON.parse(routeJson.stdout)).not.toHaveProperty('nacks');
  });
});

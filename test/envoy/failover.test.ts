/**
 * Two `meshcp serve` replicas on one etcd (client-certificate auth), real Envoy sidecars
 * bootstrapped with both replicas' xDS addresses (Delta ADS), STRICT mesh mTLS. Under continuous
 * load, the replica holding the Envoys' streams is killed with SIGKILL: the Envoys move to the
 * other replica, get new workload certificates from the shared CA, and not one request fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/echo-service.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { waitFor } from '../helpers/wait.js';
import { httpGet, startHttpApp, startLoad, type RunningApp } from './apps.js';
import type { EnvoyProcess } from './envoy-process.js';
import { printEnvoysOnFailure, ServeProcess, Testbed } from './testbed.js';

async function connectedProxies(replica: ServeProcess): Promise<number> {
  const text = await (await fetch(`${replica.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('meshcp_xds_connected_proxies'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('failover between two etcd-backed replicas, with real Envoy sidecars', () => {
  let etcd: TestEtcd;
  let bed: Testbed;
  const replicas: ServeProcess[] = [];
  const apps: RunningApp[] = [];
  let web: EnvoyProcess;
  let backend: EnvoyProcess;
  let outbound: number;
  printEnvoysOnFailure(() => [bed]);

  beforeAll(async () => {
    etcd = await startEtcd();
    const webApp = await startHttpApp('web');
    const backendApp = await startHttpApp('backend');
    apps.push(webApp, backendApp);
    outbound = await freePort();
    bed = Testbed.around('failover', { adminUrl: '', xdsAddress: '' });
    const store = ['--store', `${etcd.url}/envoy-failover`, '--store-ca-cert', etcd.files.ca, '--store-cert', etcd.files.cert, '--store-key', etcd.files.key, '--store-encryption-key-file', etcd.files.encryptionKey];
    for (let i = 0; i < 2; i++) replicas.push(await ServeProcess.create(bed.dir, store));
    await Promise.all(replicas.map((r) => r.start()));
    bed.server = replicas[0]!;
    await bed.apply(`type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends: [ { name: ca-1, type: builtin, mode: STRICT, conf: { caCert: { keyType: ECDSA } } } ]
---
type: Dataplane
name: web
networking:
  address: 127.0.0.1
  inbound: [ { port: ${await freePort()}, servicePort: ${webApp.port}, tags: { kuma.io/service: web, kuma.io/protocol: http } } ]
  outbound: [ { port: ${outbound}, tags: { kuma.io/service: backend } } ]
---
type: Dataplane
name: backend
networking:
  address: 127.0.0.1
  inbound: [ { port: ${await freePort()}, servicePort: ${backendApp.port}, tags: { kuma.io/service: backend, kuma.io/protocol: http } } ]
---
type: TrafficPermission
name: web-to-backend
sources: [ { match: { kuma.io/service: web } } ]
destinations: [ { match: { kuma.io/service: backend } } ]
`);
    const xdsAddresses = replicas.map((r) => r.xdsAddress);
    [web, backend] = await Promise.all([bed.readyEnvoy('web', { xdsAddresses, delta: true }), bed.readyEnvoy('backend', { xdsAddresses, delta: true })]);
    await waitFor('web reaches backend', async () => ((await httpGet(outbound).catch(() => undefined))?.status === 200 ? true : undefined));
  });

  afterAll(async () => {
    await bed?.stop();
    await Promise.all(replicas.map((r) => r.stop()));
    await Promise.all(apps.map((a) => a.close()));
    await etcd?.stop();
  });

  it('moves both Envoys to the surviving replica with zero failed requests', async () => {
    // given both Envoys connected, and the replica that holds most of their streams
    await waitFor('both Envoys connected', async () => ((await Promise.all(replicas.map(connectedProxies))).reduce((a, b) => a + b, 0) === 2 ? true : undefined));
    const counts = await Promise.all(replicas.map(connectedProxies));
    const victim = counts[0]! >= counts[1]! ? 0 : 1;
    const survivor = replicas[1 - victim]!;
    const certsBefore = await Promise.all([web, backend].map((e) => e.stat('sds.identity-cert_default.update_success')));
    const load = startLoad(async () => {
      const reply = await httpGet(outbound, '/through-failover');
      return reply.status === 200 ? true : `${reply.status} ${reply.body}`;
    });

    // when that replica is killed with SIGKILL
    await replicas[victim]!.kill9();

    // then both Envoys' streams end up on the survivor
    await waitFor('both Envoys on the surviving replica', async () => ((await connectedProxies(survivor)) === 2 ? true : undefined), { timeoutMs: 60_000 });
    await Promise.all([web, backend].map((e) => e.waitStat('control_plane.connected_state', (v) => v === 1)));
    // and the ones that moved hold new certificates
    await waitFor('a moved Envoy to hold a certificate from the survivor', async () => {
      const certsAfter = await Promise.all([web, backend].map((e) => e.stat('sds.identity-cert_default.update_success')));
      return certsAfter.some((after, i) => after > certsBefore[i]!) ? true : undefined;
    });
    const afterMove = load.done();
    await waitFor('calls after the move', () => load.done() > afterMove + 20);
    const result = await load.stop();

    // and not one call failed, and Envoy never refused or lost config
    expect(result.failures).toEqual([]);
    expect(result.failed).toBe(0);
    for (const envoy of [web, backend]) {
      for (const stat of ['listener_manager.listener_removed', 'cluster_manager.cluster_removed', 'listener_manager.lds.update_rejected', 'cluster_manager.cds.update_rejected']) {
        expect(await envoy.stat(stat), `${envoy.name} ${stat}`).toBe(0);
      }
    }
  });
});

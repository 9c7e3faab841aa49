/**
 * `kill -9` of `meshcp serve` under load, then a restart on the same data directory: real Envoy
 * sidecars (STRICT mesh mTLS, builtin CA) keep every request flowing, reconnect, receive new
 * workload certificates, and never see an empty or partial config (no listener or cluster is
 * ever removed, nothing is rejected).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/echo-service.js';
import { waitFor } from '../helpers/wait.js';
import { httpGet, startHttpApp, startLoad, type RunningApp } from './apps.js';
import type { EnvoyProcess } from './envoy-process.js';
import { printEnvoysOnFailure, ServeProcess, Testbed } from './testbed.js';

const resources = (p: { webInbound: number; webApp: number; backendInbound: number; backendApp: number; outbound: number }): string => `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends: [ { name: ca-1, type: builtin, mode: STRICT, conf: { caCert: { keyType: ECDSA } } } ]
---
type: Dataplane
name: web
networking:
  address: 127.0.0.1
  inbound: [ { port: ${p.webInbound}, servicePort: ${p.webApp}, tags: { kuma.io/service: web, kuma.io/protocol: http } } ]
  outbound: [ { port: ${p.outbound}, tags: { kuma.io/service: backend } } ]
---
type: Dataplane
name: backend
networking:
  address: 127.0.0.1
  inbound: [ { port: ${p.backendInbound}, servicePort: ${p.backendApp}, tags: { kuma.io/service: backend, kuma.io/protocol: http } } ]
---
type: TrafficPermission
name: web-to-backend
sources: [ { match: { kuma.io/service: web } } ]
destinations: [ { match: { kuma.io/service: backend } } ]
`;

/** Counters that would move if Envoy were ever given an empty or partial config, or refused one. */
const SHRINK_OR_REJECT = ['listener_manager.listener_removed', 'cluster_manager.cluster_removed', 'listener_manager.lds.update_rejected', 'cluster_manager.cds.update_rejected'];

describe('kill -9 and restart of meshcp under load, with real Envoy sidecars', () => {
  let serve: ServeProcess;
  let bed: Testbed;
  const apps: RunningApp[] = [];
  let web: EnvoyProcess;
  let backend: EnvoyProcess;
  let outbound: number;
  printEnvoysOnFailure(() => [bed]);

  beforeAll(async () => {
    const webApp = await startHttpApp('web');
    const backendApp = await startHttpApp('backend');
    apps.push(webApp, backendApp);
    outbound = await freePort();
    bed = Testbed.around('restart', { adminUrl: '', xdsAddress: '' });
    serve = await ServeProcess.create(bed.dir);
    bed.server = serve;
    await serve.start();
    await bed.apply(resources({ webInbound: await freePort(), webApp: webApp.port, backendInbound: await freePort(), backendApp: backendApp.port, outbound }));
    [web, backend] = await Promise.all([bed.readyEnvoy('web'), bed.readyEnvoy('backend')]);
    await waitFor('web reaches backend', async () => ((await httpGet(outbound).catch(() => undefined))?.status === 200 ? true : undefined));
  });

  afterAll(async () => {
    await bed?.stop();
    await serve?.stop();
    await Promise.all(apps.map((a) => a.close()));
  });

  it('keeps every request flowing through kill -9 and restart; Envoy never loses a listener or cluster', async () => {
    // given continuous calls from web to backend over mesh mTLS
    const load = startLoad(async () => {
      const reply = await httpGet(outbound, '/through-restart');
      return reply.status === 200 ? true : `${reply.status} ${reply.body}`;
    });
    const certsBefore = await Promise.all([web, backend].map((e) => e.stat('sds.identity-cert_default.update_success')));

    // when meshcp is killed with SIGKILL
    await serve.kill9();
    await Promise.all([web, backend].map((e) => e.waitStat('control_plane.connected_state', (v) => v === 0)));
    const duringOutage = load.done();
    await waitFor('calls while meshcp is down', () => load.done() > duringOutage + 20);

    // and started again on the same data directory and ports
    await serve.start();

    // then both Envoys reconnect and get new workload certificates from the same builtin CA
    await Promise.all([web, backend].map((e) => e.waitStat('control_plane.connected_state', (v) => v === 1)));
    await web.waitStat('sds.identity-cert_default.update_success', (v) => v > certsBefore[0]!);
    await backend.waitStat('sds.identity-cert_default.update_success', (v) => v > certsBefore[1]!);
    const afterRestart = load.done();
    await waitFor('calls after the restart', () => load.done() > afterRestart + 20);
    const result = await load.stop();

    // and not one call failed
    expect(result.failures).toEqual([]);
    expect(result.failed).toBe(0);
    // and neither Envoy was ever given an empty or partial config, nor refused one
    for (const envoy of [web, backend]) {
      for (const stat of SHRINK_OR_REJECT) expect(await envoy.stat(stat), `${envoy.name} ${stat}`).toBe(0);
    }
    const inspect = await bed.cli(['inspect', 'dataplanes', '-o', 'json']);
    const rows = JSON.parse(inspect.stdout) as Array<{ name: string; status: string }>;
    expect(rows.filter((r) => r.status === 'Online').map((r) => r.name).sort()).toEqual(['backend', 'web']);
  });
});

/**
 * An endpoint whose Dataplane's proxy is offline is reported UNHEALTHY, as Kuma does: when a
 * backend's Envoy stops, the caller's Envoy (real Envoy 1.40) receives that endpoint as unhealthy
 * once the grace period (`serve --offline-grace`) has passed and sends every request to the other
 * backend; when the proxy connects again, the endpoint is healthy again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/echo-service.js';
import { waitFor } from '../helpers/wait.js';
import { httpGet, startHttpApp, type RunningApp } from './apps.js';
import type { EnvoyProcess } from './envoy-process.js';
import { printEnvoysOnFailure, Testbed } from './testbed.js';

describe('offline Dataplanes: their endpoints turn unhealthy on real Envoy', () => {
  let bed: Testbed;
  const apps: Record<string, RunningApp> = {};
  const envoys: Record<string, EnvoyProcess> = {};
  let outbound: number;
  printEnvoysOnFailure(() => [bed]);

  beforeAll(async () => {
    bed = await Testbed.start('liveness', { offlineGrace: '1s' });
    for (const name of ['web', 'backend-1', 'backend-2']) apps[name] = await startHttpApp(name);
    outbound = await freePort();
    const backend = async (name: string): Promise<string> => `type: Dataplane
name: ${name}
networking:
  address: 127.0.0.1
  inbound: [ { port: ${await freePort()}, servicePort: ${apps[name]!.port}, tags: { kuma.io/service: backend, kuma.io/protocol: http } } ]
`;
    await bed.apply(`type: Mesh
name: default
---
type: Dataplane
name: web
networking:
  address: 127.0.0.1
  inbound: [ { port: ${await freePort()}, servicePort: ${apps['web']!.port}, tags: { kuma.io/service: web, kuma.io/protocol: http } } ]
  outbound: [ { port: ${outbound}, tags: { kuma.io/service: backend } } ]
---
${await backend('backend-1')}---
${await backend('backend-2')}`);
    for (const name of ['web', 'backend-1', 'backend-2']) envoys[name] = await bed.readyEnvoy(name);
  });

  afterAll(async () => {
    await bed?.stop();
    await Promise.all(Object.values(apps).map((a) => a.close()));
  });

  const answers = async (count: number): Promise<string[]> => {
    const seen: string[] = [];
    for (let i = 0; i < count; i++) {
      const reply = await httpGet(outbound, '/who');
      seen.push(reply.status === 200 ? reply.json().app : `HTTP ${reply.status}`);
    }
    return seen;
  };

  it('marks a stopped proxy\'s endpoint unhealthy after the grace, and healthy again when it is back', async () => {
    const web = envoys['web']!;
    // given both backends healthy and answering
    await web.waitStat('cluster.backend.membership_healthy', (v) => v === 2);
    await waitFor('both backends to answer', async () => (new Set(await answers(6)).size === 2 ? true : undefined));

    // when backend-2's Envoy stops
    const before = bed.inProcess!.controlPlane.recompute();
    await envoys['backend-2']!.stop();

    // then once the grace has passed, web's Envoy holds backend-2 as unhealthy, and every call goes to backend-1
    await web.waitStat('cluster.backend.membership_healthy', (v) => v === 1);
    expect(await web.stat('cluster.backend.membership_total')).toBe(2);
    const dump = JSON.stringify(await web.configDump('dynamic_active_clusters'));
    expect(dump).toContain('"name":"backend"');
    expect(new Set(await answers(10))).toEqual(new Set(['backend-1']));
    // and that was an endpoint-only change: EDS patched, no proxy config generated again
    const after = bed.inProcess!.controlPlane.recompute();
    expect(after.proxyGenerations).toBe(before.proxyGenerations);
    expect(after.endpointPatches).toBeGreaterThan(before.endpointPatches);

    // when its proxy connects again
    envoys['backend-2'] = await bed.readyEnvoy('backend-2');
    // then its endpoint is healthy again and takes calls
    await web.waitStat('cluster.backend.membership_healthy', (v) => v === 2);
    await waitFor('backend-2 to answer again', async () => ((await answers(6)).includes('backend-2') ? true : undefined));
    expect(await web.stat('cluster_manager.cds.update_rejected')).toBe(0);
  });
});

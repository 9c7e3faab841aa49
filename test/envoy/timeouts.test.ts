/**
 * Mesh timeouts on real Envoy 1.40: a request through two sidecars may run longer than Envoy's
 * default 15 s route timeout (gRPC streams, long polls, slow downloads are not cut, as in Istio),
 * while idle streams and connections still end (Kuma's 30 min and 1 h idle timeouts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/echo-service.js';
import { waitFor } from '../helpers/wait.js';
import { httpGet, startHttpApp, type RunningApp } from './apps.js';
import type { EnvoyProcess } from './envoy-process.js';
import { printEnvoysOnFailure, Testbed } from './testbed.js';

describe('mesh timeouts on real Envoy', () => {
  let bed: Testbed;
  const apps: RunningApp[] = [];
  let web: EnvoyProcess;
  let outbound: number;
  printEnvoysOnFailure(() => [bed]);

  beforeAll(async () => {
    bed = await Testbed.start('timeouts');
    const webApp = await startHttpApp('web');
    const backendApp = await startHttpApp('backend');
    apps.push(webApp, backendApp);
    outbound = await freePort();
    await bed.apply(`type: Mesh
name: default
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
`);
    [web] = await Promise.all([bed.readyEnvoy('web'), bed.readyEnvoy('backend')]);
    await waitFor('web reaches backend', async () => ((await httpGet(outbound).catch(() => undefined))?.status === 200 ? true : undefined));
  });

  afterAll(async () => {
    await bed?.stop();
    await Promise.all(apps.map((a) => a.close()));
  });

  it('lets a request take longer than 15 s through both sidecars', async () => {
    // when the backend takes 16 s to answer
    const reply = await httpGet(outbound, '/slow/16000', { timeoutMs: 60_000 });
    // then the answer arrives: neither sidecar cut it
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ app: 'backend' });
    expect(await web.stat('cluster.backend.upstream_rq_timeout')).toBe(0);
  }, 90_000);

  it('keeps idle timeouts on the connection managers', async () => {
    const dump = JSON.stringify(await web.configDump('dynamic_listeners'));
    expect(dump).toContain('"stream_idle_timeout":"1800s"');
    expect(dump).toContain('"idle_timeout":"3600s"');
  });
});

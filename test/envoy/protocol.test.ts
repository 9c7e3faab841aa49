/**
 * The xDS protocol on real Envoy 1.40, SotW and Delta: make-before-break when a route moves to
 * another cluster under load (no 503 window), and a config Envoy refuses (a listener on a port
 * another process holds) shown on the user's resource, with Envoy keeping its last good config
 * and meshcp not resending it.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/echo-service.js';
import { waitFor } from '../helpers/wait.js';
import { httpGet, startHttpApp, startLoad, type RunningApp } from './apps.js';
import type { EnvoyProcess } from './envoy-process.js';
import { printEnvoysOnFailure, Testbed } from './testbed.js';

interface Ports {
  readonly webInbound: number;
  readonly outbound: number;
  readonly backendInbound: number;
  readonly backend2Inbound: number;
  readonly extraInbound: number;
}

const dataplanes = (p: Ports, apps: Record<string, RunningApp>, callee: string, extraInbound?: number): string => `type: Mesh
name: default
---
type: Dataplane
name: web
networking:
  address: 127.0.0.1
  inbound:
  - { port: ${p.webInbound}, servicePort: ${apps['web']!.port}, tags: { kuma.io/service: web, kuma.io/protocol: http } }
${extraInbound !== undefined ? `  - { port: ${extraInbound}, servicePort: ${apps['web']!.port}, tags: { kuma.io/service: web-admin, kuma.io/protocol: http } }\n` : ''}  outbound:
  - { port: ${p.outbound}, tags: { kuma.io/service: ${callee} } }
---
type: Dataplane
name: backend
networking:
  address: 127.0.0.1
  inbound:
  - { port: ${p.backendInbound}, servicePort: ${apps['backend']!.port}, tags: { kuma.io/service: backend, kuma.io/protocol: http } }
---
type: Dataplane
name: backend2
networking:
  address: 127.0.0.1
  inbound:
  - { port: ${p.backend2Inbound}, servicePort: ${apps['backend2']!.port}, tags: { kuma.io/service: backend2, kuma.io/protocol: http } }
`;

async function metric(bed: Testbed, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${bed.server.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

for (const mode of ['sotw', 'delta'] as const) {
  describe(`xDS protocol on real Envoy (${mode})`, () => {
    let bed: Testbed;
    let ports: Ports;
    const apps: Record<string, RunningApp> = {};
    const envoys: Record<string, EnvoyProcess> = {};
    printEnvoysOnFailure(() => [bed]);

    beforeAll(async () => {
      bed = await Testbed.start(`protocol-${mode}`);
      for (const name of ['web', 'backend', 'backend2']) apps[name] = await startHttpApp(name);
      ports = { webInbound: await freePort(), outbound: await freePort(), backendInbound: await freePort(), backend2Inbound: await freePort(), extraInbound: await freePort() };
      await bed.apply(dataplanes(ports, apps, 'backend'));
      for (const name of ['web', 'backend', 'backend2']) envoys[name] = await bed.readyEnvoy(name, { delta: mode === 'delta' });
    });

    afterAll(async () => {
      await bed?.stop();
      await Promise.all(Object.values(apps).map((a) => a.close()));
    });

    it('moves a route to another cluster under load without a single failed request (make-before-break)', async () => {
      // given continuous calls from web to its outbound, answered by backend
      expect((await httpGet(ports.outbound)).json().app).toBe('backend');
      const seen = new Set<string>();
      const load = startLoad(async () => {
        const reply = await httpGet(ports.outbound, '/mbb');
        if (reply.status !== 200) return `${reply.status} ${reply.body}`;
        seen.add(reply.json().app);
        return true;
      });
      const web = envoys['web']!;
      const cdsBefore = await web.stat('cluster_manager.cds.update_success');

      // when web's outbound switches from backend to backend2 (new cluster, new route, old cluster dropped)
      await bed.apply(dataplanes(ports, apps, 'backend2'));
      await web.waitStat('cluster_manager.cds.update_success', (v) => v > cdsBefore);
      await waitFor('calls to reach backend2', () => seen.has('backend2'));
      // and the old cluster is gone from Envoy once nothing names it
      await waitFor('backend cluster removed', async () => {
        const dump = JSON.stringify(await web.configDump('dynamic_active_clusters'));
        return !dump.includes('"name":"backend"') ? true : undefined;
      });
      const completed = load.done();
      await waitFor('a few more calls after the switch', () => load.done() > completed + 20);
      const result = await load.stop();

      // then no call failed, and both backends answered
      expect(result.failures).toEqual([]);
      expect(result.failed).toBe(0);
      expect(result.ok).toBeGreaterThan(20);
      expect([...seen].sort()).toEqual(['backend', 'backend2']);
      expect(await web.stat('cluster_manager.cds.update_rejected')).toBe(0);
      expect(await web.stat('listener_manager.lds.update_rejected')).toBe(0);
    });

    it('shows a config Envoy refuses on the user\'s resource; Envoy keeps its last good config and meshcp does not resend it', async () => {
      // given a port another process on the host holds
      const squatter = net.createServer();
      await new Promise<void>((resolve) => squatter.listen(ports.extraInbound, '127.0.0.1', () => resolve()));
      const web = envoys['web']!;
      try {
        const rejectedBefore = await web.stat('listener_manager.lds.update_rejected');
        // when the user gives web an inbound on that port: valid for meshcp, impossible for Envoy
        await bed.apply(dataplanes(ports, apps, 'backend2', ports.extraInbound));
        await web.waitStat('listener_manager.lds.update_rejected', (v) => v === rejectedBefore + 1);

        // then `meshcp get dataplanes` shows Envoy's refusal on the Dataplane, with Envoy's reason
        const shown = await waitFor('the NACK on Dataplane/web', async () => {
          const run = await bed.cli(['get', 'dataplanes']);
          return run.stdout.includes('NACK: Dataplane/web') ? run.stdout : undefined;
        });
        expect(shown).toMatch(/NACK: Dataplane\/web: proxy web \(mesh default\) refused its LDS: .*(cannot bind|Address already in use)/);
        // and Envoy still serves its last good listeners
        expect((await httpGet(ports.outbound)).json().app).toBe('backend2');
        expect((await httpGet(ports.webInbound)).json().app).toBe('web');
        // and meshcp does not send the refused config again (no NACK loop): through a later round
        // trip on the same stream (an endpoint change, EDS only), no LDS is pushed
        const pushes = await metric(bed, 'meshcp_xds_pushes_total', 'type="LDS"');
        const edsBefore = await web.stat('cluster.backend2.update_success');
        await bed.apply(`type: Service\nname: backend2\nendpoints:\n- { address: 127.0.0.1, port: ${apps['backend2']!.port} }\n`);
        await web.waitStat('cluster.backend2.membership_total', (v) => v === 2);
        expect(await web.stat('cluster.backend2.update_success')).toBeGreaterThan(edsBefore);
        expect(await metric(bed, 'meshcp_xds_pushes_total', 'type="LDS"')).toBe(pushes);
        expect(await web.stat('listener_manager.lds.update_rejected')).toBe(rejectedBefore + 1);
        expect((await bed.cli(['delete', 'service', 'backend2'])).code).toBe(0);

        // when the user fixes it, the next config is accepted and the NACK goes away
        const successBefore = await web.stat('listener_manager.lds.update_success');
        await bed.apply(dataplanes(ports, apps, 'backend2'));
        await web.waitStat('listener_manager.lds.update_success', (v) => v > successBefore);
        await waitFor('the NACK to clear', async () => (!(await bed.cli(['get', 'dataplanes'])).stdout.includes('NACK:') ? true : undefined));
      } finally {
        await new Promise<void>((resolve) => squatter.close(() => resolve()));
      }
    });
  });
}

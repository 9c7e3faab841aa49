/**
 * The web GUI with a real Envoy 1.40 sidecar (bootstrapped by `meshcp bootstrap envoy`): the proxy
 * appears Online live when its Envoy connects, and when Envoy itself refuses a listener (a port
 * another process holds), the GUI shows Envoy's own words pinned on the Dataplane behind it.
 */
import net from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/echo-service.js';
import type { EnvoyProcess } from '../envoy/envoy-process.js';
import { printEnvoysOnFailure, Testbed } from '../envoy/testbed.js';
import { axeViolations, launchChromium, screenshot } from './harness.js';

const DEADLINE = { timeout: 30_000 };

const web = (inbound: number, extra?: number): string => `type: Mesh
name: default
---
type: Dataplane
name: web
networking:
  address: 127.0.0.1
  inbound:
  - { port: ${inbound}, servicePort: ${inbound + 1}, tags: { kuma.io/service: web, kuma.io/protocol: http } }
${extra !== undefined ? `  - { port: ${extra}, servicePort: ${extra + 1}, tags: { kuma.io/service: web-admin, kuma.io/protocol: http } }\n` : ''}`;

describe('web GUI with a real Envoy', () => {
  let bed: Testbed;
  let browser: Browser;
  let page: Page;
  let envoy: EnvoyProcess;
  let inbound: number;
  printEnvoysOnFailure(() => [bed]);

  beforeAll(async () => {
    [bed, browser] = await Promise.all([Testbed.start('gui'), launchChromium()]);
    inbound = await freePort();
    await bed.apply(web(inbound));
    page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await bed?.stop();
  });

  it('shows the Envoy proxy coming online, live', async () => {
    // given the dataplanes page with web offline
    await page.goto(`${bed.server.adminUrl}/gui/#/dataplanes?mesh=default`);
    await page.locator('tr[data-proxy="default/web"][data-status="Offline"]').waitFor(DEADLINE);
    // when web's Envoy starts
    envoy = await bed.readyEnvoy('web');
    // then the row turns Online without a reload
    await page.locator('tr[data-proxy="default/web"][data-status="Online"]').waitFor(DEADLINE);
    expect(await axeViolations(page)).toEqual([]);
  });

  it('pins a listener Envoy refused on the Dataplane, with Envoy\'s reason', async () => {
    // given a port another process holds, given to web as a second inbound
    const squatter = net.createServer();
    const taken = await freePort();
    await new Promise<void>((resolve) => squatter.listen(taken, '127.0.0.1', () => resolve()));
    try {
      const rejected = await envoy.stat('listener_manager.lds.update_rejected');
      await bed.apply(web(inbound, taken));
      await envoy.waitStat('listener_manager.lds.update_rejected', (v) => v > rejected);
      // when the user opens web's page
      await page.goto(`${bed.server.adminUrl}/gui/#/dataplanes/default/web`);
      // then LDS shows NACKED, and Envoy's error is pinned on Dataplane/web
      await page.locator('tr[data-type="LDS"][data-state="NACKED"]').waitFor(DEADLINE);
      const pinned = page.locator('[data-testid="nacks"] li[data-resource="Dataplane/web"]');
      await pinned.waitFor(DEADLINE);
      expect(await pinned.textContent()).toMatch(/cannot bind|Address already in use/);
      expect(await axeViolations(page)).toEqual([]);
      await screenshot(page, 'dataplane-envoy-nack');
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });
});

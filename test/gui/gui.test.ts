/**
 * The web GUI in a real browser (Debian's Chromium through playwright-core) against a real
 * `meshcp serve` with raw ADS proxies: the overview, a proxy appearing live, a NACK shown on the
 * resource that caused it, a deleted TrafficPermission turning a graph edge to denied, cert check
 * with an admitted and a refused certificate, a rotation in the certificate panel, 1,000
 * dataplanes, and the admin API's mTLS and empty and error states. One browser serves every
 * scenario; every page passes axe-core; every request the GUI makes is a read to its own origin.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LISTENER_TYPE } from '../../src/snapshot/types.js';
import { axeViolations, launchChromium, screenshot, startGuiServer, type GuiServer } from './harness.js';
import { guiPki, largeMesh, PERMISSIONS, smallMesh, type GuiPki } from './fixtures.js';

const DEADLINE = { timeout: 30_000 };

describe('web GUI in Chromium', () => {
  let browser: Browser;
  let pki: GuiPki;
  let mesh: GuiServer;
  let context: BrowserContext;
  let page: Page;
  const requests: Request[] = [];
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    pki = await guiPki();
    [browser, mesh] = await Promise.all([launchChromium(), startGuiServer(smallMesh(pki))]);
    const applied = await mesh.api('POST', '/api/apply', PERMISSIONS);
    expect(applied.status).toBe(200);
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    page.on('request', (r) => requests.push(r));
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await mesh?.close();
  });

  async function expectAccessible(): Promise<void> {
    const violations = await axeViolations(page);
    expect(violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
  }

  it('opens the overview: mTLS mode, CA backend and phase, proxies, NACKs, the certificate expiring first', async () => {
    // given: the control plane with two meshes and no proxy connected
    // when
    await page.goto(`${mesh.url}/gui/`);
    // then
    const card = page.locator('[data-mesh="default"]');
    await card.waitFor(DEADLINE);
    await expect.poll(() => card.locator('[data-testid="ca-phase"]').textContent(), DEADLINE).toContain('ready');
    expect(await card.locator('dd').first().textContent()).toContain('STRICT');
    expect(await card.locator('[data-testid="ca-backend"]').textContent()).toContain('ca-1');
    expect(await card.locator('[data-testid="proxies"]').textContent()).toContain('0 online');
    expect(await card.locator('[data-testid="nacks"]').textContent()).toContain('none');
    // The builtin CA and the client CA Secret expire in a year and in 365 days; nothing else is issued yet.
    await expect.poll(() => card.locator('[data-testid="soonest-expiry"]').textContent(), DEADLINE).toMatch(/mesh CA|secret/);
    await page.locator('[data-live-state="live"]').waitFor(DEADLINE);
    await expectAccessible();
    await screenshot(page, 'overview');
  });

  it('shows a proxy connecting, live, without a reload', async () => {
    // given: the dataplanes page, web-01 offline
    await page.goto(`${mesh.url}/gui/#/dataplanes?mesh=default`);
    const row = page.locator('tr[data-proxy="default/web-01"]');
    await row.waitFor(DEADLINE);
    expect(await row.getAttribute('data-status')).toBe('Offline');
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    // when: web-01 opens its ADS stream
    mesh.proxy('web-01', 'default', { secrets: ['identity-cert:default', 'mesh-ca:default'] });
    // then
    await page.locator('tr[data-proxy="default/web-01"][data-status="Online"]').waitFor(DEADLINE);
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    await expectAccessible();
    await screenshot(page, 'dataplanes');
  });

  it('pins a NACK on the route that caused it, in the proxy page and the gateways page', async () => {
    // given: the edge gateway refuses every listener it is sent
    const error = 'Error adding/updating listener(s) gateway:8443: refused by the GUI test';
    mesh.proxy('edge', 'default', { onResponse: (r, e) => (r.typeUrl === LISTENER_TYPE ? e.nack(r, error) : e.ack(r)) });
    // when
    await page.goto(`${mesh.url}/gui/#/dataplanes/default/edge`);
    // then: LDS is NACKED with the error, on Route/shop (the user resource behind the listener)
    const lds = page.locator('tr[data-type="LDS"][data-state="NACKED"]');
    await lds.waitFor(DEADLINE);
    const pinned = page.locator('[data-testid="nacks"] li[data-resource="Route/shop"]');
    await pinned.waitFor(DEADLINE);
    expect(await pinned.textContent()).toContain(error);
    await expectAccessible();
    await screenshot(page, 'dataplane-nack');
    // and the gateways page shows it on the route row
    await page.goto(`${mesh.url}/gui/#/gateways`);
    const route = page.locator('tr[data-route="shop"]');
    await route.waitFor(DEADLINE);
    await expect.poll(() => route.textContent(), DEADLINE).toContain(error);
    expect(await route.textContent()).toContain('Secret client-ca');
    expect(await route.textContent()).toContain('exact: client.acme.org');
    // a custom server certificate whose names miss the host is flagged, as `apply` warns
    expect(await page.locator('tr[data-route="admin"]').textContent()).toContain('SAN mismatch');
    await expectAccessible();
    await screenshot(page, 'gateways');
  });

  it('turns a graph edge to denied when its TrafficPermission is deleted', async () => {
    // given
    await page.goto(`${mesh.url}/gui/#/services?mesh=default`);
    const edge = page.locator('svg g[data-from="web"][data-to="backend"]');
    await edge.waitFor(DEADLINE);
    expect(await edge.getAttribute('data-access')).toBe('allowed');
    await expectAccessible();
    await screenshot(page, 'services');
    // and a node is reachable by keyboard: Tab to it, Enter selects it
    await page.locator('svg g[data-node="web"]').focus();
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-node'))).toBe('web');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('[data-testid="edge-table"] caption').textContent(), DEADLINE).toContain('to and from web');
    expect(await page.locator('svg g[data-node="web"]').getAttribute('aria-pressed')).toBe('true');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('[data-testid="edge-table"] caption').textContent(), DEADLINE).not.toContain('to and from');
    // when
    const deleted = await mesh.api('DELETE', '/api/trafficpermissions/web-to-backend?mesh=default');
    expect(deleted.status).toBe(200);
    // then: the same edge, live, and its row in the table
    await page.locator('svg g[data-from="web"][data-to="backend"][data-access="denied"]').waitFor(DEADLINE);
    expect(await page.locator('[data-testid="edge-table"] tr[data-from="web"][data-to="backend"]').getAttribute('data-access')).toBe('denied');
    expect(await page.locator('svg g[data-from="backend"][data-to="db"]').getAttribute('data-access')).toBe('allowed');
    await screenshot(page, 'services-denied');
  });

  it('answers "which routes admit this certificate?" for an admitted and a refused certificate, storing nothing', async () => {
    // given
    await page.goto(`${mesh.url}/gui/#/cert-check`);
    // when: pasted
    await page.getByLabel('Client certificate (PEM)').fill(pki.admittedPem);
    await page.getByRole('button', { name: 'Check' }).click();
    // then
    const admitted = page.locator('[data-testid="cert-check-result"] tr[data-route="shop"]');
    await admitted.waitFor(DEADLINE);
    expect(await admitted.getAttribute('data-admitted')).toBe('true');
    expect(await admitted.textContent()).toMatch(/client\.acme\.org/);
    await expectAccessible();
    await screenshot(page, 'cert-check');
    // when: a file from another CA, dropped on the text box
    const dropped = await page.evaluateHandle((pem) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([pem], 'stranger.pem', { type: 'application/x-pem-file' }));
      return transfer;
    }, pki.strangerPem);
    await page.dispatchEvent('#pem', 'drop', { dataTransfer: dropped });
    await expect.poll(() => page.getByLabel('Client certificate (PEM)').inputValue()).toBe(pki.strangerPem);
    await page.getByRole('button', { name: 'Check' }).click();
    // then
    const refused = page.locator('[data-testid="cert-check-result"] tr[data-route="shop"][data-admitted="false"]');
    await refused.waitFor(DEADLINE);
    expect(await refused.textContent()).toMatch(/CA|chain/i);
    // and nothing kept it: no browser storage, no URL, no server log line
    expect(await page.evaluate(() => window.localStorage.length + window.sessionStorage.length)).toBe(0);
    const body = pki.strangerPem.split('\n')[1]!;
    expect(requests.some((r) => r.url().includes(body.slice(0, 20)))).toBe(false);
    expect(mesh.logText()).not.toContain(body);
  });

  it('updates the certificate panel when the workload certificate rotates', async () => {
    // given: rot-01's certificates live 4 s (rotated at 4/5 of that)
    mesh.proxy('rot-01', 'rotating', { secrets: ['identity-cert:rotating', 'mesh-ca:rotating'] });
    await page.goto(`${mesh.url}/gui/#/dataplanes/rotating/rot-01`);
    const serial = page.locator('[data-testid="serial"]');
    await serial.waitFor(DEADLINE);
    const first = await serial.getAttribute('data-serial');
    const firstCount = Number(await page.locator('[data-testid="regenerations"]').textContent());
    expect(first).toMatch(/^[0-9a-f]+$/);
    // when: the rotation timer fires
    // then: the panel shows the new certificate without a reload
    await expect.poll(async () => (await serial.getAttribute('data-serial')) !== first, DEADLINE).toBe(true);
    expect(Number(await page.locator('[data-testid="regenerations"]').textContent())).toBeGreaterThan(firstCount);
    expect(await page.locator('[data-testid="certificate"]').textContent()).toContain('spiffe://rotating/rot');
    await expectAccessible();
    await screenshot(page, 'dataplane-certificate');
  });

  it('lists secrets with fingerprints and usage, never a key', async () => {
    await page.goto(`${mesh.url}/gui/#/secrets?mesh=default`);
    const row = page.locator('tr[data-secret="client-ca"]');
    await row.waitFor(DEADLINE);
    expect(await row.textContent()).toContain('Route/shop (client CA)');
    expect(await row.textContent()).toContain('CN=Acme Client CA');
    expect(await page.content()).not.toMatch(/PRIVATE KEY/);
    await expectAccessible();
    await screenshot(page, 'secrets');
  });

  it('shows the live mesh on the overview: proxies online, the NACK, the event log', async () => {
    // A fragment change: the page (and its event log) stays loaded.
    await page.goto(`${mesh.url}/gui/#/`);
    const card = page.locator('[data-mesh="default"]');
    await expect.poll(() => card.locator('[data-testid="proxies"]').textContent(), DEADLINE).toContain('2 online');
    expect(await card.locator('[data-testid="nacks"]').textContent()).toContain('1 refused (1 proxy)');
    expect(await page.locator('.event-log').textContent()).toMatch(/edge \(default\) refused LDS/);
    await expectAccessible();
    await screenshot(page, 'overview-live');
  });

  it('made only reads, all to its own origin, and broke no Content-Security-Policy rule', () => {
    const origin = new URL(mesh.url).origin;
    const foreign = requests.filter((r) => new URL(r.url()).origin !== origin).map((r) => r.url());
    expect(foreign).toEqual([]);
    const writes = requests.filter((r) => r.method() !== 'GET').map((r) => `${r.method()} ${new URL(r.url()).pathname}`);
    expect(new Set(writes)).toEqual(new Set(['POST /api/cert-check']));
    expect(consoleErrors.filter((e) => /Content Security Policy|Refused to/.test(e))).toEqual([]);
  });

  it('stays usable at 1,000 dataplanes and 100 services', async () => {
    // given
    const large = await startGuiServer(largeMesh(1000, 100));
    try {
      // when
      await page.goto(`${large.url}/gui/#/dataplanes`);
      // then: paged, filterable
      const count = page.locator('[data-testid="dataplane-count"]');
      await expect.poll(() => count.textContent(), DEADLINE).toContain('1000 of 1000 proxies, page 1 of 10');
      expect(await page.locator('tbody tr[data-proxy]').count()).toBe(100);
      await page.getByLabel('Service').selectOption('svc-7');
      await expect.poll(() => count.textContent(), DEADLINE).toContain('10 of 1000 proxies');
      await page.getByLabel('Tag contains').fill('version=v2');
      await expect.poll(() => page.locator('tbody tr[data-proxy]').count(), DEADLINE).toBeLessThan(10);
      await expectAccessible();
      // and the graph lays out 100 services
      await page.goto(`${large.url}/gui/#/services`);
      await expect.poll(() => page.locator('svg g[data-node]').count(), DEADLINE).toBe(100);
      await page.locator('#g-focus').selectOption('svc-10');
      await page.getByLabel('Only its neighbours').check();
      await expect.poll(() => page.locator('svg g[data-node]').count(), DEADLINE).toBeLessThan(10);
      await screenshot(page, 'services-100');
    } finally {
      await large.close();
    }
  });

  it('behind admin mTLS: serves the GUI only to a client certificate, says so, and shows the empty and unreachable states', { timeout: 120_000 }, async () => {
    // given: no mesh yet, the admin API over HTTPS requiring a client certificate
    const files = path.join(mesh.dir, 'admin-tls');
    fs.mkdirSync(files);
    const write = (name: string, text: string): string => {
      fs.writeFileSync(path.join(files, name), text);
      return path.join(files, name);
    };
    const secure = await startGuiServer('', {
      adminTlsCert: write('server.pem', pki.adminServerPem),
      adminTlsKey: write('server.key', pki.adminServerKeyPem),
      adminClientCa: write('ca.pem', pki.adminCaPem),
    });
    const origin = new URL(secure.url).origin;
    const withCert = await browser.newContext({ ignoreHTTPSErrors: true, clientCertificates: [{ origin, cert: Buffer.from(pki.adminClientPem), key: Buffer.from(pki.adminClientKeyPem) }] });
    const without = await browser.newContext({ ignoreHTTPSErrors: true });
    try {
      // when: without a client certificate
      const refused = await without
        .newPage()
        .then((p) => p.goto(`${secure.url}/gui/`, { timeout: 20_000 }))
        .then(
          () => 'loaded',
          (err: Error) => err.message,
        );
      // then: the TLS handshake fails, as for every admin path
      expect(refused).not.toBe('loaded');
      // when: with one
      const mtlsPage = await withCert.newPage();
      await mtlsPage.goto(`${secure.url}/gui/`);
      // then
      await mtlsPage.getByRole('heading', { name: 'No meshes yet' }).waitFor(DEADLINE);
      expect(await mtlsPage.locator('main').textContent()).toContain('mTLS required (you: CN=ops@acme.org)');
      expect(await axeViolations(mtlsPage)).toEqual([]);
      await screenshot(mtlsPage, 'empty');
      // when: the control plane goes away
      await secure.close();
      // then: the page says it is unreachable, and that this admin API wants a client certificate
      await mtlsPage.getByText('The control plane is unreachable').first().waitFor(DEADLINE);
      expect(await mtlsPage.locator('main').textContent()).toContain('requires a client certificate');
      await screenshot(mtlsPage, 'unreachable');
    } finally {
      await withCert.close();
      await without.close();
      await secure.close();
    }
  });
});

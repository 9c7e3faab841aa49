/**
 * The admin API side of the web GUI, without a browser: the GUI's files and headers (strict
 * Content-Security-Policy, no framing, nothing inline), the Host check and mTLS applying to it
 * unchanged, its views being reads that never show a key, cert check passing the write checks
 * as a same-origin JSON request (no exemption) and storing nothing, and the bundle budget.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GUI_MANIFEST } from '../../src/admin/gui-assets.js';
import { waitFor } from '../helpers/wait.js';
import { rawRequest, snapshotDir } from '../security/admin-server.js';
import { guiPki, PERMISSIONS, smallMesh, type GuiPki } from './fixtures.js';
import { GUI_DIR, startGuiServer, type GuiServer } from './harness.js';

describe('the admin API serving the web GUI', () => {
  let pki: GuiPki;
  let mesh: GuiServer;
  let port: number;

  beforeAll(async () => {
    pki = await guiPki();
    mesh = await startGuiServer(smallMesh(pki));
    port = Number(new URL(mesh.url).port);
    expect((await mesh.api('POST', '/api/apply', PERMISSIONS)).status).toBe(200);
    // Builtin CAs are generated (and stored) in the background: wait, so the store holds still.
    await waitFor('both mesh CAs ready', async () => {
      const meshes = (await (await fetch(`${mesh.url}/api/inspect/meshes`)).json()) as { items: { ca: { phase: string } }[] };
      return meshes.items.length === 2 && meshes.items.every((m) => m.ca.phase === 'ready');
    });
  }, 60_000);

  afterAll(async () => {
    await mesh?.close();
  });

  it('serves the built page and assets with a strict CSP, no framing, and nothing inline', async () => {
    // given
    const manifest = JSON.parse(fs.readFileSync(path.join(GUI_DIR, GUI_MANIFEST), 'utf8')) as { files: Record<string, unknown> };
    // when
    const page = await fetch(`${mesh.url}/gui/`);
    const html = await page.text();
    // then
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|data:/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    // Every script is a file of this origin; no inline script, handler or style attribute.
    for (const tag of html.match(/<script\b[^>]*>/g) ?? []) expect(tag).toMatch(/src="\/gui\/assets\/[^"]+\.js"/);
    expect(html).not.toMatch(/<script\b[^>]*>[^<\s]/);
    expect(html).not.toMatch(/\son[a-z]+=|\sstyle=|<style/i);
    for (const name of Object.keys(manifest.files)) {
      const res = await fetch(`${mesh.url}/gui/${name}`);
      expect(res.status, name).toBe(200);
      expect(res.headers.get('content-security-policy'), name).toBe(csp);
    }
  });

  it('serves nothing but the manifest files, and only to reads', async () => {
    expect((await rawRequest(port, { method: 'GET', path: '/gui' })).status).toBe(308);
    expect((await rawRequest(port, { method: 'GET', path: '/gui/../package.json' })).status).toBe(404);
    expect((await rawRequest(port, { method: 'GET', path: '/gui/%2e%2e/%2e%2e/package.json' })).status).toBe(404);
    expect((await rawRequest(port, { method: 'GET', path: '/gui/meshcp-gui.json' })).status).toBe(404);
    expect((await rawRequest(port, { method: 'POST', path: '/gui/', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(405);
    for (const view of ['meshes', 'services', 'gateways', 'secrets']) {
      expect((await rawRequest(port, { method: 'DELETE', path: `/api/inspect/${view}` })).status, view).toBe(405);
    }
  });

  it('keeps the Host check on the GUI, its views and its event stream (DNS rebinding)', async () => {
    for (const p of ['/gui/', '/api/events', '/api/inspect/meshes', '/api/inspect/services']) {
      const reply = await rawRequest(port, { method: 'GET', path: p, headers: { host: `rebind.example:${port}` } });
      expect(reply.status, p).toBe(421);
    }
  });

  it('lets the GUI check a certificate as a same-origin JSON read, refuses a foreign page, and stores nothing', async () => {
    // given
    const origin = new URL(mesh.url).origin;
    const before = snapshotDir(path.join(mesh.dir, 'data'));
    const body = JSON.stringify({ cert: pki.admittedPem });
    // when: the request the GUI's page makes
    const fromGui = await rawRequest(port, { method: 'POST', path: '/api/cert-check', headers: { origin, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' }, body });
    // and: the same from another site
    const fromElsewhere = await rawRequest(port, { method: 'POST', path: '/api/cert-check', headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' }, body });
    const simple = await rawRequest(port, { method: 'POST', path: '/api/cert-check', headers: { 'content-type': 'text/plain' }, body });
    // then
    expect(fromGui.status).toBe(200);
    expect((fromGui.json['items'] as { route: string; admitted: boolean }[]).find((i) => i.route === 'shop')?.admitted).toBe(true);
    expect(fromElsewhere.status).toBe(403);
    expect(simple.status).toBe(415);
    expect(snapshotDir(path.join(mesh.dir, 'data'))).toEqual(before);
    expect(mesh.logText()).not.toContain(pki.admittedPem.split('\n')[1]);
  });

  it('never shows key material in its views', async () => {
    // given: a tls Secret with its key, builtin CA keys in the store
    const keyLine = pki.wrongHostKeyPem.split('\n')[1]!;
    for (const view of ['meshes', 'services', 'gateways', 'secrets']) {
      // when
      const text = await (await fetch(`${mesh.url}/api/inspect/${view}`)).text();
      // then
      expect(text, view).not.toContain(keyLine);
      expect(text, view).not.toMatch(/PRIVATE KEY/);
    }
    const secrets = (await (await fetch(`${mesh.url}/api/inspect/secrets?mesh=default`)).json()) as { items: { resource: { name: string }; usedBy: unknown[] }[] };
    expect(secrets.items.find((s) => s.resource.name === 'admin-cert')?.usedBy).toEqual([{ resource: 'Route/admin', as: 'server certificate' }]);
  });

  it('computes the graph from the RBAC the proxies get: a deleted permission denies, others stay', async () => {
    type Graph = { mesh: string; mtls: string; edges: { from: string; to: string; access: string; permissions: string[]; transport: string; declared: boolean }[] };
    const read = async (): Promise<Graph> => ((await (await fetch(`${mesh.url}/api/inspect/services?mesh=default`)).json()) as { items: Graph[] }).items[0]!;
    const before = await read();
    expect(before.mtls).toBe('STRICT');
    expect(before.edges.find((e) => e.from === 'web' && e.to === 'backend')).toEqual({ from: 'web', to: 'backend', declared: true, access: 'allowed', permissions: ['web-to-backend'], transport: 'mTLS' });
    expect(before.edges.find((e) => e.from === 'edge' && e.to === 'web')?.access).toBe('allowed');
    // when
    expect((await mesh.api('DELETE', '/api/trafficpermissions/web-to-cache?mesh=default')).status).toBe(200);
    // then
    const after = await read();
    expect(after.edges.find((e) => e.from === 'web' && e.to === 'cache')).toMatchObject({ access: 'denied', permissions: [] });
    expect(after.edges.find((e) => e.from === 'web' && e.to === 'backend')?.access).toBe('allowed');
    const permissions = (await (await fetch(`${mesh.url}/api/inspect/dataplanes/cache-01/permissions?mesh=default`)).json()) as { inbounds: { permissions: unknown[] }[] };
    expect(permissions.inbounds[0]?.permissions).toEqual([]);
  });

  it('ships the GUI within its budget of 200 KB gzipped, graph library included', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(GUI_DIR, GUI_MANIFEST), 'utf8')) as { files: Record<string, { gzipBytes: number }>; totalGzipBytes: number };
    const measured = Object.values(manifest.files).reduce((n, f) => n + f.gzipBytes, 0);
    expect(measured).toBe(manifest.totalGzipBytes);
    expect(measured).toBeLessThanOrEqual(200 * 1024);
    // dagre is in the bundle (the budget is not met by leaving the graph out)
    const js = Object.keys(manifest.files).filter((f) => f.endsWith('.js')).map((f) => fs.readFileSync(path.join(GUI_DIR, f), 'utf8')).join('');
    expect(js).toMatch(/rankdir/);
  });
});

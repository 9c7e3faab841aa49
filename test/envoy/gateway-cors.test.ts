/**
 * A route's CORS policy on real Envoy 1.40, set as an akka user sets it: `route create
 * --cors-origin/--cors-method`, and a descriptor with `corsPolicy` and named rules through `route
 * apply -f`. A preflight from an allowed origin is answered by Envoy with
 * access-control-allow-origin and the methods; one from another origin gets no CORS header.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/echo-service.js';
import { httpsGet, startHttpApp, type RunningApp, type TlsReply } from './apps.js';
import type { EnvoyProcess } from './envoy-process.js';
import { printEnvoysOnFailure, Testbed } from './testbed.js';

describe('route CORS policy on real Envoy', () => {
  let bed: Testbed;
  let port: number;
  let app: RunningApp;
  let meshCa: string;
  let edge: EnvoyProcess;
  printEnvoysOnFailure(() => [bed]);

  beforeAll(async () => {
    bed = await Testbed.start('cors');
    port = await freePort();
    app = await startHttpApp('app');
    await bed.apply(
      [
        'type: Mesh\nname: default\n',
        `type: Gateway\nname: edge\nlisteners:\n- port: ${port}\n`,
        `type: Service\nname: app\nendpoints:\n- { address: 127.0.0.1, port: ${app.port} }\n`,
      ].join('---\n'),
    );
    // the akka CLI's flags
    const created = await bed.cli(['route', 'create', 'web', '--hostname', 'web.acme.org', '--path', '/=app', '--cors-origin', 'https://app.acme.org', '--cors-method', 'PUT', '--cors-method', 'DELETE']);
    expect(created.code, created.stderr).toBe(0);
    // a descriptor with a named rule and a wildcard origin, created by route apply
    const descriptor = path.join(bed.dir, 'partners.yaml');
    fs.writeFileSync(descriptor, 'name: partners\nhost: partners.acme.org\ncorsPolicy:\n  allowedOrigins: [ "https://*.partner.org" ]\nroutes:\n- name: everything\n  prefix: /\n  route: { service: app }\n');
    const applied = await bed.cli(['route', 'apply', '-f', descriptor]);
    expect(applied.code, applied.stderr).toBe(0);
    meshCa = (await bed.cli(['get', 'mesh', 'default', '-o', 'pem'])).stdout;
    edge = await bed.readyEnvoy('edge');
  });

  afterAll(async () => {
    await bed?.stop();
    await app?.close();
  });

  const preflight = (host: string, origin: string, method = 'PUT'): Promise<TlsReply> =>
    httpsGet(port, { host, ca: meshCa, method: 'OPTIONS', headers: { origin, 'access-control-request-method': method } });

  it('answers a preflight from an allowed origin with access-control-allow-origin and the allowed methods, without asking the app', async () => {
    // given
    const servedBefore = app.served();
    // when
    const reply = await preflight('web.acme.org', 'https://app.acme.org');
    // then
    expect(reply.status).toBe(200);
    expect(reply.headers['access-control-allow-origin']).toBe('https://app.acme.org');
    expect(reply.headers['access-control-allow-methods']).toBe('PUT,DELETE');
    expect(app.served()).toBe(servedBefore);
  });

  it('gives a preflight from another origin no CORS header, so the browser refuses the call', async () => {
    // when
    const other = await preflight('web.acme.org', 'https://evil.example');
    const lookalike = await preflight('web.acme.org', 'https://app.acme.org.evil.example');
    // then
    for (const reply of [other, lookalike]) {
      expect(reply.headers['access-control-allow-origin']).toBeUndefined();
      expect(reply.headers['access-control-allow-methods']).toBeUndefined();
    }
  });

  it('adds access-control-allow-origin to the actual request from an allowed origin', async () => {
    // when
    const allowed = await httpsGet(port, { host: 'web.acme.org', ca: meshCa, headers: { origin: 'https://app.acme.org' } });
    const denied = await httpsGet(port, { host: 'web.acme.org', ca: meshCa, headers: { origin: 'https://evil.example' } });
    // then
    expect(allowed.status).toBe(200);
    expect(allowed.json().app).toBe('app');
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.acme.org');
    expect(denied.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('a descriptor applied with route apply: a wildcard origin admits subdomains only, and the rule name reaches Envoy', async () => {
    // when
    const sub = await preflight('partners.acme.org', 'https://shop.partner.org', 'GET');
    const apex = await preflight('partners.acme.org', 'https://partner.org', 'GET');
    const dump = await edge.configDump();
    // then
    expect(sub.headers['access-control-allow-origin']).toBe('https://shop.partner.org');
    expect(apex.headers['access-control-allow-origin']).toBeUndefined();
    expect(JSON.stringify(dump)).toContain('"name":"everything"');
  });
});

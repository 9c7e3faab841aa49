/**
 * The mesh (the Kuma model) on real Envoy 1.40: two services, each behind an Envoy sidecar
 * bootstrapped by `meshcp bootstrap envoy`. STRICT refuses plaintext and checks the callee's
 * SPIFFE ID; PERMISSIVE takes plaintext and mTLS on one port; a TrafficPermission is enforced by
 * Envoy's RBAC filter, and deleting it denies exactly as Envoy denies.
 */
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';
import { freePort } from '../helpers/echo-service.js';
import { waitFor } from '../helpers/wait.js';
import { httpGet, startHttpApp, type RunningApp } from './apps.js';
import type { EnvoyProcess } from './envoy-process.js';
import { printEnvoysOnFailure, Testbed } from './testbed.js';

interface Ports {
  webInbound: number;
  webApp: number;
  backendInbound: number;
  backendApp: number;
  outbound: number;
  impostor: number;
}

const meshYaml = (mode: 'STRICT' | 'PERMISSIVE', caCertB64: string, caKeyB64: string): string => `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: provided
    mode: ${mode}
    conf:
      cert: { inline: ${caCertB64} }
      key: { inline: ${caKeyB64} }
`;

const workloads = (p: Ports): string => `type: Dataplane
mesh: default
name: web
networking:
  address: 127.0.0.1
  inbound:
  - port: ${p.webInbound}
    servicePort: ${p.webApp}
    tags: { kuma.io/service: web, kuma.io/protocol: http }
  outbound:
  - port: ${p.outbound}
    tags: { kuma.io/service: backend }
---
type: Dataplane
mesh: default
name: backend
networking:
  address: 127.0.0.1
  inbound:
  - port: ${p.backendInbound}
    servicePort: ${p.backendApp}
    tags: { kuma.io/service: backend, kuma.io/protocol: http }
`;

const permission = `type: TrafficPermission
mesh: default
name: web-to-backend
sources: [ { match: { kuma.io/service: web } } ]
destinations: [ { match: { kuma.io/service: backend } } ]
`;

const anyCaller = `type: TrafficPermission
mesh: default
name: anyone-to-backend
sources: [ { match: { kuma.io/service: '*' } } ]
destinations: [ { match: { kuma.io/service: backend } } ]
`;

/** An impostor endpoint of `backend`: no sidecar, a mesh certificate for another service (db). */
const impostorYaml = (p: Ports): string => `type: Dataplane
mesh: default
name: backend-impostor
networking:
  address: 127.0.0.1
  inbound:
  - port: ${p.impostor}
    tags: { kuma.io/service: backend, kuma.io/protocol: http }
`;

/** How a plaintext HTTP request to a mesh inbound port ends. */
async function plaintextOutcome(port: number): Promise<number | 'refused'> {
  try {
    return (await httpGet(port, '/plain')).status;
  } catch {
    return 'refused';
  }
}

describe('mesh sidecars on real Envoy', () => {
  let bed: Testbed;
  let ports: Ports;
  let web: EnvoyProcess;
  let backend: EnvoyProcess;
  let ca: { certPem: string; keyPem: string };

  const apps: RunningApp[] = [];
  const toB64 = (s: string): string => Buffer.from(s).toString('base64');
  printEnvoysOnFailure(() => [bed]);

  beforeAll(async () => {
    bed = await Testbed.start('mesh');
    ports = { webInbound: await freePort(), webApp: 0, backendInbound: await freePort(), backendApp: 0, outbound: await freePort(), impostor: await freePort() };
    const webApp = await startHttpApp('web');
    const backendApp = await startHttpApp('backend');
    apps.push(webApp, backendApp);
    ports.webApp = webApp.port;
    ports.backendApp = backendApp.port;
    const root = await createRootCa({ commonName: 'mesh test root', keyType: 'ecdsa-p256', validitySeconds: 86_400 });
    ca = { certPem: root.certPem, keyPem: root.keyPem };
    await bed.apply([meshYaml('STRICT', toB64(ca.certPem), toB64(ca.keyPem)), workloads(ports), permission].join('---\n'));
    [web, backend] = await Promise.all([bed.readyEnvoy('web'), bed.readyEnvoy('backend')]);
  });

  afterAll(async () => {
    await bed?.stop();
    await Promise.all(apps.map((a) => a.close()));
  });

  it('STRICT: web reaches backend over mTLS, and backend sees web\'s SPIFFE ID', async () => {
    // when web's app calls its outbound listener
    const reply = await httpGet(ports.outbound, '/hello');
    // then backend's app answers, and backend's Envoy verified web's certificate
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ app: 'backend', path: '/hello' });
    expect(reply.json().xfcc).toContain('URI=spiffe://default/web');
    expect(await backend.stat('listener.127.0.0.1_' + ports.backendInbound + '.ssl.handshake')).toBeGreaterThan(0);
  });

  it('STRICT: a plaintext caller is refused on the inbound port', async () => {
    // when a caller without TLS reaches backend's inbound listener
    const outcome = await plaintextOutcome(ports.backendInbound);
    // then Envoy refuses it before any request reaches the app
    expect(outcome).toBe('refused');
  });

  it('STRICT: a TLS caller without a mesh certificate fails the handshake', async () => {
    // when a TLS client trusting the mesh CA connects without a client certificate
    const failed = await new Promise<boolean>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port: ports.backendInbound, ca: ca.certPem, checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] }, () => {
        socket.write('GET / HTTP/1.1\r\nhost: backend\r\n\r\n');
      });
      socket.once('data', () => resolve(false));
      socket.once('error', () => resolve(true));
      socket.once('close', () => resolve(true));
    });
    // then Envoy closes the connection: no request is served
    expect(failed).toBe(true);
  });

  it('STRICT: the caller checks the callee\'s SPIFFE ID, so an endpoint with another identity gets no request', async () => {
    // given an endpoint of backend that presents a valid mesh certificate for `db`
    const leaf = await issueCertificate({ issuer: ca, commonName: 'db', uris: ['spiffe://default/db'], usage: 'workload', validitySeconds: 3600 });
    let impostorRequests = 0;
    const impostor = tls.createServer({ cert: leaf.certPem, key: leaf.keyPem, ALPNProtocols: ['h2', 'http/1.1'] }, (socket) => {
      socket.once('data', () => impostorRequests++);
    });
    await new Promise<void>((resolve) => impostor.listen(ports.impostor, '127.0.0.1', () => resolve()));
    const before = await web.stat('cluster.backend.ssl.fail_verify_san');
    try {
      await bed.apply(impostorYaml(ports));
      await web.waitStat('cluster.backend.membership_total', (v) => v === 2);
      // when web calls backend until its Envoy has tried the impostor
      for (let i = 0; i < 12; i++) await httpGet(ports.outbound, '/who');
      // then the impostor's certificate was refused for its SAN, and not one request reached it
      expect(await web.stat('cluster.backend.ssl.fail_verify_san')).toBeGreaterThan(before);
      expect(impostorRequests).toBe(0);
    } finally {
      await bed.cli(['delete', 'dataplane', 'backend-impostor']);
      await new Promise<void>((resolve) => impostor.close(() => resolve()));
      await web.waitStat('cluster.backend.membership_total', (v) => v === 1);
    }
  });

  it('a TrafficPermission deleted denies the call with Envoy\'s RBAC 403; applied again, it is allowed', async () => {
    // given an allowed call
    expect((await httpGet(ports.outbound, '/allowed')).status).toBe(200);
    const ldsBefore = await backend.stat('listener_manager.lds.update_success');
    const deniedBefore = await backend.stat(`http.inbound_127.0.0.1_${ports.backendInbound}.rbac.denied`);

    // when the permission is deleted
    expect((await bed.cli(['delete', 'trafficpermission', 'web-to-backend'])).code).toBe(0);
    await backend.waitStat('listener_manager.lds.update_success', (v) => v > ldsBefore);

    // then (once connections made under the old listener have drained) every call is denied by Envoy's RBAC filter
    const denied = await waitFor('the call to be denied', async () => {
      const reply = await httpGet(ports.outbound, '/denied');
      return reply.status === 403 ? reply : undefined;
    });
    expect(denied.body).toBe('RBAC: access denied');
    for (let i = 0; i < 5; i++) expect((await httpGet(ports.outbound, '/denied')).status).toBe(403);
    expect(await backend.stat(`http.inbound_127.0.0.1_${ports.backendInbound}.rbac.denied`)).toBeGreaterThan(deniedBefore);

    // when the permission is applied again
    const ldsDenied = await backend.stat('listener_manager.lds.update_success');
    await bed.apply(permission);
    await backend.waitStat('listener_manager.lds.update_success', (v) => v > ldsDenied);

    // then calls pass again
    await waitFor('the call to be allowed again', async () => ((await httpGet(ports.outbound, '/again')).status === 200 ? true : undefined));
    for (let i = 0; i < 5; i++) expect((await httpGet(ports.outbound, '/again')).status).toBe(200);
  });

  it('PERMISSIVE: the same inbound port takes plaintext and mTLS; plaintext has no identity, so only an any-caller permission admits it', async () => {
    // when the mesh switches to PERMISSIVE
    const ldsBefore = await backend.stat('listener_manager.lds.update_success');
    await bed.apply(meshYaml('PERMISSIVE', toB64(ca.certPem), toB64(ca.keyPem)));
    await backend.waitStat('listener_manager.lds.update_success', (v) => v > ldsBefore);

    // then a plaintext caller is accepted on the inbound port, and refused by RBAC while only web may call
    const denied = await waitFor('plaintext to be accepted', async () => {
      const outcome = await plaintextOutcome(ports.backendInbound);
      return outcome === 403 ? outcome : undefined;
    });
    expect(denied).toBe(403);
    // and web still calls over mTLS on that same port, with its identity
    const reply = await httpGet(ports.outbound, '/mtls');
    expect(reply.status).toBe(200);
    expect(reply.json().xfcc).toContain('URI=spiffe://default/web');

    // when a permission admits any caller of backend
    const ldsAny = await backend.stat('listener_manager.lds.update_success');
    await bed.apply(anyCaller);
    await backend.waitStat('listener_manager.lds.update_success', (v) => v > ldsAny);
    // then plaintext reaches backend's app, without a client identity
    const plain = await waitFor('plaintext to be admitted', async () => {
      const r = await httpGet(ports.backendInbound, '/plain').catch(() => undefined);
      return r?.status === 200 ? r : undefined;
    });
    expect(plain.json()).toMatchObject({ app: 'backend', path: '/plain' });
    expect(plain.json().xfcc).toBeUndefined();

    // when it switches back to STRICT, plaintext is refused again
    const ldsPermissive = await backend.stat('listener_manager.lds.update_success');
    await bed.apply(meshYaml('STRICT', toB64(ca.certPem), toB64(ca.keyPem)));
    await backend.waitStat('listener_manager.lds.update_success', (v) => v > ldsPermissive);
    await waitFor('plaintext to be refused again', async () => ((await plaintextOutcome(ports.backendInbound)) === 'refused' ? true : undefined));
    expect((await bed.cli(['delete', 'trafficpermission', 'anyone-to-backend'])).code).toBe(0);
  });

  it('no Envoy rejected any resource meshcp sent', async () => {
    for (const envoy of [web, backend]) {
      const stats = await envoy.stats('update_rejected');
      const rejected = [...stats].filter(([, v]) => v > 0);
      expect(rejected, envoy.name).toEqual([]);
    }
    expect(fs.existsSync(path.join(bed.dir, 'envoy-default-web', 'admin.sock'))).toBe(true);
  });
});

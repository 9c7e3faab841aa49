/**
 * The proxyless story of `meshcp demo` (and `npm run demo`): meshcp with real proxyless gRPC
 * workloads (@grpc/grpc-js-xds) and mesh mTLS, on a machine without Docker or Envoy. Everything a
 * user would run is run the same way: `meshcp serve` (embedded store in a temporary data dir,
 * token auth on), `meshcp apply`, `meshcp delete`, `meshcp token generate`, `meshcp agent` (one per
 * workload, writing the certificate files and relaying the workload's xDS to meshcp over TLS) and
 * `meshcp inspect dataplanes` are child processes of the same installation; the two workloads (an
 * xDS-enabled gRPC server and an xDS client) run in this process. It stops everything it started
 * and sets a failing exit code unless every step showed what it should.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { grpcBootstrap } from '../bootstrap/grpc.js';
import { callWho, freePort, startXdsEchoServer, type WhoReply } from './echo.js';
import { info, meshcp, ready, saveXdsCa, serialOf, startProcess, step, stopChild, waitVisibly } from './runner.js';
import { waitUntil } from './wait.js';
import { DEMO_PERMISSION, demoMeshMtls } from './config.js';

/** Short-lived workload certificates, so a rotation (at 4/5 of the lifetime) shows within seconds. */
const CERT_LIFETIME = '10s';

type CallResult = { ok: true; reply: WhoReply } | { ok: false; code: number; message: string };

async function call(client: grpc.Client): Promise<CallResult> {
  try {
    return { ok: true, reply: await callWho(client, 5000) };
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { ok: false, code: e.code, message: e.details ?? e.message };
  }
}

export async function runProxylessDemo(): Promise<void> {
  // grpc-js-xds registers its RBAC filter only when this is set before it loads (README, Mesh mTLS).
  process.env['GRPC_XDS_EXPERIMENTAL_RBAC'] = 'true';
  const grpcXds = await import('@grpc/grpc-js-xds');
  grpcXds.register();
  const started = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-demo-'));
  const stops: Array<() => Promise<void> | void> = [];
  try {
    step('Start meshcp: embedded store in a temporary data dir, xDS over TLS, token authentication on');
    const [xdsPort, adminPort, backendPort, webPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const xdsAddress = `127.0.0.1:${xdsPort}`;
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    const dataDir = path.join(dir, 'data');
    const server = startProcess(['serve', '--data-dir', dataDir, '--xds-address', xdsAddress, '--admin-address', `127.0.0.1:${adminPort}`], path.join(dir, 'meshcp.log'));
    stops.push(() => stopChild(server));
    await waitUntil('meshcp to be ready', () => ready(adminUrl), 30_000);
    info(`xDS (TLS) on ${xdsAddress}, admin API on ${adminUrl} (logs: ${dir}/meshcp.log)`);
    // The CA that signs meshcp's xDS certificate, as `curl -o xds-ca.pem $ADMIN/api/xds-ca` gets it.
    const caFile = path.join(dir, 'xds-ca.pem');
    await saveXdsCa(adminUrl, caFile);
    info(`xDS CA saved from GET ${adminUrl}/api/xds-ca`);

    step('Apply the demo mesh: builtin CA, STRICT mTLS, services web and backend, permission web → backend');
    const meshFile = path.join(dir, 'mesh.yaml');
    fs.writeFileSync(meshFile, demoMeshMtls(backendPort, webPort, CERT_LIFETIME));
    info(meshcp(['apply', '-f', meshFile, '--server', adminUrl]).trim().split('\n').join('\n    '));

    step('Start a meshcp agent per workload: over TLS it fetches the workload certificate (SDS), writes cert.pem, key.pem, ca.pem, and relays the workload\'s xDS on a Unix socket only this user can reach');
    const certDirs: Record<string, string> = {};
    const proxyAddresses: Record<string, string> = {};
    for (const name of ['backend-1', 'web']) {
      const tokenFile = path.join(dir, `${name}.token`);
      // Signed by the control plane, as `kumactl generate dataplane-token` asks its control plane.
      fs.writeFileSync(tokenFile, meshcp(['token', 'generate', '--name', name, '--server', adminUrl]));
      certDirs[name] = path.join(dir, name);
      // A Unix socket only this user can reach: the relay hands out the workload's key (SPEC §2).
      proxyAddresses[name] = `unix://${path.join(dir, `${name}-xds.sock`)}`;
      const agent = startProcess(
        ['agent', '--name', name, '--token-file', tokenFile, '--cert-dir', certDirs[name]!, '--xds-address', xdsAddress, '--xds-ca-cert', caFile, '--xds-proxy-address', proxyAddresses[name]!],
        path.join(dir, `agent-${name}.log`),
      );
      stops.push(() => stopChild(agent));
    }
    for (const [name, certDir] of Object.entries(certDirs)) {
      await waitUntil(`${name}'s certificate`, () => serialOf(path.join(certDir, 'cert.pem')) !== undefined && fs.existsSync(path.join(certDir, 'ca.pem')), 30_000);
      const cert = new crypto.X509Certificate(fs.readFileSync(path.join(certDir, 'cert.pem')));
      info(`${name}: ${cert.subjectAltName}, serial ${cert.serialNumber}; xDS for the workload on ${proxyAddresses[name]}`);
    }

    step('Start backend-1 (xDS-enabled gRPC server, mTLS) and web (xDS client, mTLS), then web calls xds:///backend');
    // grpc-js speaks xDS only in plaintext, so each workload's bootstrap names its agent's
    // relay socket, and holds no token: the agent adds it (as `meshcp bootstrap grpc` prints).
    const bootstrapFor = (name: string): Record<string, unknown> => grpcBootstrap({ name, mesh: 'default', xdsAddress: proxyAddresses[name]!, certDir: certDirs[name]! });
    const backend = await startXdsEchoServer('backend-1', backendPort, bootstrapFor('backend-1'), new grpcXds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()));
    stops.push(backend.stop);
    const client = new grpc.Client('xds:///backend', new grpcXds.XdsChannelCredentials(grpc.credentials.createInsecure()), {
      'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrapFor('web')),
    });
    stops.push(() => client.close());
    const allowed = await waitUntil('an allowed call', async () => {
      const r = await call(client);
      return r.ok ? r.reply : undefined;
    }, 30_000);
    info(`ALLOWED: answered by ${allowed.server}; the server saw the caller as ${allowed.peerUris.join(', ')}`);
    if (!allowed.peerUris.includes('spiffe://default/web')) throw new Error('the caller was not identified as spiffe://default/web');

    step('Delete the TrafficPermission: with mTLS on, no permission means deny');
    info(meshcp(['delete', 'trafficpermission', 'web-to-backend', '--server', adminUrl]).trim());
    const denied = await waitUntil('a denied call', async () => {
      const r = await call(client);
      return !r.ok && r.code === grpc.status.PERMISSION_DENIED ? r : undefined;
    }, 30_000);
    info(`DENIED: ${grpc.status[denied.code]} (${denied.message})`);

    step('Restore the permission');
    const permissionFile = path.join(dir, 'permission.yaml');
    fs.writeFileSync(permissionFile, DEMO_PERMISSION);
    meshcp(['apply', '-f', permissionFile, '--server', adminUrl]);
    const restored = await waitUntil('an allowed call again', async () => {
      const r = await call(client);
      return r.ok ? r.reply : undefined;
    }, 30_000);
    info(`ALLOWED again: answered by ${restored.server}, caller ${restored.peerUris.join(', ')}`);

    step(`Certificate rotation: workload certificates live ${CERT_LIFETIME} and are rotated at 4/5 of that, without reconnecting`);
    const backendCert = path.join(certDirs['backend-1']!, 'cert.pem');
    const before = serialOf(backendCert);
    const current = new crypto.X509Certificate(fs.readFileSync(backendCert));
    const issued = Date.parse(current.validFrom);
    const due = issued + 0.8 * (Date.parse(current.validTo) - issued);
    info(`backend-1's certificate (serial ${before}) is rotated at 4/5 of its life: due in about ${Math.max(0, Math.ceil((due - Date.now()) / 1000))} s; meshcp pushes the new one to the agent over SDS, which rewrites cert.pem`);
    const after = await waitVisibly('the rotated certificate in backend-1/cert.pem', () => {
      const now = serialOf(backendCert);
      return now !== undefined && now !== before ? now : undefined;
    }, 30_000);
    const afterRotation = await waitUntil('a call after the rotation', async () => {
      const r = await call(client);
      return r.ok ? r.reply : undefined;
    }, 30_000);
    info(`backend-1 serial before: ${before}`);
    info(`backend-1 serial after:  ${after}`);
    info(`a call after the rotation: answered by ${afterRotation.server}, caller ${afterRotation.peerUris.join(', ')}`);

    step('meshcp inspect dataplanes');
    info(meshcp(['inspect', 'dataplanes', '--server', adminUrl]).trimEnd().split('\n').join('\n    '));

    info(`\ndone in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  } catch (err) {
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    for (const stop of stops.reverse()) await stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}


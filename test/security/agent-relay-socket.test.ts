/**
 * The agent's xDS relay hands out the workload's identity, private key included (SPEC §2
 * "Proxyless gRPC and TLS"). On its Unix socket (mode 0600) only the agent's user may connect: a
 * process running as `nobody` gets nothing, while the owner gets the key. The agent runs with umask
 * 000, so the socket's mode is the agent's doing, not the umask's. A TCP loopback relay still works
 * as an explicit opt-in, and warns that any local user can then take the key, which `nobody` does.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, loadOrCreateSigningKey } from '../../src/auth/token.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { lookupType } from '../../src/protos/load.js';
import { silentLogger } from '../../src/log/logger.js';
import { SECRET_TYPE } from '../../src/snapshot/types.js';
import { runCli } from '../cli/harness.js';
import { freePort } from '../helpers/etcd.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const NOBODY = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());

const CONFIG = `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends: [{ name: ca-1, type: builtin, conf: { caCert: { keyType: ECDSA } } }]
---
type: Dataplane
name: web-01
networking:
  address: 127.0.0.1
  inbound: [{ port: 8080, servicePort: 18080, tags: { kuma.io/service: web } }]
`;

/**
 * A raw gRPC client on node's http2 (no module to load, so it runs as any user): one ADS request
 * for the workload's identity secret; prints whether a private key came back, or the error.
 */
const CLIENT = `
const http2 = require('node:http2'), net = require('node:net');
const [target, hex] = process.argv.slice(1);
const out = (o) => { process.stdout.write(JSON.stringify(o)); process.exit(0); };
const socket = target.startsWith('/') ? net.connect(target) : net.connect(Number(target.split(':')[1]), target.split(':')[0]);
socket.once('error', (e) => out({ error: e.code || e.message }));
socket.once('connect', () => {
const session = http2.connect('http://localhost', { createConnection: () => socket });
session.on('error', (e) => out({ error: e.code || e.message }));
const stream = session.request({ ':method': 'POST', ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', 'content-type': 'application/grpc', te: 'trailers' });
const message = Buffer.from(hex, 'hex');
const frame = Buffer.alloc(5 + message.length);
frame.writeUInt32BE(message.length, 1);
message.copy(frame, 5);
stream.write(frame);
let got = Buffer.alloc(0);
stream.on('data', (d) => { got = Buffer.concat([got, d]); if (got.includes('PRIVATE KEY')) out({ key: true }); });
stream.on('error', (e) => out({ error: e.code || e.message }));
stream.on('close', () => out({ key: false, closed: true }));
});
setTimeout(() => out({ key: false, timeout: true }), 20000);
`;

/** Asks the relay at `target` (a socket path or HOST:PORT) for web-01's identity, as `uid`. */
function askRelay(target: string, uid: number): Promise<{ key?: boolean; error?: string }> {
  const request = lookupType('envoy.service.discovery.v3.DiscoveryRequest');
  const bytes = request.encode(request.fromObject({ node: { id: 'web-01' }, type_url: SECRET_TYPE, resource_names: ['identity-cert:default'] })).finish();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CLIENT, target, Buffer.from(bytes).toString('hex')], { uid, gid: uid, stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', () => {
      try {
        resolve(JSON.parse(stdout) as { key?: boolean; error?: string });
      } catch {
        reject(new Error(`relay client printed ${JSON.stringify(stdout)}: ${stderr}`));
      }
    });
  });
}

describe('the agent xDS relay and local users', () => {
  let dir: string;
  let server: RunningServer;
  let tokenFile: string;
  const agents: ChildProcess[] = [];

  /** `meshcp agent … --xds-proxy-address ADDRESS` as root with umask 000; resolves once its relay listens, with its log. */
  async function startAgent(address: string, certDir: string): Promise<{ log: () => string }> {
    const args = [CLI, 'agent', '--name', 'web-01', '--token-file', tokenFile, '--cert-dir', certDir, '--xds-address', server.xdsAddress, '--xds-plaintext', '--xds-proxy-address', address];
    const child = spawn('sh', ['-c', 'umask 000; exec "$@"', 'sh', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    agents.push(child);
    let log = '';
    child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    await waitFor('the relay listening', () => log.includes('serving xDS to the local app') || (child.exitCode !== null && Promise.reject(new Error(log))), { timeoutMs: 30_000 });
    await waitFor('the workload certificate written', () => fs.existsSync(path.join(certDir, 'key.pem')), { timeoutMs: 30_000 });
    return { log: () => log };
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-relay-sec-'));
    // Everyone may reach the directory, so only the socket's own mode keeps `nobody` out.
    fs.chmodSync(dir, 0o755);
    fs.writeFileSync(path.join(dir, 'config.yaml'), CONFIG);
    server = await startServer({ config: [path.join(dir, 'config.yaml')], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'token', xdsPlaintext: true }, silentLogger());
    tokenFile = path.join(dir, 'web-01.token');
    fs.writeFileSync(tokenFile, generateToken({ name: 'web-01', mesh: 'default', validForSeconds: 3600 }, await loadOrCreateSigningKey(path.join(dir, 'data'))), { mode: 0o600 });
  }, 60_000);

  afterAll(async () => {
    for (const agent of agents) {
      if (agent.exitCode === null && agent.pid !== undefined) process.kill(-agent.pid, 'SIGTERM');
    }
    await Promise.all(agents.map((a) => (a.exitCode !== null ? undefined : new Promise((resolve) => a.once('exit', resolve)))));
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves the identity on a 0600 Unix socket: its owner gets the key, nobody is refused', async () => {
    // given: the agent relaying on a Unix socket
    const socket = path.join(dir, 'relay.sock');
    const { log } = await startAgent(`unix://${socket}`, path.join(dir, 'certs-unix'));
    // then: the socket is the agent's, owner-only, and the agent does not warn
    const stat = fs.lstatSync(socket);
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
    expect(log()).toContain(`"address":"unix://${socket}"`);
    expect(log()).not.toMatch(/ANY local user/);
    // when: nobody asks the relay for web-01's identity
    const asNobody = await askRelay(socket, NOBODY);
    // then: it cannot even connect
    expect(asNobody).toEqual({ error: 'EACCES' });
    // and: the owner (root, the app's user) gets the workload key through it
    expect(await askRelay(socket, 0)).toEqual({ key: true });
  });

  it('bootstrap grpc points the app at the socket: an absolute unix:/// server_uri, also from a relative unix: path', async () => {
    // when
    const absolute = await runCli(['bootstrap', 'grpc', '--name', 'web-01', '--xds-address', `unix://${dir}/relay.sock`, '--cert-dir', dir]);
    const relative = await runCli(['bootstrap', 'grpc', '--name', 'web-01', '--xds-address', 'unix:relay.sock']);
    // then
    expect(absolute.stderr).toBe('');
    expect(JSON.parse(absolute.stdout)).toMatchObject({ xds_servers: [{ server_uri: `unix://${dir}/relay.sock`, channel_creds: [{ type: 'insecure' }] }], node: { id: 'web-01' } });
    expect(JSON.parse(relative.stdout)).toMatchObject({ xds_servers: [{ server_uri: `unix://${path.resolve('relay.sock')}` }] });
  });

  it('warns on a TCP loopback relay, where any local user, nobody included, can take the key', async () => {
    // given: the explicit opt-in
    const port = await freePort();
    const { log } = await startAgent(`127.0.0.1:${port}`, path.join(dir, 'certs-tcp'));
    // then
    expect(log()).toMatch(/--xds-proxy-address 127\.0\.0\.1:\d+ is TCP: ANY local user can connect to it and obtain this workload's identity, its private key included\. Use a Unix socket only this user can reach: --xds-proxy-address unix:\/\/\/PATH/);
    // and: the warning is right
    expect(await askRelay(`127.0.0.1:${port}`, NOBODY)).toEqual({ key: true });
  });

  it('refuses a socket path another user could swap, or that is not its own socket', async () => {
    // given: a world-writable directory without the sticky bit, and a file in place of the socket
    const open = path.join(dir, 'open');
    fs.mkdirSync(open);
    fs.chmodSync(open, 0o777);
    fs.writeFileSync(path.join(dir, 'not-a-socket'), 'x');
    // when / then
    for (const [address, error] of [
      [`unix://${open}/relay.sock`, /is writable by every user without the sticky bit/],
      [`unix://${dir}/not-a-socket`, /the path exists and is not a socket of this user/],
    ] as const) {
      // (async: the server runs in this process)
      const run = await new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI, 'agent', '--name', 'web-01', '--token-file', tokenFile, '--cert-dir', path.join(dir, 'certs-x'), '--xds-address', server.xdsAddress, '--xds-plaintext', '--xds-proxy-address', address]);
        agents.push(child);
        let output = '';
        child.stdout.on('data', (d: Buffer) => (output += d.toString()));
        child.stderr.on('data', (d: Buffer) => (output += d.toString()));
        child.on('exit', (code) => resolve({ code, output }));
      });
      expect(run.code).not.toBe(0);
      expect(run.output).toMatch(error);
    }
  });
});

/**
 * grpc-go as a proxyless mesh peer, over the production path: `meshcp serve` as users run it (TLS
 * xDS, token auth), a `meshcp agent` per workload keeping its certificate files, and grpc-go
 * servers and clients (test/peers/go/cmd/grpc-peer, google.golang.org/grpc/xds) whose bootstraps
 * come from `meshcp bootstrap grpc --xds-ca-cert`: they speak TLS to meshcp directly (gRFC A65), with
 * their token in node.metadata and no relay. grpc-js workloads join through their agent's relay,
 * and a real Envoy sidecar (test/envoy) through `meshcp bootstrap envoy`.
 *
 * grpc-go validates xDS resources strictly: every scenario ends by checking that no go peer
 * NACKed anything.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { printEnvoysOnFailure, Testbed } from '../envoy/testbed.js';
import { callWho, freePort, startEchoServer, startXdsEchoServer } from '../helpers/echo-service.js';
import { loadGrpcXdsWithRbac } from '../helpers/mesh-tls.js';
import { waitFor } from '../helpers/wait.js';
import { goBinaryAsync } from './go-binaries.js';
import { meshcp, PeerProcess, ServeProcess, startAgentProcess } from './processes.js';

const grpcXds = await loadGrpcXdsWithRbac();

interface GoEvent {
  event: string;
  mode?: string;
  ok?: boolean;
  server?: string;
  peerUris?: string[];
  code?: string;
  message?: string;
  n?: number;
}

interface MeshOptions {
  readonly enabled?: string;
  readonly webToBackend?: boolean;
  /** dpCert lifetime of both backends (default 30s). */
  readonly expiration?: string;
}

const GO_WORKLOADS = ['backend-1', 'backend-2', 'web'] as const;
const JS_WORKLOADS = ['js-backend', 'js-web'] as const;
type Workload = (typeof GO_WORKLOADS)[number] | (typeof JS_WORKLOADS)[number];
/** An Envoy sidecar (`envoy-app`): its inbound port, the plain gRPC app behind it, its outbound port to `backend`. */
type SidecarPort = 'sidecar-inbound' | 'sidecar-app' | 'sidecar-outbound';

const permission = (name: string, source: string, destination: string): string => `---
type: TrafficPermission
name: ${name}
sources: [ { match: { kuma.io/service: ${source} } } ]
destinations: [ { match: { kuma.io/service: ${destination} } } ]
`;

const dataplane = (name: string, service: string, port: number): string => `---
type: Dataplane
name: ${name}
networking:
  address: 127.0.0.1
  inbound: [{ port: ${port}, tags: { kuma.io/service: ${service}, kuma.io/protocol: grpc } }]
`;

const sidecarYaml = (ports: Record<SidecarPort, number>): string => `---
type: Dataplane
name: envoy-app
networking:
  address: 127.0.0.1
  inbound: [{ port: ${ports['sidecar-inbound']}, servicePort: ${ports['sidecar-app']}, tags: { kuma.io/service: envoy-app, kuma.io/protocol: grpc } }]
  outbound: [{ port: ${ports['sidecar-outbound']}, tags: { kuma.io/service: backend } }]
`;

/**
 * Certificates live 30 s (rotated at 24 s), so every scenario runs through rotations. The 6 s
 * left at rotation cover issuance, the agent writing the files and grpc-go's 1 s file refresh on a
 * loaded machine; with 10 s ones (2 s left), a loaded full run saw grpc-go present an expired
 * certificate on new handshakes.
 */
function meshYaml(ports: Record<Workload | SidecarPort, number>, options: MeshOptions = {}): string {
  const expiration = options.expiration ?? '30s';
  return `type: Mesh
name: default
mtls:
  enabledBackend: ${options.enabled ?? 'ca-1'}
  backends:
  - name: ca-1
    type: builtin
    mode: STRICT
    dpCert: { rotation: { expiration: ${expiration} } }
  - name: ca-2
    type: builtin
    mode: STRICT
    dpCert: { rotation: { expiration: ${expiration} } }
${dataplane('backend-1', 'backend', ports['backend-1'])}${dataplane('backend-2', 'backend', ports['backend-2'])}${dataplane('web', 'web', ports.web)}${dataplane('js-backend', 'js-backend', ports['js-backend'])}${dataplane('js-web', 'js-web', ports['js-web'])}${options.webToBackend === false ? '' : permission('web-to-backend', 'web', 'backend')}${permission('web-to-js', 'web', 'js-backend')}${permission('js-to-backend', 'js-web', 'backend')}${sidecarYaml(ports)}${permission('web-to-envoy', 'web', 'envoy-app')}${permission('envoy-to-backend', 'envoy-app', 'backend')}`;
}

const calls = (events: readonly GoEvent[], from = 0): GoEvent[] => events.slice(from).filter((e) => e.event === 'call');
const failures = (events: readonly GoEvent[], from = 0): GoEvent[] => calls(events, from).filter((e) => !e.ok);
const serialOf = (file: string): string => new X509Certificate(fs.readFileSync(file)).serialNumber;

describe('grpc-go proxyless peers against meshcp serve (TLS xDS, tokens, agents)', () => {
  let dir: string;
  let configFile: string;
  let dataDir: string;
  let xdsAddress: string;
  let adminUrl: string;
  let serve: ServeProcess;
  let goPeer: string;
  const ports = {} as Record<Workload | SidecarPort, number>;
  const certDir = (name: Workload): string => path.join(dir, 'certs', name);
  const agents = new Map<Workload, PeerProcess>();
  const servers = new Map<string, PeerProcess<GoEvent>>();
  let client: PeerProcess<GoEvent>;
  let bed: Testbed | undefined;
  printEnvoysOnFailure(() => [bed]);
  const cleanup: Array<() => Promise<void> | void> = [];

  // Fixed (free) ports, so that the restarted process is where the peers and the Envoy testbed look.
  let adminAddress: string;
  const startServe = async (): Promise<void> => {
    serve = new ServeProcess(['--config', configFile, '--data-dir', dataDir, '--xds-address', xdsAddress, '--admin-address', adminAddress]);
    adminUrl = (await serve.ready).adminUrl;
  };

  const writeConfig = async (options: MeshOptions): Promise<void> => {
    const tmp = `${configFile}.tmp`;
    fs.writeFileSync(tmp, meshYaml(ports, options));
    fs.renameSync(tmp, configFile);
  };

  const goProcess = (name: string, args: string[], workload: Workload): PeerProcess<GoEvent> =>
    new PeerProcess<GoEvent>(name, goPeer, args, {
      GRPC_XDS_BOOTSTRAP: path.join(dir, `${workload}.bootstrap.json`),
      // grpc-go logs each NACK (with the reason) at warning level: it lands in the failure log.
      GRPC_GO_LOG_SEVERITY_LEVEL: 'warning',
      GRPC_GO_LOG_VERBOSITY_LEVEL: '2',
    });

  /**
   * Per go peer, from the admin API: the types it ACKed and the NACKs meshcp recorded (with
   * grpc-go's reason). The servers ask for LDS (their route config is inline), the client for
   * LDS, RDS, CDS and EDS; SDS is the workload's agent, on the same proxy name.
   */
  const xdsState = async (): Promise<{ acked: Record<string, string[]>; nacked: Record<string, string[]> }> => {
    const acked: Record<string, string[]> = {};
    const nacked: Record<string, string[]> = {};
    for (const name of GO_WORKLOADS) {
      const dump = (await (await fetch(`${adminUrl}/api/inspect/dataplanes/${name}/config-dump`)).json()) as { types: Array<{ type: string; lastAckedVersion?: string; nackCount: number; lastError?: string }> };
      // Ever ACKed (by this meshcp process): with several streams per name and SDS pushes at every
      // rotation, "the last response is ACKed" for every type at one instant can take long to see.
      acked[name] = dump.types.filter((t) => t.lastAckedVersion !== undefined).map((t) => t.type).sort();
      nacked[name] = dump.types.filter((t) => t.nackCount > 0).map((t) => `${t.type}: ${t.lastError ?? '?'}`);
    }
    return { acked, nacked };
  };
  const EVERY_TYPE_ACKED = { 'backend-1': ['LDS', 'SDS'], 'backend-2': ['LDS', 'SDS'], web: ['CDS', 'EDS', 'LDS', 'RDS', 'SDS'] };
  /** `wait`, failing at once with grpc-go's words if a go peer NACKs meanwhile (instead of a timeout). */
  const failOnNack = async <T>(wait: Promise<T>): Promise<T> => {
    let done = false;
    const watch = (async (): Promise<never> => {
      while (!done) {
        const { nacked } = await xdsState().catch(() => ({ nacked: {} as Record<string, string[]> }));
        const found = Object.entries(nacked).filter(([, n]) => n.length > 0);
        if (found.length > 0) throw new Error(`grpc-go NACKed: ${JSON.stringify(Object.fromEntries(found))}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      return new Promise<never>(() => undefined);
    })();
    try {
      return await Promise.race([wait, watch]);
    } finally {
      done = true;
    }
  };

  /** Every type ACKed at least once, and not one NACK ever. */
  const expectNoNacks = async (): Promise<void> => {
    const { nacked } = await waitFor('every type ACKed by the go peers', async () => {
      const state = await xdsState();
      if (Object.values(state.nacked).some((n) => n.length > 0)) return state;
      if (JSON.stringify(state.acked) === JSON.stringify(EVERY_TYPE_ACKED)) return state;
      throw new Error(`ACKed so far: ${JSON.stringify(state.acked)}`);
    }, { timeoutMs: 60_000, intervalMs: 100 });
    expect(nacked).toEqual({ 'backend-1': [], 'backend-2': [], web: [] });
  };

  beforeAll(async () => {
    goPeer = await goBinaryAsync('grpc-peer');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-grpc-go-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    for (const name of [...GO_WORKLOADS, ...JS_WORKLOADS, 'sidecar-inbound', 'sidecar-outbound'] as const) ports[name] = await freePort();
    const sidecarApp = await startEchoServer('envoy-app');
    cleanup.push(sidecarApp.stop);
    ports['sidecar-app'] = sidecarApp.port;
    xdsAddress = `127.0.0.1:${await freePort()}`;
    adminAddress = `127.0.0.1:${await freePort()}`;
    configFile = path.join(dir, 'mesh.yaml');
    dataDir = path.join(dir, 'data');
    await writeConfig({});
    // Default serve: xDS over TLS with meshcp's own CA, token authentication.
    await startServe();
    cleanup.push(() => serve.stop());
    const caFile = path.join(dir, 'xds-ca.pem');
    fs.writeFileSync(caFile, await (await fetch(`${adminUrl}/api/xds-ca`)).text());

    const relays = new Map<Workload, string>();
    for (const name of [...GO_WORKLOADS, ...JS_WORKLOADS]) {
      const tokenFile = path.join(dir, `${name}.token`);
      fs.writeFileSync(tokenFile, meshcp(['token', 'generate', '--name', name, '--server', adminUrl]));
      const agentArgs = ['--name', name, '--token-file', tokenFile, '--cert-dir', certDir(name), '--xds-address', xdsAddress, '--xds-ca-cert', caFile];
      if ((JS_WORKLOADS as readonly string[]).includes(name)) {
        // grpc-js has no TLS channel credentials: it talks to its agent's relay on loopback.
        relays.set(name, `127.0.0.1:${await freePort()}`);
        agentArgs.push('--xds-proxy-address', relays.get(name)!);
      }
      const agent = startAgentProcess(agentArgs);
      agents.set(name, agent);
      cleanup.push(() => agent.stop());
      const bootstrapArgs = ['bootstrap', 'grpc', '--name', name, '--cert-dir', certDir(name)];
      const bootstrap = relays.has(name)
        ? meshcp([...bootstrapArgs, '--xds-address', relays.get(name)!])
        : meshcp([...bootstrapArgs, '--token-file', tokenFile, '--xds-address', xdsAddress, '--xds-ca-cert', caFile]);
      fs.writeFileSync(path.join(dir, `${name}.bootstrap.json`), bootstrap);
    }
    for (const [name, agent] of agents) {
      await waitFor(`${name}'s agent to write its certificate files`, () => {
        agent.assertRunning();
        return ['cert.pem', 'key.pem', 'ca.pem'].every((f) => fs.existsSync(path.join(certDir(name), f)));
      }, { timeoutMs: 60_000 });
    }
    for (const name of ['backend-1', 'backend-2'] as const) {
      const server = goProcess(name, ['server', '--name', name, '--port', String(ports[name])], name);
      servers.set(name, server);
      cleanup.push(() => server.stop());
    }
    for (const [name, server] of servers) await failOnNack(server.waitEvent(`${name} SERVING`, (e) => e.event === 'serving-mode' && e.mode === 'SERVING', { timeoutMs: 60_000 }));
    client = goProcess('web (grpc-go client)', ['client', '--target', 'xds:///backend', '--fresh-every', '5'], 'web');
    cleanup.push(() => client.stop());
  }, 600_000);

  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn();
  });

  it('resolves xds:///backend to both grpc-go servers and balances calls over mTLS; each server sees the caller\'s SPIFFE ID', async () => {
    // given: the grpc-go client calling xds:///backend, two grpc-go servers behind it (one locality, weight 1 each, as meshcp emits them)
    const first = await failOnNack(client.waitEvent('a successful call', (e) => e.event === 'call' && e.ok === true, { timeoutMs: 60_000 }));
    const from = client.events.indexOf(first);

    // when: 40 more calls are made
    await client.waitEvent('40 more calls', (e) => e.event === 'call' && (e.n ?? 0) >= (first.n ?? 0) + 40, { from, timeoutMs: 60_000 });
    const window = calls(client.events, from).slice(0, 40);

    // then: none failed, both servers answered (round robin), each saw web's SPIFFE identity
    expect(window.filter((e) => !e.ok)).toEqual([]);
    const perServer = new Map<string, number>();
    for (const e of window) perServer.set(e.server!, (perServer.get(e.server!) ?? 0) + 1);
    expect([...perServer.keys()].sort()).toEqual(['backend-1', 'backend-2']);
    expect(Math.min(...perServer.values())).toBeGreaterThanOrEqual(10);
    expect(new Set(window.map((e) => JSON.stringify(e.peerUris)))).toEqual(new Set([JSON.stringify(['spiffe://default/web'])]));
    await expectNoNacks();
  }, 120_000);

  it('follows TrafficPermission allow → deny → allow without a restart of either peer', async () => {
    // given: calls admitted
    const admitted = await client.waitEvent('an admitted call', (e) => e.event === 'call' && e.ok === true, { from: client.events.length });

    // when: web → backend is no longer permitted
    await writeConfig({ webToBackend: false });

    // then: the grpc-go servers' RBAC refuses web
    const denied = await client.waitEvent('a denied call', (e) => e.event === 'call' && e.code === 'PermissionDenied', { from: client.events.indexOf(admitted), timeoutMs: 60_000 });
    expect(denied.message).toMatch(/did not match an allow policy/);

    // when: it is permitted again
    await writeConfig({});

    // then: calls are admitted again, and from then on none is denied
    const again = await client.waitEvent('an admitted call again', (e) => e.event === 'call' && e.ok === true, { from: client.events.indexOf(denied), timeoutMs: 60_000 });
    const from = client.events.indexOf(again);
    await client.waitEvent('20 more calls', (e) => e.event === 'call' && (e.n ?? 0) >= (again.n ?? 0) + 20, { from });
    expect(failures(client.events, from)).toEqual([]);
    await expectNoNacks();
  });

  it('keeps every call succeeding through certificate rotations of both peers, then a CA switch', async () => {
    // given: calls flowing, and the serials the agents wrote
    const files = { server: path.join(certDir('backend-1'), 'cert.pem'), client: path.join(certDir('web'), 'cert.pem') };
    const serials = { server: new Set([serialOf(files.server)]), client: new Set([serialOf(files.client)]) };
    const ok = await client.waitEvent('an admitted call', (e) => e.event === 'call' && e.ok === true, { from: client.events.length });
    const from = client.events.indexOf(ok);

    // when: both certificates rotate twice (30 s lifetime, rotated at 24 s), every 5th call a new handshake
    await waitFor('two rotations of both certificates', () => {
      client.assertRunning();
      serials.server.add(serialOf(files.server));
      serials.client.add(serialOf(files.client));
      return serials.server.size >= 3 && serials.client.size >= 3;
    }, { timeoutMs: 90_000, intervalMs: 100 });
    const rotated = client.events.length;
    await client.waitEvent('calls after the rotations', (e) => e.event === 'call' && e.ok === true, { from: rotated + 20 });

    // then: not one call failed
    expect(calls(client.events, from).length).toBeGreaterThan(40);
    expect(failures(client.events, from)).toEqual([]);

    // when: the mesh switches to another CA while calls flow
    const caBefore = fs.readFileSync(path.join(certDir('web'), 'ca.pem'), 'utf8');
    const beforeSwitch = client.events.length;
    await writeConfig({ enabled: 'ca-2' });
    const issuerOf = (name: Workload): string => new X509Certificate(fs.readFileSync(path.join(certDir(name), 'cert.pem'))).issuer;
    const oldIssuer = issuerOf('web');
    await waitFor('every go peer to hold a certificate of the new CA, and to trust only it', () => {
      client.assertRunning();
      return GO_WORKLOADS.every((name) => issuerOf(name) !== oldIssuer && (fs.readFileSync(path.join(certDir(name), 'ca.pem'), 'utf8').match(/BEGIN CERTIFICATE/g) ?? []).length === 1);
    }, { timeoutMs: 90_000, intervalMs: 100 });
    const switched = client.events.length;
    await client.waitEvent('calls after the switch', (e) => e.event === 'call' && e.ok === true, { from: switched + 20 });

    // then: still not one failed call, and the trust bundle is a new one
    expect(fs.readFileSync(path.join(certDir('web'), 'ca.pem'), 'utf8')).not.toBe(caBefore);
    expect(calls(client.events, beforeSwitch).length).toBeGreaterThan(20);
    expect(failures(client.events, beforeSwitch)).toEqual([]);
    await expectNoNacks();
  }, 240_000);

  it('keeps every call succeeding while meshcp is killed with SIGKILL and started again', async () => {
    // given: certificates that outlive the outage, as in production (24 h by default): with 30 s
    // ones, the peers' certificates expire while meshcp is down on a loaded machine, and new
    // handshakes are refused (tls: expired certificate), which is what certificates are for
    await writeConfig({ expiration: '10m' });
    await waitFor('every go peer to hold a certificate for 10 minutes', () =>
      GO_WORKLOADS.every((name) => {
        const file = path.join(certDir(name), 'cert.pem');
        return fs.existsSync(file) && Date.parse(new X509Certificate(fs.readFileSync(file)).validTo) - Date.now() > 5 * 60_000;
      }), { timeoutMs: 60_000, intervalMs: 200 });
    // and: calls flowing
    const ok = await client.waitEvent('an admitted call', (e) => e.event === 'call' && e.ok === true, { from: client.events.length });
    const from = client.events.indexOf(ok);

    // when: meshcp dies (kill -9), calls go on without it, and it starts again on the same data directory and address
    await serve.kill9();
    await client.waitEvent('calls while meshcp is down', (e) => e.event === 'call' && (e.n ?? 0) >= (ok.n ?? 0) + 20, { from });
    await startServe();

    // then: every peer reconnects (its agent gets a new certificate), and no call failed at any point
    const serial = serialOf(path.join(certDir('web'), 'cert.pem'));
    await waitFor('web\'s agent to get a certificate from the new meshcp process', () => serialOf(path.join(certDir('web'), 'cert.pem')) !== serial, { timeoutMs: 60_000 });
    await waitFor('the go peers to ACK every type from the new meshcp process', async () => JSON.stringify((await xdsState()).acked) === JSON.stringify(EVERY_TYPE_ACKED), { timeoutMs: 90_000, intervalMs: 200 });
    const back = client.events.length;
    await client.waitEvent('calls after the restart', (e) => e.event === 'call' && e.ok === true, { from: back + 20 });
    expect(failures(client.events, from)).toEqual([]);
    await expectNoNacks();
    // and: the new process serves config changes to them
    await writeConfig({ webToBackend: false });
    await client.waitEvent('a denied call from the new meshcp process', (e) => e.event === 'call' && e.code === 'PermissionDenied', { from: back, timeoutMs: 60_000 });
    await writeConfig({});
    await client.waitEvent('an admitted call again', (e) => e.event === 'call' && e.ok === true, { from: client.events.length, timeoutMs: 60_000 });
  }, 240_000);

  it('lets grpc-go, grpc-js and an Envoy sidecar call each other in the same mesh', async () => {
    // given: a grpc-js xDS server (js-backend) and a grpc-js client (js-web), through their agents' relays
    const jsBootstrap = (name: Workload): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(dir, `${name}.bootstrap.json`), 'utf8')) as Record<string, unknown>;
    const jsServer = await startXdsEchoServer('js-backend', ports['js-backend'], jsBootstrap('js-backend'), new grpcXds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()));
    cleanup.push(jsServer.stop);
    const jsClient = new grpc.Client('xds:///backend', new grpcXds.XdsChannelCredentials(grpc.credentials.createInsecure()), {
      'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(jsBootstrap('js-web')),
    });
    cleanup.push(() => jsClient.close());
    // and: a real Envoy 1.40 sidecar (envoy-app) in front of a plain gRPC app, bootstrapped by `meshcp bootstrap envoy`
    bed = Testbed.around('grpc-go', { adminUrl, xdsAddress });
    cleanup.push(() => bed?.stop());
    await bed.readyEnvoy('envoy-app');
    const goToJs = goProcess('web (grpc-go client of js-backend)', ['client', '--target', 'xds:///js-backend'], 'web');
    cleanup.push(() => goToJs.stop());
    const goToEnvoy = goProcess('web (grpc-go client of envoy-app)', ['client', '--target', 'xds:///envoy-app'], 'web');
    cleanup.push(() => goToEnvoy.stop());
    const throughSidecar = new grpc.Client(`127.0.0.1:${ports['sidecar-outbound']}`, grpc.credentials.createInsecure());
    cleanup.push(() => throughSidecar.close());

    // when: grpc-js calls the grpc-go servers, grpc-go calls the grpc-js server and the Envoy sidecar, the sidecar's app calls backend through Envoy
    const jsToGo = await waitFor('grpc-js → grpc-go', async () => callWho(jsClient, 5000).catch(() => undefined), { timeoutMs: 60_000 });
    const goToJsReply = await failOnNack(goToJs.waitEvent('grpc-go → grpc-js', (e) => e.event === 'call' && e.ok === true, { timeoutMs: 60_000 }));
    const goToEnvoyReply = await failOnNack(goToEnvoy.waitEvent('grpc-go → Envoy sidecar → app', (e) => e.event === 'call' && e.ok === true, { timeoutMs: 60_000 }));
    const envoyToGo = await waitFor('app → Envoy sidecar → grpc-go', async () => callWho(throughSidecar, 5000).catch(() => undefined), { timeoutMs: 60_000 });

    // then: each callee saw its caller's SPIFFE identity over mesh mTLS (the app behind Envoy sees plaintext from its sidecar)
    expect(['backend-1', 'backend-2']).toContain(jsToGo.server);
    expect(jsToGo.peerUris).toEqual(['spiffe://default/js-web']);
    expect(goToJsReply.server).toBe('js-backend');
    expect(goToJsReply.peerUris).toEqual(['spiffe://default/web']);
    expect(jsServer.calls()).toBeGreaterThan(0);
    expect(goToEnvoyReply.server).toBe('envoy-app');
    expect(['backend-1', 'backend-2']).toContain(envoyToGo.server);
    expect(envoyToGo.peerUris).toEqual(['spiffe://default/envoy-app']);
    await expectNoNacks();
  });
});

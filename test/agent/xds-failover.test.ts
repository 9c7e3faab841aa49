/**
 * Several meshcp replicas behind one agent (SPEC §5 "replicas are equal", issue #12): the agent's
 * SDS stream and its xDS relay use the first address that answers and move to the next when the
 * replica goes away; the relay keeps an app's SotW stream open across the switch (re-sending the
 * app's subscriptions, node first) and ends a Delta stream with UNAVAILABLE. `bootstrap envoy`
 * lists every replica in the `meshcp_xds` cluster, each endpoint with its own TLS name check.
 *
 * Two in-process servers on the same config stand in for replicas here (each with its own data
 * directory, so each has its own mesh CA: which one signed a certificate tells where it came
 * from); test/etcd/failover.test.ts runs the real thing on etcd.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent/agent.js';
import { ReconnectBackoff, XdsAddressList, parseXdsAddresses } from '../../src/agent/xds-addresses.js';
import { XdsProxy } from '../../src/agent/xds-proxy.js';
import { createRootCa } from '../../src/ca/pki.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from '../../src/snapshot/types.js';
import { runCli } from '../cli/harness.js';
import { freePort } from '../helpers/echo-service.js';
import { get, validateBootstrap } from '../helpers/envoy-bootstrap.js';
import { FakeEnvoy, namesOf } from '../helpers/fake-envoy.js';
import { bufferLogger } from '../helpers/log-buffer.js';
import { waitFor } from '../helpers/wait.js';
import * as grpc from '@grpc/grpc-js';

const CONFIG = `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends: [{ name: ca-1, type: builtin }]
---
type: Dataplane
name: web-01
networking:
  address: 127.0.0.1
  inbound: [{ port: 18080, tags: { kuma.io/service: web } }]
  outbound: [{ port: 10001, tags: { kuma.io/service: web } }]
`;

const FAST = { initialMs: 200, maxMs: 1000 };

describe('an agent and its relay in front of several replicas', () => {
  let dir: string;
  const servers: RunningServer[] = [];
  const cleanup: Array<() => unknown> = [];

  /** A replica on the shared config; `close()` ends its streams as a shutdown does. */
  const replica = async (): Promise<RunningServer> => {
    const server = await startServer(
      { config: [path.join(dir, 'mesh.yaml')], dataDir: path.join(dir, `data-${servers.length}`), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'none', xdsPlaintext: true },
      silentLogger(),
    );
    servers.push(server);
    return server;
  };

  const onlineOn = async (server: RunningServer, name: string): Promise<boolean> => {
    const body = (await (await fetch(`${server.adminUrl}/api/inspect/dataplanes`)).json()) as { items: { name: string; status: string }[] };
    return body.items.some((row) => row.name === name && row.status === 'Online');
  };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-xds-failover-'));
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), CONFIG);
  });

  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn();
    for (const s of servers) await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps an app\'s SotW stream open when its replica shuts down: the subscriptions move on (past an unreachable address), same resources and versions', async () => {
    // given replicas A and B, an unreachable address between them, and an app on the relay talking to A
    const [a, b] = [await replica(), await replica()];
    const dead = `127.0.0.1:${await freePort()}`;
    const logs = bufferLogger('debug');
    const relay = new XdsProxy({ listenAddress: '127.0.0.1:0', upstreamAddress: [a.xdsAddress, dead, b.xdsAddress], credentials: grpc.credentials.createInsecure(), token: 'unused', mesh: 'default', log: logs.log, reconnect: FAST });
    const relayAddress = `127.0.0.1:${await relay.listen()}`;
    cleanup.push(() => relay.close());
    const app = new FakeEnvoy({ address: relayAddress, mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'default' } } });
    cleanup.push(() => app.close());
    app.subscribe(CLUSTER_TYPE, []);
    const fromA = await app.nextOf(CLUSTER_TYPE, 10_000);
    // (the node goes on the first request only, as grpc-js-xds does)
    app.send({ typeUrl: CLUSTER_TYPE, version: fromA.version, nonce: fromA.nonce, names: [], node: null });
    await waitFor('web-01 Online on A', () => onlineOn(a, 'web-01'));

    // when A shuts down, and the app changes its subscription meanwhile (with A's nonce, no node)
    const closing = a.close();
    app.send({ typeUrl: ENDPOINT_TYPE, names: namesOf(fromA).slice(0, 1), nonce: '', node: null });
    await closing;

    // then the app's stream is still open, and B answers both types, CDS at A's version
    const fromB = await app.nextOf(CLUSTER_TYPE, 15_000);
    expect(fromB.version).toBe(fromA.version);
    expect(namesOf(fromB)).toEqual(namesOf(fromA));
    const endpoints = await app.nextOf(ENDPOINT_TYPE, 15_000);
    expect(namesOf(endpoints)).toEqual(namesOf(fromA).slice(0, 1));
    expect(app.isClosed).toBe(false);
    await waitFor('web-01 Online on B', () => onlineOn(b, 'web-01'));
    expect(relay.currentUpstream()).toBe(b.xdsAddress);
    // and the move is logged, naming the address left and the next one
    expect(logs.text()).toContain('resuming the app\'s stream on the next address');
    expect(logs.text()).toContain(dead);
  }, 60_000);

  it('ends an app\'s Delta stream with UNAVAILABLE when its replica shuts down; the app\'s next stream is served by the next replica', async () => {
    // given
    const [a, b] = [await replica(), await replica()];
    const relay = new XdsProxy({ listenAddress: '127.0.0.1:0', upstreamAddress: [a.xdsAddress, b.xdsAddress], credentials: grpc.credentials.createInsecure(), token: 'unused', mesh: 'default', log: silentLogger(), reconnect: FAST });
    const relayAddress = `127.0.0.1:${await relay.listen()}`;
    cleanup.push(() => relay.close());
    const first = new FakeEnvoy({ address: relayAddress, mode: 'delta', node: { id: 'web-01', metadata: { mesh: 'default' } } });
    cleanup.push(() => first.close());
    first.subscribe(CLUSTER_TYPE, []);
    const fromA = await first.nextOf(CLUSTER_TYPE, 10_000);
    // when
    await a.close();
    // then
    const status = await first.closed(10_000);
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(status.details).toContain(a.xdsAddress);
    // and a new stream, as the client opens after UNAVAILABLE, reaches B
    const second = new FakeEnvoy({ address: relayAddress, mode: 'delta', node: { id: 'web-01', metadata: { mesh: 'default' } } });
    cleanup.push(() => second.close());
    second.subscribe(CLUSTER_TYPE, []);
    const fromB = await second.nextOf(CLUSTER_TYPE, 10_000);
    expect(fromB.resources.map((r) => `${r.name}@${r.version}`).sort()).toEqual(fromA.resources.map((r) => `${r.name}@${r.version}`).sort());
    await waitFor('web-01 Online on B', () => onlineOn(b, 'web-01'));
  }, 60_000);

  it('moves the agent\'s certificate stream to the next replica, which issues a new certificate', async () => {
    // given an agent on A then B (A first)
    const [a, b] = [await replica(), await replica()];
    const certDir = path.join(dir, 'agent-certs');
    const agent = startAgent({ name: 'web-01', mesh: 'default', token: 'unused', certDir, xdsAddress: [a.xdsAddress, b.xdsAddress], log: silentLogger(), reconnect: FAST });
    cleanup.push(() => agent.stop());
    await agent.ready;
    const caOf = (server: RunningServer): crypto.X509Certificate => new crypto.X509Certificate(server.controlPlane.identities.builtinCas().find((ca) => ca.backend === 'ca-1')!.certPem);
    const leaf = (): crypto.X509Certificate => new crypto.X509Certificate(fs.readFileSync(path.join(certDir, 'cert.pem')));
    const before = agent.serial();
    expect(leaf().verify(caOf(a).publicKey)).toBe(true);
    // when
    await a.close();
    // then the files hold a certificate from B (each test replica has its own CA)
    await waitFor('a certificate from B', () => agent.serial() !== before && leaf().verify(caOf(b).publicKey), { timeoutMs: 15_000 });
    await waitFor('web-01 Online on B', () => onlineOn(b, 'web-01'));
  }, 60_000);
});

describe('--xds-address lists', () => {
  it('takes repeated and comma-separated addresses, in order, without duplicates; refuses a malformed one naming it', () => {
    // given / when / then
    expect(parseXdsAddresses(['meshcp-1:5678,meshcp-2:5678', 'meshcp-3:5678', 'meshcp-1:5678'])).toEqual(['meshcp-1:5678', 'meshcp-2:5678', 'meshcp-3:5678']);
    expect(() => parseXdsAddresses(['meshcp-1:5678,meshcp-2'])).toThrow('--xds-address "meshcp-2" must be HOST:PORT');
    expect(() => parseXdsAddresses([' , '])).toThrow(/at least one HOST:PORT/);
  });

  it('moves to the next address only from the current one, round robin; an answered stream moves at once, unanswered attempts back off', () => {
    // given
    const switches: string[] = [];
    const list = new XdsAddressList(['a:1', 'b:1'], (from, to) => switches.push(`${from}>${to}`));
    const backoff = new ReconnectBackoff({ initialMs: 100, maxMs: 300 }, 2);
    // when / then
    expect(list.failed('a:1')).toBe('b:1');
    expect(list.failed('a:1')).toBe('b:1');
    expect(list.failed('b:1')).toBe('a:1');
    expect(switches).toEqual(['a:1>b:1', 'b:1>a:1']);
    expect([backoff.next(true), backoff.next(false), backoff.next(false), backoff.next(false)]).toEqual([0, 100, 200, 300]);
    backoff.answered();
    expect(backoff.next(false)).toBe(100);
    expect(new ReconnectBackoff({ initialMs: 100, maxMs: 300 }, 1).next(true)).toBe(100);
  });
});

describe('meshcp bootstrap with several replicas', () => {
  let dir: string;
  let caFile: string;
  let caPem: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-bootstrap-replicas-'));
    caPem = (await createRootCa({ commonName: 'xds CA', validitySeconds: 3600 })).certPem;
    caFile = path.join(dir, 'xds-ca.pem');
    fs.writeFileSync(caFile, caPem);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('envoy: every replica is an endpoint of meshcp_xds with its own TLS context (SNI and SAN for the name dialled there); a bootstrap Envoy accepts', async () => {
    // when
    const run = await runCli(['bootstrap', 'envoy', '--name', 'web-01', '--xds-address', 'meshcp-1:5678,meshcp-2:5679', '--xds-address', '10.0.0.3:5678', '--xds-ca-cert', caFile]);
    // then
    expect(run.stderr).toBe('');
    const bootstrap = YAML.parse(run.stdout) as Record<string, unknown>;
    expect(validateBootstrap(run.stdout)).toEqual({ ok: true });
    const cluster = get(bootstrap, 'static_resources', 'clusters', 0) as Record<string, unknown>;
    expect(cluster['type']).toBe('STRICT_DNS');
    const endpoints = get(cluster, 'load_assignment', 'endpoints', 0, 'lb_endpoints') as Record<string, unknown>[];
    expect(endpoints.map((e) => get(e, 'endpoint', 'address', 'socket_address'))).toEqual([
      { address: 'meshcp-1', port_value: 5678 },
      { address: 'meshcp-2', port_value: 5679 },
      { address: '10.0.0.3', port_value: 5678 },
    ]);
    const matches = cluster['transport_socket_matches'] as Record<string, unknown>[];
    const expected = [
      ['meshcp-1:5678', 'DNS', 'meshcp-1'],
      ['meshcp-2:5679', 'DNS', 'meshcp-2'],
      ['10.0.0.3:5678', 'IP_ADDRESS', '10.0.0.3'],
    ] as const;
    expected.forEach(([address, sanType, host], i) => {
      // each endpoint selects the context whose match is its own address
      expect(get(endpoints[i], 'metadata', 'filter_metadata', 'envoy.transport_socket_match')).toEqual({ xds_address: address });
      const match = matches.find((m) => (m['match'] as Record<string, unknown>)['xds_address'] === address);
      const context = get(match, 'transport_socket', 'typed_config') as Record<string, unknown>;
      expect(context['sni']).toBe(sanType === 'DNS' ? host : undefined);
      expect(get(context, 'common_tls_context', 'validation_context')).toEqual({ trusted_ca: { inline_string: caPem }, match_typed_subject_alt_names: [{ san_type: sanType, matcher: { exact: host } }] });
    });
    // and the cluster-wide context (for anything unmatched) is TLS too, never plaintext
    expect(get(cluster, 'transport_socket', 'typed_config', 'sni')).toBe('meshcp-1');
  });

  it('envoy with one address is unchanged: no per-endpoint contexts', async () => {
    const run = await runCli(['bootstrap', 'envoy', '--name', 'web-01', '--xds-address', '127.0.0.1:5678', '--xds-ca-cert', caFile]);
    const cluster = get(YAML.parse(run.stdout), 'static_resources', 'clusters', 0) as Record<string, unknown>;
    expect(cluster['type']).toBe('STATIC');
    expect(cluster['transport_socket_matches']).toBeUndefined();
    expect(get(cluster, 'load_assignment', 'endpoints', 0, 'lb_endpoints')).toEqual([{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 5678 } } } }]);
  });

  it('grpc takes one address, the agent relay, and says to list the replicas on the agent', async () => {
    const run = await runCli(['bootstrap', 'grpc', '--name', 'web', '--xds-address', '127.0.0.1:15010,127.0.0.1:15011']);
    expect(run.code).not.toBe(0);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('meshcp agent --xds-address 127.0.0.1:15010 --xds-address 127.0.0.1:15011');
  });
});

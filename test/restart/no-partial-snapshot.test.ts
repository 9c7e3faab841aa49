/**
 * Never publish a partial snapshot (issue #10; DESIGN.md "Protocol facts"): in SotW an empty
 * LDS/CDS means "delete everything", so a gateway that got an empty first response after a
 * control-plane restart would drop every listener and cluster: an outage at the edge.
 *
 * Over the real `serve` path, as users run it: `meshcp serve` is a child process, killed with
 * SIGKILL and started again on the same data directory. A gateway whose Route uses a
 * meshcp-issued server certificate and a mesh mTLS sidecar reconnect; the first response of
 * each type on the new stream must already be the complete config (the same versions the
 * previous run converged to), never a partial one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { decodeAny, FakeEnvoy, namesOf, type ReceivedResponse } from '../helpers/fake-envoy.js';
import { waitFor } from '../helpers/wait.js';

const BIN = path.resolve(__dirname, '../../dist/src/cli/main.js');
/** sha256 of nothing: the version of an empty resource set. */
const EMPTY_VERSION_PREFIX = 'e3b0c442';

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
  inbound: [{ port: 8080, servicePort: 18080, tags: { kuma.io/service: web, kuma.io/protocol: http } }]
  outbound: [{ port: 10001, tags: { kuma.io/service: web } }]
---
type: Gateway
name: edge
listeners: [{ port: 8443 }]
---
type: Route
name: shop
gateway: edge
host: shop.acme.org
routes: [{ prefix: /, route: { service: web } }]
---
type: TrafficPermission
name: edge-to-web
sources: [{ match: { kuma.io/service: edge } }]
destinations: [{ match: { kuma.io/service: web } }]
`;

interface Serve {
  readonly child: ChildProcess;
  readonly xdsAddress: string;
}

/** `meshcp serve` as a child process; resolves once it logs that it is serving. */
async function startServe(dir: string): Promise<Serve> {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--config', path.join(dir, 'config.yaml'), '--data-dir', path.join(dir, 'data'), '--xds-address', '127.0.0.1:0', '--admin-address', '127.0.0.1:0', '--auth', 'none', '--xds-plaintext'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = readline.createInterface({ input: child.stdout! });
  const xdsAddress = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`meshcp serve did not start: ${stderr}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`meshcp serve exited with ${String(code)}: ${stderr}`)));
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; xds?: string };
        if (entry.msg === 'meshcp is serving' && typeof entry.xds === 'string') {
          clearTimeout(timer);
          resolve(entry.xds);
        }
      } catch {
        // not a JSON log line
      }
    });
  });
  return { child, xdsAddress };
}

async function kill9(serve: Serve): Promise<void> {
  if (serve.child.exitCode !== null || serve.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => serve.child.once('exit', () => resolve()));
  serve.child.kill('SIGKILL');
  await exited;
}

interface FirstResponses {
  readonly client: FakeEnvoy;
  readonly cds: ReceivedResponse;
  readonly lds: ReceivedResponse;
}

/** An Envoy reconnecting: wildcard CDS and LDS on one ADS stream, ACKing as it goes; returns the first response of each. */
async function connect(address: string, id: string): Promise<FirstResponses> {
  const client = new FakeEnvoy({ address, mode: 'sotw', node: { id, metadata: { mesh: 'default', flavor: 'envoy' } } });
  client.subscribe(CLUSTER_TYPE, []);
  client.subscribe(LISTENER_TYPE, []);
  let cds: ReceivedResponse | undefined;
  let lds: ReceivedResponse | undefined;
  while (cds === undefined || lds === undefined) {
    const response = await client.next(20_000);
    if (response.typeUrl === CLUSTER_TYPE && cds === undefined) cds = response;
    if (response.typeUrl === LISTENER_TYPE && lds === undefined) lds = response;
    // As Envoy: a listener naming clusters comes only once their CDS is ACKed (make-before-break).
    client.ack(response);
  }
  return { client, cds, lds };
}

/** The secret names a response's resources refer to over SDS. */
function sdsNames(response: ReceivedResponse): string[] {
  const found = new Set<string>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value instanceof Uint8Array) return;
    else if (value !== null && typeof value === 'object') {
      const any = value as { type_url?: unknown; value?: unknown };
      // typed_config and the like are Any messages: look inside them as Envoy would.
      if (typeof any.type_url === 'string' && any.value instanceof Uint8Array) {
        walk(decodeAny(any.type_url, any.value));
        return;
      }
      for (const [key, inner] of Object.entries(value)) {
        if ((key === 'tls_certificate_sds_secret_configs' || key === 'validation_context_sds_secret_config') && inner !== null) {
          for (const config of Array.isArray(inner) ? inner : [inner]) found.add(String((config as { name: string }).name));
        }
        walk(inner);
      }
    }
  };
  response.resources.forEach((r) => walk(r.value));
  return [...found].sort();
}

function serverNames(lds: ReceivedResponse): string[] {
  return lds.resources.flatMap((r) => ((r.value['filter_chains'] ?? []) as { filter_chain_match?: { server_names?: string[] } }[]).flatMap((c) => c.filter_chain_match?.server_names ?? []));
}

describe('no partial snapshot after a control-plane restart (real serve, kill -9)', () => {
  let dir: string;
  let serve: Serve | undefined;
  const clients: FakeEnvoy[] = [];

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-restart-'));
    fs.writeFileSync(path.join(dir, 'config.yaml'), CONFIG);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    if (serve) await kill9(serve);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers the first CDS and LDS of a gateway with an issued certificate, and of a sidecar, with the complete config, before and after kill -9', async () => {
    const converged = new Map<string, { cds: string; lds: string }>();
    for (const run of [1, 2, 3]) {
      // given: a (re)started control plane on the same data directory
      serve = await startServe(dir);
      for (const id of ['edge', 'web-01']) {
        // when: the proxy connects
        const first = await connect(serve.xdsAddress, id);
        clients.push(first.client);
        // then: neither first response is the empty set (SotW: "delete everything")
        expect(first.cds.version.startsWith(EMPTY_VERSION_PREFIX), `${id} run ${run}: empty first CDS`).toBe(false);
        expect(first.lds.version.startsWith(EMPTY_VERSION_PREFIX), `${id} run ${run}: empty first LDS`).toBe(false);
        expect(first.cds.resources.length).toBeGreaterThan(0);
        expect(first.lds.resources.length).toBeGreaterThan(0);
        if (id === 'edge') {
          // and: the gateway's first LDS already serves the route's host with its issued certificate
          expect(serverNames(first.lds)).toContain('shop.acme.org');
          expect(sdsNames(first.lds).some((n) => n.includes('shop.acme.org'))).toBe(true);
        }
        // and: every secret the first LDS/CDS names is served at once (the identity and the issued certificate)
        const secrets = [...new Set([...sdsNames(first.cds), ...sdsNames(first.lds)])].sort();
        expect(secrets.length).toBeGreaterThan(0);
        first.client.subscribe(SECRET_TYPE, secrets);
        const sds = await first.client.nextOf(SECRET_TYPE, 20_000);
        expect(namesOf(sds).sort()).toEqual(secrets);
        // and: the first response is the config this proxy converges to, the same on every run
        // (versions are content hashes; certificates live in SDS only)
        const seen = converged.get(id);
        if (seen === undefined) converged.set(id, { cds: first.cds.version, lds: first.lds.version });
        else expect({ cds: first.cds.version, lds: first.lds.version }).toEqual(seen);
        // and: nothing else follows for CDS/LDS once the issued material arrived (it was complete)
        first.client.ack(sds);
        const barrier = await first.client.barrier(ENDPOINT_TYPE, 20_000);
        const later = first.client.received.filter((r) => (r.typeUrl === CLUSTER_TYPE || r.typeUrl === LISTENER_TYPE) && r !== first.cds && r !== first.lds);
        expect(later.map((r) => `${r.typeUrl}@${r.version}`)).toEqual([]);
        expect(barrier.typeUrl).toBe(ENDPOINT_TYPE);
      }
      for (const c of clients.splice(0)) c.close();
      // when: the control plane is killed (no graceful shutdown)
      await kill9(serve);
    }
    await waitFor('all runs done', () => converged.size === 2);
  });
});

/**
 * The real `serve` path for the xDS security tests (security issue #9): a server started from a
 * config file, its token signing key, captured logs, and raw xDS clients (test/helpers/fake-envoy.ts)
 * that read the workload identity a proxy is given.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { generateToken, loadOrCreateSigningKey } from '../../src/auth/token.js';
import { certificateInfo } from '../../src/ca/cert-info.js';
import { startServer, type RunningServer, type ServeOptions } from '../../src/cli/serve.js';
import { SECRET_TYPE } from '../../src/snapshot/types.js';
import { FakeEnvoy, type FakeEnvoyOptions, type ReceivedResponse } from '../helpers/fake-envoy.js';
import { bufferLogger } from '../helpers/log-buffer.js';

export interface TestServer {
  readonly server: RunningServer;
  readonly signingKey: Buffer;
  readonly logs: ReturnType<typeof bufferLogger>;
  token(name: string, mesh: string, validForSeconds?: number): string;
  /** A raw xDS client on this server; closed by `close()`. */
  client(options: Omit<FakeEnvoyOptions, 'address'>): FakeEnvoy;
  /** Closes every client opened so far. */
  closeClients(): void;
  close(): Promise<void>;
}

/** Two meshes with builtin mTLS, each with its own Dataplane `web-01` (SPEC §1: names are unique per mesh, not globally). */
export const TWO_MESHES = ['default', 'other']
  .map(
    (mesh) => `type: Mesh
name: ${mesh}
mtls:
  enabledBackend: ca-1
  backends: [{ name: ca-1, type: builtin }]
---
type: Dataplane
mesh: ${mesh}
name: web-01
networking:
  address: 127.0.0.1
  inbound: [{ port: 8080, servicePort: 18080, tags: { kuma.io/service: web, kuma.io/protocol: http } }]
`,
  )
  .join('---\n');

export async function startTestServer(config: string, auth: 'token' | 'none' = 'token', extra: Partial<ServeOptions> = {}): Promise<TestServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-xds-security-'));
  fs.writeFileSync(path.join(dir, 'config.yaml'), config);
  const logs = bufferLogger();
  const server = await startServer(
    { config: [path.join(dir, 'config.yaml')], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth, xdsPlaintext: true, ...extra },
    logs.log,
  );
  const signingKey = await loadOrCreateSigningKey(path.join(dir, 'data'));
  const clients: FakeEnvoy[] = [];
  return {
    server,
    signingKey,
    logs,
    token: (name, mesh, validForSeconds = 600) => generateToken({ name, mesh, validForSeconds }, signingKey),
    client: (options) => {
      const client = new FakeEnvoy({ ...options, address: server.xdsAddress });
      clients.push(client);
      return client;
    },
    closeClients: () => {
      for (const c of clients.splice(0)) c.close();
    },
    close: async () => {
      for (const c of clients) c.close();
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ReceivedIdentity {
  readonly secretName: string;
  readonly spiffeIds: readonly string[];
  readonly keyPem: string;
}

/** The workload identity secrets (`identity-cert:*`) in an SDS response: certificate SPIFFE URIs and private key. */
export function identitiesIn(response: ReceivedResponse): ReceivedIdentity[] {
  if (response.typeUrl !== SECRET_TYPE) return [];
  return response.resources
    .filter((r) => r.name.startsWith('identity-cert:'))
    .map((r) => {
      const tls = r.value['tls_certificate'] as { certificate_chain: { inline_string: string }; private_key: { inline_string: string } };
      return { secretName: r.name, spiffeIds: certificateInfo(tls.certificate_chain.inline_string).uris, keyPem: tls.private_key.inline_string };
    });
}

/**
 * Asks for `names` over SDS and returns the first identity received (ACKing answers that hold none
 * yet: the certificate is issued when the proxy connects). Rejects when the stream ends first or
 * nothing arrives before the client's deadline.
 */
export async function firstIdentity(client: FakeEnvoy, names: readonly string[], typeUrl: string | undefined = SECRET_TYPE): Promise<ReceivedIdentity> {
  client.subscribe(client.service === undefined ? typeUrl : undefined, names);
  for (;;) {
    const response = await client.nextOf(SECRET_TYPE, 10_000);
    const found = identitiesIn(response);
    client.ack(response);
    if (found.length > 0) {
      if (found.length > 1) throw new Error(`one identity expected, got ${found.map((f) => f.secretName).join(', ')}`);
      return found[0]!;
    }
  }
}

/**
 * The V8 heap in use after a full garbage collection, in bytes: what the process still holds.
 * `gc` is exposed for this process on first use (a V8 flag set at run time, then read from a new context).
 */
export function heapAfterGc(): number {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** The JSON log lines written since `from` (a length of `logs.text()`), parsed. */
export function logLinesSince(logs: { text(): string }, from: number): { msg: string; [key: string]: unknown }[] {
  return logs
    .text()
    .slice(from)
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { msg: string });
}

/**
 * Identities must not collide (SPEC §1 Mesh): a Gateway, or a Dataplane without inbounds, takes
 * its name as its identity's service, so one named like a mesh service would hold that service's
 * identity (Gateway `db` got `spiffe://default/db`). meshcp refuses the name when it is applied,
 * and a gateway that connects under it gets no identity. Through the real `serve` path.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, loadOrCreateSigningKey } from '../../src/auth/token.js';
import { certificateInfo } from '../../src/ca/cert-info.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { SECRET_TYPE } from '../../src/snapshot/types.js';
import { runCli } from '../cli/harness.js';
import { FakeEnvoy, namesOf } from '../helpers/fake-envoy.js';

const MESH = `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends: [{ name: ca-1, type: builtin, conf: { caCert: { keyType: ECDSA } } }]
---
type: Dataplane
name: db-1
networking:
  address: 127.0.0.1
  inbound: [{ port: 5432, servicePort: 15432, tags: { kuma.io/service: db } }]
`;

describe('identity collisions', () => {
  let dir: string;
  let server: RunningServer;
  const clients: FakeEnvoy[] = [];

  const apply = async (yaml: string): Promise<{ code: number; stderr: string }> => {
    const file = path.join(dir, `apply-${Math.random().toString(36).slice(2)}.yaml`);
    fs.writeFileSync(file, yaml);
    return runCli(['apply', '-f', file, '--server', server.adminUrl]);
  };

  /** The SPIFFE IDs `name` is issued when it connects with a valid token, if any. */
  const identityOf = async (name: string): Promise<readonly string[]> => {
    const token = generateToken({ name, mesh: 'default', validForSeconds: 600 }, await loadOrCreateSigningKey(path.join(dir, 'data')));
    const client = new FakeEnvoy({ address: server.xdsAddress, mode: 'sotw', node: { id: name, metadata: { mesh: 'default', token } } });
    clients.push(client);
    client.subscribe(SECRET_TYPE, ['identity-cert:default']);
    const response = await client.nextOf(SECRET_TYPE, 20_000);
    if (!namesOf(response).includes('identity-cert:default')) return [];
    const secret = response.resources[0]?.value as { tls_certificate?: { certificate_chain?: { inline_string?: string } } };
    return certificateInfo(secret.tls_certificate?.certificate_chain?.inline_string ?? '').uris;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-identity-'));
    server = await startServer({ config: [], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'token', xdsPlaintext: true }, silentLogger());
    const applied = await apply(MESH);
    expect(applied.stderr).not.toMatch(/error/i);
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a Gateway named like a mesh service, and the gateway connecting under that name gets no identity', async () => {
    // when
    const refused = await apply('type: Gateway\nname: db\nlisteners: [{ port: 8443 }]\n');
    // then
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('Gateway/db: name: a Gateway takes its name as its identity (spiffe://default/db), which is the identity of mesh service "db" (served by Dataplane/db-1): it would pass as that service; rename it (e.g. "db-gateway")');
    expect(await identityOf('db')).toEqual([]);
    // and: the service's own proxy still has it
    expect(await identityOf('db-1')).toEqual(['spiffe://default/db']);
  });

  it('refuses a Dataplane without inbounds named like a service, and a service added under a gateway\'s name', async () => {
    // given: a gateway with a distinct name is fine
    expect((await apply('type: Gateway\nname: edge\nlisteners: [{ port: 8443 }]\n')).code).toBe(0);
    expect(await identityOf('edge')).toEqual(['spiffe://default/edge']);
    // when: an outbound-only Dataplane named db, and a Dataplane serving "edge"
    const client = await apply('type: Dataplane\nname: db\nnetworking: { address: 127.0.0.1, outbound: [{ port: 10001, tags: { kuma.io/service: db } }] }\n');
    const service = await apply('type: Dataplane\nname: edge-impostor\nnetworking: { address: 127.0.0.1, inbound: [{ port: 9000, servicePort: 19000, tags: { kuma.io/service: edge } }] }\n');
    // then
    expect(client.code).not.toBe(0);
    expect(client.stderr).toContain('Dataplane/db: name: a Dataplane without inbounds takes its name as its identity (spiffe://default/db), which is the identity of mesh service "db"');
    expect(service.code).not.toBe(0);
    expect(service.stderr).toContain('Gateway/edge: name: a Gateway takes its name as its identity (spiffe://default/edge), which is the identity of mesh service "edge" (served by Dataplane/edge-impostor)');
    expect(await identityOf('edge-impostor')).toEqual([]);
  });

  it('refuses a --config file with the collision, naming it, at start', async () => {
    // given
    const file = path.join(dir, 'colliding.yaml');
    fs.writeFileSync(file, `${MESH}---\ntype: Gateway\nname: db\nlisteners: [{ port: 8443 }]\n`);
    // when
    const validated = await runCli(['validate', '-f', file]);
    // then
    expect(validated.code).not.toBe(0);
    expect(validated.stdout + validated.stderr).toContain('Gateway/db: name: a Gateway takes its name as its identity (spiffe://default/db)');
  });
});

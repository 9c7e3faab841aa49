/**
 * `route update NAME -f FILE` on the etcd store, where the update is a compare-and-swap over the
 * revision read (`?ifRevision=`): a bad descriptor gets the descriptor's own error, naming the
 * file and field, and none of the request's plumbing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { BASE_RESOURCES, runCli } from '../cli/harness.js';
import { startEtcd, type TestEtcd, etcdStoreFlags } from '../helpers/etcd.js';

describe('route update -f on the etcd store', () => {
  let etcd: TestEtcd;
  let server: RunningServer;
  let dir: string;
  const meshcp = (...args: string[]): ReturnType<typeof runCli> => runCli([...args, '--server', server.adminUrl]);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-route-etcd-'));
    etcd = await startEtcd();
    server = await startServer(
      {
        config: [],
        dataDir: path.join(dir, 'unused'),
        xdsAddress: '127.0.0.1:0',
        adminAddress: '127.0.0.1:0',
        auth: 'none',
        xdsPlaintext: true,
        ...etcdStoreFlags(etcd, etcd.url),
      },
      silentLogger(),
    );
    fs.writeFileSync(path.join(dir, 'base.yaml'), BASE_RESOURCES);
    expect((await meshcp('apply', '-f', path.join(dir, 'base.yaml'))).code).toBe(0);
    const created = await meshcp('route', 'create', 'ecommerce', '--host', 'ecommerce.acme.org', '--path-prefix', '/=shopping-cart');
    expect(created.code, created.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await etcd?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a descriptor with an unknown field: the field and the file, no internal error, and the route unchanged', async () => {
    // given: a typo in the descriptor
    const file = path.join(dir, 'route.yaml');
    fs.writeFileSync(file, 'host: ecommerce.acme.org\nroutes:\n- prefix: /\n  route:\n    servce: shopping-cart\n');
    const before = await meshcp('route', 'export', 'ecommerce');
    // when
    const run = await meshcp('route', 'update', 'ecommerce', '-f', file);
    // then
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('route.yaml');
    expect(run.stderr).toContain('servce');
    expect(run.stderr).not.toMatch(/ifRevision|exactly one document/);
    expect((await meshcp('route', 'export', 'ecommerce')).stdout).toBe(before.stdout);
  });

  it('the API still refuses ifRevision over several resources, saying so in its terms', async () => {
    // given
    const body = JSON.stringify({ files: [{ content: BASE_RESOURCES }] });
    // when
    const res = await fetch(`${server.adminUrl}/api/apply?ifRevision=1`, { method: 'POST', headers: { 'content-type': 'application/vnd.meshcp.files+json' }, body });
    // then
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: string[] }).errors).toEqual(['ifRevision (write only over the revision read) takes exactly one resource; this request has 2: send one resource per request']);
  });
});

/**
 * A mesh that does not exist is refused everywhere, with the nearest mesh, as Kuma refuses it:
 * `get -m defualt`, a Dataplane or TrafficPermission applied into it, a token for it, `validate`
 * offline, inspect. A Mesh and its resources may arrive in one apply; a Mesh that still has
 * resources is not deleted alone. Through the installed bin, as the user ran it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin } from './bin.js';
import { startHarness, type Harness } from './harness.js';

const DATAPLANE = (mesh: string): string => `type: Dataplane
mesh: ${mesh}
name: web-01
networking:
  address: 127.0.0.1
  inbound: [ { port: 8080, servicePort: 18080, tags: { kuma.io/service: web } } ]
`;

const PERMISSION = (mesh: string): string => `type: TrafficPermission
mesh: ${mesh}
name: web-to-backend
sources: [ { match: { kuma.io/service: web } } ]
destinations: [ { match: { kuma.io/service: backend } } ]
`;

describe('a mesh that does not exist', () => {
  let h: Harness;
  const meshcp = (...args: string[]): ReturnType<typeof runBin> => runBin([...args, '--server', h.url], { cwd: h.dir });
  const write = (name: string, text: string): string => h.file(name, text);

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.stop();
  });

  it('get -m defualt: refused with "did you mean", not an empty table', async () => {
    // when
    const list = await meshcp('get', 'dataplanes', '-m', 'defualt');
    const one = await meshcp('get', 'dataplane', 'web-01', '-m', 'defualt');
    const inspect = await meshcp('inspect', 'dataplanes', '-m', 'defualt');
    // then
    for (const run of [list, one, inspect]) {
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^Error: mesh "defualt" not found; did you mean "default"\? \(a mesh other than "default" needs a Mesh resource first: type: Mesh, name: defualt; it may come in the same apply\)\n$/);
    }
  });

  it('apply: a Dataplane or TrafficPermission in a mesh without a Mesh resource is refused, naming file, resource and field', async () => {
    // given
    const dataplane = write('dp.yaml', DATAPLANE('prod'));
    const permission = write('tp.yaml', PERMISSION('prod'));
    // when
    const dp = await meshcp('apply', '-f', dataplane);
    const tp = await meshcp('apply', '-f', permission);
    // then: nothing stored
    expect(dp.code).toBe(1);
    expect(dp.stderr).toMatch(/^Error: .*dp\.yaml#1 Dataplane\/web-01: mesh: mesh "prod" not found; meshes: default \(a mesh other than "default" needs a Mesh resource first/);
    expect(tp.code).toBe(1);
    expect(tp.stderr).toMatch(/tp\.yaml#1 TrafficPermission\/web-to-backend: mesh: mesh "prod" not found/);
    expect((await meshcp('get', 'meshes')).stdout).not.toMatch(/prod/);
  });

  it('a Mesh and its resources together in one apply are accepted; then a typo of that mesh gets the suggestion', async () => {
    // given
    const both = write('prod.yaml', `type: Mesh\nname: prod\n---\n${DATAPLANE('prod')}---\n${PERMISSION('prod')}`);
    // when
    const applied = await meshcp('apply', '-f', both);
    const typo = await meshcp('apply', '-f', write('typo.yaml', PERMISSION('prdo')));
    // then
    expect(applied).toMatchObject({ code: 0, stdout: 'Mesh/prod created\nDataplane/web-01 created\nTrafficPermission/web-to-backend created\n' });
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/TrafficPermission\/web-to-backend: mesh: mesh "prdo" not found; did you mean "prod"\?/);
  });

  it('token generate for an unknown mesh is refused by the control plane', async () => {
    // when
    const refused = await meshcp('token', 'generate', '--name', 'web-01', '--mesh', 'prdo');
    const accepted = await meshcp('token', 'generate', '--name', 'web-01', '--mesh', 'prod');
    // then
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^Error: mesh "prdo" not found; did you mean "prod"\?/);
    expect(accepted.code).toBe(0);
    expect(accepted.stdout.trim().split('.')).toHaveLength(3);
  });

  it('delete mesh: refused while resources remain in it, then allowed', async () => {
    // when
    const refused = await meshcp('delete', 'mesh', 'prod');
    await meshcp('delete', 'trafficpermission', 'web-to-backend', '-m', 'prod');
    await meshcp('delete', 'dataplane', 'web-01', '-m', 'prod');
    const deleted = await meshcp('delete', 'mesh', 'prod');
    // then
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/cannot delete Mesh\/prod: Dataplane\/web-01: mesh: mesh "prod" not found/);
    expect(deleted).toMatchObject({ code: 0, stdout: 'Mesh/prod deleted\n' });
  });

  it('validate -f offline says the same', async () => {
    // given
    const file = write('offline.yaml', DATAPLANE('prod'));
    // when
    const run = await runBin(['validate', '-f', file], { cwd: h.dir });
    // then
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Error: Dataplane\/web-01: mesh: mesh "prod" not found; meshes: default/);
    expect(run.stderr).toMatch(/Error: 1 error\(s\) in \S*offline\.yaml\n$/);
  });
});

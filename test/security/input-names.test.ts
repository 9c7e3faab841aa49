/**
 * Security issue #9, hole 7: a name of 233+ characters passed validation, then broke the store
 * (ENAMETOOLONG on the temporary file): later writes failed with 500 and the server no longer
 * started. Names are at most 253 characters (as Kubernetes), and the store's file names are
 * bounded whatever the name's length.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { relativePath } from '../../src/store/file-store.js';
import { errorsOf, rawRequest, startTestServer, type TestServer } from './admin-server.js';

/** A valid DNS-1123 name of exactly `n` characters. */
function nameOf(n: number, seed = 'a'): string {
  const labels: string[] = [];
  let length = 0;
  while (length < n) {
    const room = n - length - (labels.length > 0 ? 1 : 0);
    const size = Math.min(63, room);
    labels.push(`${seed}${'b'.repeat(Math.max(0, size - 1))}`.slice(0, size));
    length += size + (labels.length > 1 ? 1 : 0);
  }
  const name = labels.join('.');
  if (name.length !== n) throw new Error(`nameOf(${n}) built ${name.length} characters`);
  return name;
}

const post = (t: TestServer, body: string) => rawRequest(t.port, { method: 'POST', path: '/api/apply', headers: { 'content-type': 'application/yaml' }, body });

describe('long names', () => {
  let t: TestServer | undefined;

  afterEach(async () => {
    if (!t) return;
    await t.stop();
    fs.rmSync(t.dir, { recursive: true, force: true });
    t = undefined;
  });

  it('refuses a 254-character name with a clear error and writes nothing', async () => {
    // given
    t = await startTestServer();
    const name = nameOf(254);

    // when
    const reply = await post(t, `type: Mesh\nname: ${name}\n`);

    // then
    expect(reply.status).toBe(400);
    expect(errorsOf(reply)).toEqual([`Mesh/"${name.slice(0, 40)}…": name: name is 254 characters long; at most 253 are allowed (as for Kubernetes names)`]);
    expect(fs.existsSync(path.join(t.dataDir, 'meshes'))).toBe(false);
  });

  it('round-trips 253-character names, in a batch too, and restarts on that data dir', async () => {
    // given: a 253-character mesh holding a 253-character service, and a 232-character one (the old layout's longest)
    t = await startTestServer();
    const mesh = nameOf(253, 'm');
    const service = nameOf(253, 's');
    const plain = nameOf(232, 'p');
    const batch = `type: Mesh\nname: ${mesh}\n---\ntype: Service\nmesh: ${mesh}\nname: ${service}\nendpoints: [{ address: 127.0.0.1, port: 9100 }]\n---\ntype: Mesh\nname: ${plain}\n`;

    // when
    const applied = await post(t, batch);
    const single = await post(t, `type: Service\nmesh: ${mesh}\nname: ${nameOf(253, 'x')}\nendpoints: [{ address: 127.0.0.1, port: 9101 }]\n`);

    // then: created, and every file name fits (with room for the temporary file's suffix)
    expect(applied.status).toBe(200);
    expect((applied.json['applied'] as { outcome: string }[]).map((a) => a.outcome)).toEqual(['created', 'created', 'created']);
    expect(single.status).toBe(200);
    const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [e.name, ...walk(path.join(d, e.name))] : [e.name]));
    for (const entry of walk(t.dataDir)) expect(entry.length + '.tmp-'.length + 13).toBeLessThanOrEqual(255);
    // and: names the old layout could store keep their paths, so existing data dirs load as they are
    expect(relativePath({ type: 'Mesh', mesh: '', name: plain })).toBe(path.join('meshes', `${plain}.yaml`));
    expect(fs.existsSync(path.join(t.dataDir, 'meshes', `${plain}.yaml`))).toBe(true);

    // when: restarted on the same data directory
    t = await t.restart();

    // then: everything is there, under its full name
    const meshes = await rawRequest(t.port, { method: 'GET', path: '/api/meshes' });
    const services = await rawRequest(t.port, { method: 'GET', path: `/api/services?mesh=${mesh}` });
    expect(meshes.status).toBe(200);
    expect((meshes.json['items'] as { resource: { name: string } }[]).map((i) => i.resource.name).sort()).toEqual([mesh, plain].sort());
    expect((services.json['items'] as { resource: { name: string } }[]).map((i) => i.resource.name).sort()).toEqual([service, nameOf(253, 'x')].sort());
    // and: later writes still work, and delete removes the hashed file
    const deleted = await rawRequest(t.port, { method: 'DELETE', path: `/api/services/${service}?mesh=${mesh}` });
    expect(deleted.status).toBe(200);
    t = await t.restart();
    const after = await rawRequest(t.port, { method: 'GET', path: `/api/services?mesh=${mesh}` });
    expect((after.json['items'] as { resource: { name: string } }[]).map((i) => i.resource.name)).toEqual([nameOf(253, 'x')]);
  });

  it('refuses to load a document filed under another name: it is skipped and reported, the rest is served', async () => {
    // given: a stored mesh copied to the path of a different name
    t = await startTestServer();
    expect((await post(t, 'type: Mesh\nname: real\n')).status).toBe(200);
    const dataDir = t.dataDir;
    await t.stop();
    fs.copyFileSync(path.join(dataDir, 'meshes', 'real.yaml'), path.join(dataDir, 'meshes', 'other.yaml'));

    // when
    t = await startTestServer({ dir: t.dir });
    // then
    expect(t.server.sources.served()?.resources.map((r) => r.name)).toEqual(['real']);
    expect([...(t.server.store.problems?.().values() ?? [])].map((p) => p.reason)).toEqual([expect.stringMatching(/holds Mesh\/real, which belongs at .*real\.yaml/)]);
    expect(t.logText()).toMatch(/other\.yaml[^\n]*a stored record does not validate; it is skipped/);
  });
});

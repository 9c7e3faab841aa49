import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Resource, RouteResource, SecretResource } from '../../src/api/types.js';
import { FileStore } from '../../src/store/file-store.js';
import type { StoredResource } from '../../src/store/store.js';

const route = (name: string, host = `${name}.acme.org`): RouteResource => ({
  type: 'Route',
  name,
  mesh: 'default',
  host,
  routes: [{ prefix: '/', route: { service: 'shopping-cart' } }],
});

const secret: SecretResource = { type: 'Secret', name: 'my-tls', mesh: 'default', secretType: 'tls', cert: 'CERT', key: 'KEY' };

class SimulatedCrash extends Error {}

function hosts(list: readonly StoredResource[]): string[] {
  return list.flatMap((s) => (s.resource.type === 'Route' ? [`${s.resource.name}=${s.resource.host}`] : []));
}

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

describe('FileStore', () => {
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-store-'));
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps resources across reopening, one file per resource', async () => {
    // given
    const store = await FileStore.open(dir);
    // when
    await store.apply([
      { op: 'put', resource: route('a') },
      { op: 'put', resource: { type: 'Mesh', name: 'default' } },
    ]);
    await store.close();
    const reopened = await FileStore.open(dir);
    // then
    expect(reopened.current().map((s) => s.resource)).toEqual([{ type: 'Mesh', name: 'default' }, route('a')]);
    expect(fs.existsSync(path.join(dir, 'resources', 'default', 'routes', 'a.yaml'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'meshes', 'default.yaml'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'journal.yaml'))).toBe(false);
    await reopened.close();
  });

  it('writes secrets readable by the owner only', async () => {
    // given
    const store = await FileStore.open(dir);
    // when
    await store.put(secret);
    // then
    const mode = fs.statSync(path.join(dir, 'resources', 'default', 'secrets', 'my-tls.yaml')).mode & 0o777;
    expect(mode).toBe(0o600);
    await store.close();
  });

  it('reports created, updated, unchanged and deleted; keeps the creation time', async () => {
    // given
    let now = new Date('2030-01-01T00:00:00Z');
    const store = await FileStore.open(dir, { now: () => now });
    // when
    const created = await store.put(route('a'));
    now = new Date('2030-01-02T00:00:00Z');
    const unchanged = await store.put(route('a'));
    const updated = await store.put(route('a', 'other.acme.org'));
    const deleted = await store.delete({ type: 'Route', mesh: 'default', name: 'a' });
    const absent = await store.delete({ type: 'Route', mesh: 'default', name: 'a' });
    // then
    expect([created, unchanged, updated, deleted, absent].map((c) => c.outcome)).toEqual(['created', 'unchanged', 'updated', 'deleted', 'absent']);
    await store.put(route('b'));
    const b = await store.get({ type: 'Route', mesh: 'default', name: 'b' });
    expect(b?.creationTime).toBe('2030-01-02T00:00:00.000Z');
    await store.close();
  });

  it('keeps creationTime when updated and changes modificationTime', async () => {
    // given
    let now = new Date('2030-01-01T00:00:00Z');
    const store = await FileStore.open(dir, { now: () => now });
    await store.put(route('a'));
    // when
    now = new Date('2030-02-01T00:00:00Z');
    await store.put(route('a', 'new.acme.org'));
    // then
    const a = await store.get({ type: 'Route', mesh: 'default', name: 'a' });
    expect(a?.creationTime).toBe('2030-01-01T00:00:00.000Z');
    expect(a?.modificationTime).toBe('2030-02-01T00:00:00.000Z');
    await store.close();
  });

  it('ignores and removes temporary files left by a crash', async () => {
    // given
    const store = await FileStore.open(dir);
    await store.put(route('a'));
    await store.close();
    const routesDir = path.join(dir, 'resources', 'default', 'routes');
    fs.writeFileSync(path.join(routesDir, '.tmp-b.yaml.123abc'), 'half a wri');
    // when
    const reopened = await FileStore.open(dir);
    // then
    expect(hosts(reopened.current())).toEqual(['a=a.acme.org']);
    expect(fs.readdirSync(routesDir)).toEqual(['a.yaml']);
    await reopened.close();
  });

  it('leaves the old content when a crash happens between write and rename', async () => {
    // given
    let crashNow = false;
    const crashing = await FileStore.open(dir, {
      hooks: {
        beforeRename: (target) => {
          if (target.endsWith('a.yaml') && crashNow) throw new SimulatedCrash('crash');
        },
      },
    });
    await crashing.put(route('a', 'old.acme.org'));
    // when
    crashNow = true;
    await expect(crashing.put(route('a', 'new.acme.org'))).rejects.toThrow(SimulatedCrash);
    // then
    expect(hosts(crashing.current())).toEqual(['a=old.acme.org']);
    expect(filesUnder(path.join(dir, 'resources', 'default', 'routes')).some((f) => f.startsWith('.tmp-'))).toBe(true);
    await crashing.close(); // the crashed process is gone, and its lock with it
    const reopened = await FileStore.open(dir);
    expect(hosts(reopened.current())).toEqual(['a=old.acme.org']);
    expect(filesUnder(path.join(dir, 'resources', 'default', 'routes'))).toEqual(['a.yaml']);
    await reopened.close();
  });

  it('applies nothing of a batch that crashed before its journal was committed', async () => {
    // given
    const crashing = await FileStore.open(dir, {
      hooks: {
        beforeRename: (target) => {
          if (target.endsWith('journal.yaml')) throw new SimulatedCrash('crash');
        },
      },
    });
    // when
    await expect(crashing.apply([{ op: 'put', resource: route('a') }, { op: 'put', resource: route('b') }])).rejects.toThrow(SimulatedCrash);
    // then
    expect(crashing.current()).toEqual([]);
    await crashing.close();
    const reopened = await FileStore.open(dir);
    expect(reopened.current()).toEqual([]);
    await reopened.close();
  });

  it('completes a committed batch after a crash in the middle of writing its files', async () => {
    // given
    const original = await FileStore.open(dir);
    await original.put(route('c'));
    await original.close();
    let written = 0;
    const crashing = await FileStore.open(dir, {
      hooks: {
        beforeRename: (target) => {
          if (!target.endsWith('journal.yaml') && ++written === 2) throw new SimulatedCrash('crash');
        },
      },
    });
    // when: the first file is written, the crash hits the second
    await crashing.apply([
      { op: 'put', resource: route('a') },
      { op: 'put', resource: route('b') },
      { op: 'delete', ref: { type: 'Route', mesh: 'default', name: 'c' } },
    ]);
    expect(fs.existsSync(path.join(dir, 'journal.yaml'))).toBe(true);
    await crashing.close(); // the crashed process is gone, and its lock with it
    // then: reopening (the restart after the crash) finishes the batch
    const reopened = await FileStore.open(dir);
    expect(hosts(reopened.current())).toEqual(['a=a.acme.org', 'b=b.acme.org']);
    expect(fs.existsSync(path.join(dir, 'journal.yaml'))).toBe(false);
    await reopened.close();
  });

  it('completes a committed batch whose files were not written at all', async () => {
    // given
    const crashing = await FileStore.open(dir, {
      hooks: {
        afterJournal: () => {
          throw new SimulatedCrash('crash');
        },
      },
    });
    // when
    await crashing.apply([{ op: 'put', resource: route('a') }, { op: 'put', resource: secret }]);
    await crashing.close();
    // then
    const reopened = await FileStore.open(dir);
    expect(reopened.current().map((s) => s.resource.name)).toEqual(['a', 'my-tls']);
    await reopened.close();
  });

  it('emits the whole list once per committed batch', async () => {
    // given
    const store = await FileStore.open(dir);
    const seen: (readonly StoredResource[])[] = [];
    const subscription = store.watch().subscribe((list) => seen.push(list));
    // when
    await store.apply([{ op: 'put', resource: route('a') }, { op: 'put', resource: route('b') }]);
    await store.put(route('a'));
    // then: the initial (empty) list, then one emission for the batch; nothing for an unchanged put
    expect(seen.map((list) => list.length)).toEqual([0, 2]);
    subscription.unsubscribe();
    await store.close();
  });

  it('refuses two changes of one resource in one batch', async () => {
    // given
    const store = await FileStore.open(dir);
    // when / then
    await expect(store.apply([{ op: 'put', resource: route('a') }, { op: 'put', resource: route('a', 'x.acme.org') }])).rejects.toThrow(/twice/);
    expect(store.current()).toEqual([]);
    await store.close();
  });

  it('opens a store with a damaged record: skips that record, reports it, keeps the others', async () => {
    // given
    const store = await FileStore.open(dir);
    await store.put(route('a'));
    await store.put(route('b'));
    await store.close();
    fs.writeFileSync(path.join(dir, 'resources', 'default', 'routes', 'a.yaml'), 'resource:\n  type: Route\n  name: a\n  hots: x\n');
    // when
    const reopened = await FileStore.open(dir);
    // then
    expect(reopened.current().map((s) => s.resource.name)).toEqual(['b']);
    const problem = reopened.problems().get(path.join('resources', 'default', 'routes', 'a.yaml'));
    expect(problem).toMatchObject({ key: 'Route/default/a', held: false });
    expect(problem?.reason).toMatch(/unknown field "hots", did you mean "host"/);
    // and: writing the resource again replaces the bad file, and the problem goes
    await reopened.put(route('a'));
    expect(reopened.problems().size).toBe(0);
    await reopened.close();
  });

  it('refuses a second store on the same directory while the first is open', async () => {
    // given
    const first = await FileStore.open(dir);
    // when / then
    await expect(FileStore.open(dir)).rejects.toThrow(new RegExp(`data directory ${dir} is in use by another meshcp serve \\(pid ${process.pid}`));
    await first.close();
    const second = await FileStore.open(dir);
    await second.close();
  });

  it('keeps blobs private, and creates only once with ifAbsent', async () => {
    // given
    const store = await FileStore.open(dir);
    // when
    const first = await store.putBlob('ca/default/ca-1.key', 'KEY-1', { ifAbsent: true });
    const second = await store.putBlob('ca/default/ca-1.key', 'KEY-2', { ifAbsent: true });
    // then
    expect([first, second]).toEqual([true, false]);
    expect((await store.getBlob('ca/default/ca-1.key'))?.toString()).toBe('KEY-1');
    expect(fs.statSync(path.join(dir, 'blobs', 'ca', 'default', 'ca-1.key')).mode & 0o777).toBe(0o600);
    await store.putBlob('ca/default/ca-1.key', 'KEY-3');
    expect((await store.getBlob('ca/default/ca-1.key'))?.toString()).toBe('KEY-3');
    expect(await store.deleteBlob('ca/default/ca-1.key')).toBe(true);
    expect(await store.getBlob('ca/default/ca-1.key')).toBeUndefined();
    await expect(store.putBlob('../escape', 'x')).rejects.toThrow(/invalid blob name/);
    await store.close();
  });

  it('serializes concurrent writers', async () => {
    // given
    const store = await FileStore.open(dir);
    const resources: Resource[] = Array.from({ length: 20 }, (_, i) => route(`r${i}`));
    // when
    await Promise.all(resources.map((r) => store.put(r)));
    // then
    await store.close();
    const reopened = await FileStore.open(dir);
    expect(reopened.current()).toHaveLength(20);
    await reopened.close();
  });
});

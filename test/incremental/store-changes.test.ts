/**
 * The store and the sources emit changes, not whole lists (issue #11): a stored change is
 * checked by looking at what it touches, passed on as a change, and the control plane indexes,
 * translates and prunes only for what it names. Counters, never time. Real FileStore, real
 * ResourceSources, real ControlPlane.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { firstValueFrom, type Subscription } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ResourceChange } from '../../src/api/resource-set.js';
import type { DataplaneResource, Resource, ServiceResource } from '../../src/api/types.js';
import { silentLogger } from '../../src/log/logger.js';
import { ResourceApi } from '../../src/admin/resource-api.js';
import { ControlPlane } from '../../src/runtime/control-plane.js';
import { FileConfigSource } from '../../src/sources/config-files.js';
import { ResourceSources } from '../../src/sources/resource-sources.js';
import { FileStore } from '../../src/store/file-store.js';
import type { StoreEvent } from '../../src/store/store.js';
import { waitFor } from '../helpers/wait.js';

const DATAPLANES = 300;

function dataplane(i: number): DataplaneResource {
  return {
    type: 'Dataplane',
    name: `dp-${i}`,
    mesh: 'default',
    networking: { address: `10.0.${i >> 8}.${i & 255}`, inbound: [{ port: 8080, tags: { 'kuma.io/service': `svc-${i % 5}` } }], outbound: [{ port: 10000, tags: { 'kuma.io/service': 'ext' } }] },
  };
}

function ext(address: string): ServiceResource {
  return { type: 'Service', name: 'ext', mesh: 'default', endpoints: [{ address, port: 443 }] };
}

describe('store → sources → control plane as changes (issue #11)', () => {
  let dir: string;
  let store: FileStore;
  let config: FileConfigSource;
  let sources: ResourceSources;
  let controlPlane: ControlPlane;
  const subscriptions: Subscription[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-store-changes-'));
    store = await FileStore.open(path.join(dir, 'data'));
    await store.apply([{ op: 'put', resource: { type: 'Mesh', name: 'default' } as Resource }, ...Array.from({ length: DATAPLANES }, (_, i) => ({ op: 'put' as const, resource: dataplane(i) })), { op: 'put', resource: ext('10.9.0.1') }]);
    config = new FileConfigSource([], silentLogger());
    await config.start();
    sources = new ResourceSources(config, store, silentLogger());
    sources.start();
    controlPlane = new ControlPlane({ changes: sources.changes, log: silentLogger() });
    await firstValueFrom(controlPlane.model);
  });

  afterEach(async () => {
    for (const s of subscriptions.splice(0)) s.unsubscribe();
    await controlPlane.close();
    sources.stop();
    config.stop();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the store emits each batch as its puts and deletes, after a reset with everything', async () => {
    const events: StoreEvent[] = [];
    subscriptions.push(store.changes().subscribe((e) => events.push(e)));
    expect(events).toHaveLength(1);
    expect(events[0]?.reset).toHaveLength(DATAPLANES + 2);
    await store.apply([{ op: 'put', resource: ext('10.9.0.2') }, { op: 'delete', ref: { type: 'Dataplane', mesh: 'default', name: 'dp-7' } }]);
    expect(events).toHaveLength(2);
    expect(events[1]?.reset).toBeUndefined();
    expect(events[1]?.puts.map((s) => s.resource.name)).toEqual(['ext']);
    expect(events[1]?.deletes).toEqual([{ type: 'Dataplane', mesh: 'default', name: 'dp-7' }]);
  });

  it('an endpoint change is checked, indexed and translated as one resource, and passed on as a change of one mesh', async () => {
    const changes: ResourceChange[] = [];
    subscriptions.push(sources.changes.subscribe((c) => changes.push(c)));
    const before = { ...sources.counters };
    const indexed = controlPlane.identities.resourcesIndexed;
    const translations = controlPlane.recompute().translations['default'] ?? 0;
    // when
    await store.apply([{ op: 'put', resource: ext('10.9.0.3') }]);
    await waitFor('the change reaches the model', async () => (await firstValueFrom(controlPlane.model)).meshes.get('default')?.services.get('ext')?.endpoints[0]?.address === '10.9.0.3');
    // then: checked alone, one resource looked at
    expect(sources.counters.incrementalChecks).toBe(before.incrementalChecks + 1);
    expect(sources.counters.fullChecks).toBe(before.fullChecks);
    expect(sources.counters.resourcesChecked).toBe(before.resourcesChecked + 1);
    // passed on as a change: the Service put, the version it replaced, one mesh
    const change = changes.at(-1);
    expect(change?.reset).toBe(false);
    expect(change?.puts.map((r) => `${r.type}/${r.name}`)).toEqual(['Service/ext']);
    expect(change?.replaced.map((r) => (r?.type === 'Service' ? r.endpoints[0]?.address : undefined))).toEqual(['10.9.0.1']);
    expect([...(change?.meshes ?? [])]).toEqual(['default']);
    // the identity index looked at the old and the new version only; one translation (the endpoint fast path)
    expect(controlPlane.identities.resourcesIndexed - indexed).toBe(2);
    expect((controlPlane.recompute().translations['default'] ?? 0) - translations).toBe(1);
    // what is served is what the store holds
    expect(sources.served()?.resources.find((r) => r.name === 'ext')).toMatchObject({ endpoints: [{ address: '10.9.0.3' }] });
  });

  it('a change with an error takes the whole-set check, is rejected, and the last good set keeps being served', async () => {
    const before = { ...sources.counters };
    // when: a Route naming a service nobody provides (and no Gateway)
    await store.apply([{ op: 'put', resource: { type: 'Route', name: 'r', mesh: 'default', host: 'a.example.com', routes: [{ prefix: '/', route: { service: 'nope' } }] } as unknown as Resource }]);
    await waitFor('rejected', () => sources.lastErrors.length > 0);
    expect(sources.counters.fullChecks).toBe(before.fullChecks + 1);
    expect(sources.served()?.resources.some((r) => r.type === 'Route')).toBe(false);
    // when: it is removed again, the set is served as before and checked as a whole once more (an error was pending)
    await store.delete({ type: 'Route', mesh: 'default', name: 'r' });
    await waitFor('accepted', () => sources.lastErrors.length === 0);
    expect(sources.counters.fullChecks).toBe(before.fullChecks + 2);
    // then: the next change goes alone again
    await store.apply([{ op: 'put', resource: ext('10.9.0.4') }]);
    await waitFor('served', () => sources.served()?.resources.some((r) => r.type === 'Service' && r.endpoints[0]?.address === '10.9.0.4') ?? false);
    expect(sources.counters.incrementalChecks).toBe(before.incrementalChecks + 1);
  });

  it('an API apply is checked on what it touches too; one with an error is worded by the whole-set check', async () => {
    const api = new ResourceApi({ store, sources });
    const before = { ...sources.counters };
    // when: an endpoint change through the admin API
    const moved = await api.apply({ files: [{ content: 'type: Service\nname: ext\nendpoints: [{ address: 10.9.0.5, port: 443 }]\n' }] });
    // then: applied without a whole-set check (neither by the API nor by the sources)
    expect(moved).toMatchObject({ ok: true, warnings: [] });
    expect(sources.counters.apiChecksAlone).toBe(before.apiChecksAlone + 1);
    expect(sources.counters.wholeSetChecks).toBe(before.wholeSetChecks);
    await waitFor('served', () => sources.served()?.resources.some((r) => r.type === 'Service' && r.endpoints[0]?.address === '10.9.0.5') ?? false);
    expect(sources.counters.wholeSetChecks).toBe(before.wholeSetChecks);
    // when: a Route naming a service nobody provides
    const bad = await api.apply({ files: [{ content: 'type: Route\nname: r\nhost: a.example.com\nroutes: [{ prefix: /, route: { service: nope } }]\n' }] });
    // then: refused, with the whole-set check's errors, and nothing stored
    expect(bad.ok).toBe(false);
    expect(bad.ok ? [] : bad.errors.join('\n')).toMatch(/Route\/r: routes\[0\]\.route\.service: service "nope" not found in mesh "default"/);
    expect(sources.counters.wholeSetChecks).toBeGreaterThan(before.wholeSetChecks);
    expect(store.current().some((s) => s.resource.type === 'Route')).toBe(false);
    // when: a Dataplane is deleted through the API: checked alone as well
    const checks = sources.counters.wholeSetChecks;
    expect(await api.delete({ type: 'Dataplane', mesh: 'default', name: 'dp-9' })).toMatchObject({ ok: true });
    expect(sources.counters.wholeSetChecks).toBe(checks);
  });

  it('removing a Dataplane is a change of one resource: its proxy is no longer defined', async () => {
    const before = { ...sources.counters };
    await store.delete({ type: 'Dataplane', mesh: 'default', name: 'dp-3' });
    await waitFor('gone from the model', async () => !(await firstValueFrom(controlPlane.model)).meshes.get('default')?.dataplanes.has('dp-3'));
    expect(sources.counters.incrementalChecks).toBe(before.incrementalChecks + 1);
    expect(sources.served()?.resources.some((r) => r.name === 'dp-3')).toBe(false);
    expect(sources.served()?.resources.filter((r) => r.type === 'Dataplane')).toHaveLength(DATAPLANES - 1);
  });
});

describe('--config files → sources as changes (issue #11)', () => {
  let dir: string;
  let file: string;
  let store: FileStore;
  let config: FileConfigSource;
  let sources: ResourceSources;

  const yaml = (address: string, extra = ''): string =>
    `type: Mesh\nname: default\n---\ntype: Service\nname: ext\nendpoints: [{ address: ${address}, port: 443 }]\n---\ntype: Dataplane\nname: dp-1\nnetworking:\n  address: 10.0.0.1\n  inbound: [{ port: 8080, tags: { kuma.io/service: web } }]\n${extra}`;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-file-changes-'));
    file = path.join(dir, 'config.yaml');
    fs.writeFileSync(file, yaml('10.9.0.1'));
    store = await FileStore.open(path.join(dir, 'data'));
    config = new FileConfigSource([file], silentLogger());
    await config.start({ watch: false });
    sources = new ResourceSources(config, store, silentLogger());
    sources.start();
  });

  afterEach(async () => {
    sources.stop();
    config.stop();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an edit that keeps every resource in place is checked on what it changed; adding a resource takes the whole-set check', async () => {
    const changes: ResourceChange[] = [];
    const subscription = sources.changes.subscribe((c) => changes.push(c));
    const before = { ...sources.counters };
    // when: an endpoint edited in the file
    fs.writeFileSync(file, yaml('10.9.0.2'));
    await config.reload();
    // then: one resource checked, passed on as that Service alone
    expect(sources.counters.incrementalChecks).toBe(before.incrementalChecks + 1);
    expect(sources.counters.fullChecks).toBe(before.fullChecks);
    expect(sources.counters.resourcesChecked).toBe(before.resourcesChecked + 1);
    expect(changes.at(-1)?.puts.map((r) => `${r.type}/${r.name}`)).toEqual(['Service/ext']);
    expect(sources.served()?.resources.find((r) => r.name === 'ext')).toMatchObject({ endpoints: [{ address: '10.9.0.2' }] });
    // when: saved again unchanged: nothing is passed on
    const emitted = changes.length;
    await config.reload();
    expect(changes).toHaveLength(emitted);
    // when: a resource is added
    fs.writeFileSync(file, yaml('10.9.0.2', '---\ntype: Service\nname: other\nendpoints: [{ address: 10.9.1.1, port: 80 }]\n'));
    await config.reload();
    // then: the whole-set check, and the new resource is served
    expect(sources.counters.fullChecks).toBe(before.fullChecks + 1);
    expect(sources.served()?.resources.map((r) => r.name)).toContain('other');
    subscription.unsubscribe();
  });

  it('an edit that breaks a reference is rejected whole, as before', async () => {
    // when: the Service is edited in place to name a secret that does not exist
    fs.writeFileSync(file, yaml('10.9.0.1').replace('endpoints: [{ address: 10.9.0.1, port: 443 }]', 'endpoints: [{ address: 10.9.0.1, port: 443 }]\ntls: { caSecret: missing }'));
    await config.reload();
    // then
    expect(sources.lastErrors.join('\n')).toMatch(/Service\/ext: tls\.caSecret: secret "missing" not found in mesh "default"/);
    expect(sources.served()?.resources.find((r) => r.name === 'ext')).not.toHaveProperty('tls');
  });
});

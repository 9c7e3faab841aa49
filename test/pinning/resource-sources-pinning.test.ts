/**
 * Pinning in ResourceSources (issue #11), without an xDS server: what is served, which material
 * the signing providers read, how a change on disk is noticed without the directory watch (the
 * poll), a CA that expires, and messages that name the sources that exist.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { firstValueFrom } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Resource, RouteResource, ServiceResource } from '../../src/api/types.js';
import { createRootCa, type CaMaterial } from '../../src/ca/pki.js';
import { FileConfigSource } from '../../src/sources/config-files.js';
import { ResourceApi } from '../../src/admin/resource-api.js';
import { silentLogger } from '../../src/log/logger.js';
import { ResourceSources, type ResourceSourcesOptions } from '../../src/sources/resource-sources.js';
import { FileStore } from '../../src/store/file-store.js';
import { bufferLogger } from '../helpers/log-buffer.js';
import { waitFor } from '../helpers/wait.js';

const HOUR_S = 3600;

const service = (name: string, port: number): ServiceResource => ({ type: 'Service', name, mesh: 'default', endpoints: [{ address: '127.0.0.1', port }] });

function meshYaml(name: string, cert: string, key: string): string {
  return `type: Mesh
name: ${name}
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: provided
    conf:
      cert: { ${cert} }
      key: { ${key} }
`;
}

describe('ResourceSources pinning', () => {
  let dir: string;
  let ca1: CaMaterial;
  let ca2: CaMaterial;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-pin-sources-'));
    ca1 = await createRootCa({ commonName: 'CA 1', validitySeconds: HOUR_S });
    ca2 = await createRootCa({ commonName: 'CA 2', validitySeconds: HOUR_S });
  });

  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function start(
    configYaml: string | undefined,
    options: { now?: () => Date; sources?: ResourceSourcesOptions; log?: ReturnType<typeof bufferLogger>['log'] } = {},
  ): Promise<{ sources: ResourceSources; store: FileStore }> {
    const log = options.log ?? silentLogger();
    const paths: string[] = [];
    if (configYaml !== undefined) {
      const file = path.join(dir, 'config.yaml');
      fs.writeFileSync(file, configYaml);
      paths.push(file);
    }
    const store = await FileStore.open(path.join(dir, 'data'));
    cleanups.push(() => store.close());
    const config = new FileConfigSource(paths, log);
    await config.start();
    cleanups.push(() => config.stop());
    const sources = new ResourceSources(config, store, log, options.now, [], options.sources);
    sources.start();
    cleanups.push(() => sources.stop());
    return { sources, store };
  }

  it('notices a CA file change by polling alone, keeps the accepted material for signing, and takes the fixed file', async () => {
    // given: the directory watch is off; only the poll can see the file
    const cert = path.join(dir, 'ca.pem');
    const key = path.join(dir, 'ca.key');
    fs.writeFileSync(cert, ca1.certPem);
    fs.writeFileSync(key, ca1.keyPem);
    const { sources, store } = await start(meshYaml('mesh-a', `file: ${cert}`, `file: ${key}`), { sources: { caFiles: { watch: false, pollMs: 50 } } });
    const emitted: (readonly Resource[])[] = [];
    const subscription = sources.resources.subscribe((list) => emitted.push(list));
    cleanups.push(() => subscription.unsubscribe());
    // when: the certificate is overwritten by a CA that does not match the key
    fs.writeFileSync(cert, ca2.certPem);
    // then: pinned; signing still reads the accepted certificate; nothing new was emitted
    const pin = await waitFor('pinned by the poll', () => sources.pinned().get('Mesh/mesh-a'));
    expect(pin.errors).toEqual(['Mesh/mesh-a: mtls.backends[0].conf.key: does not match the CA certificate CN=CA 2 (the first one in cert)']);
    expect(sources.caFileReader(cert, 'mesh-a')).toBe(ca1.certPem);
    expect(emitted).toHaveLength(1);
    expect(sources.caFileRechecks).toBeGreaterThan(0);
    // when: an unrelated resource is stored
    await store.apply([{ op: 'put', resource: service('payments', 9002) }]);
    // then: it is served, the Mesh still as last accepted
    const served = await firstValueFrom(sources.resources);
    expect(served.map((r) => `${r.type}/${r.name}`)).toEqual(['Mesh/mesh-a', 'Service/payments']);
    expect(sources.caFileReader(cert, 'mesh-a')).toBe(ca1.certPem);
    // when: the key follows
    fs.writeFileSync(key, ca2.keyPem);
    // then: the pin lifts and signing reads the new material
    await waitFor('pin lifted', () => !sources.pinned().has('Mesh/mesh-a'));
    expect(sources.caFileReader(cert, 'mesh-a')).toBe(ca2.certPem);
    expect(sources.caFileReader(key, 'mesh-a')).toBe(ca2.keyPem);
  });

  it('pins a Mesh whose provided CA expired, while an unrelated stored change is served', async () => {
    // given: a CA valid for an hour, inline, and a clock the test moves
    let now = new Date();
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const logs = bufferLogger();
    const { sources, store } = await start(meshYaml('mesh-a', `inline: ${b64(ca1.certPem)}`, `inline: ${b64(ca1.keyPem)}`), { now: () => now, log: logs.log });
    // when: two hours later, a Service is stored
    now = new Date(now.getTime() + 2 * HOUR_S * 1000);
    await store.apply([{ op: 'put', resource: service('payments', 9002) }]);
    // then
    const served = await firstValueFrom(sources.resources);
    expect(served.map((r) => `${r.type}/${r.name}`)).toEqual(['Mesh/mesh-a', 'Service/payments']);
    expect(sources.lastErrors).toEqual([]);
    expect(sources.pinned().get('Mesh/mesh-a')?.errors.join('\n')).toMatch(/^Mesh\/mesh-a: mtls\.backends\[0\]\.conf\.cert: .*expired/);
    // when: another change; the pin is not logged again
    await store.apply([{ op: 'put', resource: service('orders', 9003) }]);
    expect((await firstValueFrom(sources.resources)).map((r) => r.name)).toContain('orders');
    expect(logs.text().split('\n').filter((l) => l.includes('no longer validates although it did not change'))).toHaveLength(1);
  });

  it('checks an API change to a pinned Mesh normally, and lets unrelated applies through with a note', async () => {
    // given: a Mesh applied through the API, whose inline CA then expires (pinned by the next merge)
    let now = new Date();
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const { sources, store } = await start(undefined, { now: () => now });
    const api = new ResourceApi({ store, sources });
    const mesh = meshYaml('mesh-a', `inline: ${b64(ca1.certPem)}`, `inline: ${b64(ca1.keyPem)}`);
    expect(await api.apply({ files: [{ content: mesh }] })).toMatchObject({ ok: true });
    now = new Date(now.getTime() + 2 * HOUR_S * 1000);
    // when: an unrelated resource is applied
    const unrelated = await api.apply({ files: [{ content: 'type: Service\nname: payments\nendpoints: [{ address: 127.0.0.1, port: 9002 }]\n' }] });
    // then: it is accepted and served; the note names the pinned Mesh, not --config files
    expect(unrelated).toMatchObject({ ok: true });
    expect(unrelated.warnings.join('\n')).toMatch(/^Mesh\/mesh-a is pinned at its last good version: Mesh\/mesh-a: mtls\.backends\[0\]\.conf\.cert: .*expired/m);
    expect(unrelated.warnings.join('\n')).not.toContain('--config');
    expect(sources.served()?.resources.map((r) => r.name)).toEqual(['mesh-a', 'payments']);
    expect(api.get({ type: 'Mesh', mesh: '', name: 'mesh-a' })?.pinned?.errors).toEqual(sources.pinned().get('Mesh/mesh-a')?.errors);
    expect(api.get({ type: 'Service', mesh: 'default', name: 'payments' })?.pinned).toBeUndefined();
    // when: the pinned Mesh itself is changed, still with the expired CA
    const changed = await api.apply({ files: [{ content: mesh.replace('type: provided', 'type: provided\n    mode: PERMISSIVE') }] });
    // then: refused, with its error
    expect(changed).toMatchObject({ ok: false, status: 400 });
    expect(changed.ok ? [] : changed.errors.join('\n')).toMatch(/Mesh\/mesh-a: mtls\.backends\[0\]\.conf\.cert: .*expired/);
    expect((sources.served()?.resources.find((r) => r.type === 'Mesh') as { mtls?: { backends: { mode: string }[] } }).mtls?.backends[0]?.mode).toBe('STRICT');
    // when: it is changed to a CA valid for longer
    const longer = await createRootCa({ commonName: 'CA 3', validitySeconds: 24 * HOUR_S });
    const fixed = await api.apply({ files: [{ content: meshYaml('mesh-a', `inline: ${b64(longer.certPem)}`, `inline: ${b64(longer.keyPem)}`) }] });
    // then: accepted, served, and unpinned
    expect(fixed).toMatchObject({ ok: true });
    expect(sources.pinned().size).toBe(0);
    expect(sources.lastErrors).toEqual([]);
    expect(JSON.stringify(sources.served()?.resources.find((r) => r.type === 'Mesh'))).toContain(b64(longer.certPem));
  });

  it('skips a stored resource whose errors the store brought, serving the rest of the batch, even while a resource is pinned', async () => {
    // given: a pinned Mesh (its file removed)
    const cert = path.join(dir, 'ca.pem');
    const key = path.join(dir, 'ca.key');
    fs.writeFileSync(cert, ca1.certPem);
    fs.writeFileSync(key, ca1.keyPem);
    const { sources, store } = await start(meshYaml('mesh-a', `file: ${cert}`, `file: ${key}`), { sources: { caFiles: { watch: false, pollMs: 50 } } });
    fs.rmSync(cert);
    await waitFor('pinned', () => sources.pinned().get('Mesh/mesh-a'));
    expect(sources.pinned().get('Mesh/mesh-a')?.errors).toEqual([`Mesh/mesh-a: mtls.backends[0].conf.cert.file: cannot read "${cert}": ENOENT`]);
    // when: a stored route names a secret that does not exist, next to a valid service
    const route: RouteResource = { type: 'Route', name: 'r', mesh: 'default', host: 'a.example', tls: { clientValidationCa: { name: 'missing' } }, routes: [{ prefix: '/', route: { service: 'payments' } }] };
    await store.apply([
      { op: 'put', resource: service('payments', 9002) },
      { op: 'put', resource: route as Resource },
    ]);
    // then: the route (written past the API) is skipped and its error reported; the service is served; the Mesh stays pinned
    await waitFor('service served', () => sources.served()?.resources.some((r) => r.name === 'payments'));
    expect(sources.lastErrors).toContain('Route/r: tls.clientValidationCa.name: secret "missing" not found in mesh "default"');
    expect(sources.lastErrors.every((l) => l.startsWith('Route/r: '))).toBe(true);
    expect(sources.served()?.resources.map((r) => r.name)).toEqual(['mesh-a', 'payments']);
    expect(sources.pinned().get('Mesh/mesh-a')).toBeDefined();
  });

  it('names only the sources that exist when the set is invalid', async () => {
    // given: a --config file whose route names a missing secret, and nothing stored
    const route = 'type: Route\nname: r\nhost: a.example\ntls: { clientValidationCa: { name: missing } }\nroutes: [{ prefix: /, route: { service: x } }]\n';
    // when / then
    const error = await start(route).then(
      () => undefined,
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    expect(error).toMatch(/^invalid configuration \(the --config files\):\n/);
    expect(error).toContain('Route/r: tls.clientValidationCa.name: secret "missing" not found');
    expect(error).not.toContain('stored');
  });

  it('starts on a stored route whose secret is missing (written past the API): skips it, never fatal', async () => {
    // given: no --config files, and a stored route whose secret is missing
    const store = await FileStore.open(path.join(dir, 'data'));
    const route: RouteResource = { type: 'Route', name: 'r', mesh: 'default', host: 'a.example', tls: { clientValidationCa: { name: 'missing' } }, routes: [{ prefix: '/', route: { service: 'x' } }] };
    await store.apply([{ op: 'put', resource: route as Resource }, { op: 'put', resource: service('payments', 9002) }]);
    await store.close();
    // when
    const { sources } = await start(undefined);
    // then
    expect(sources.served()?.resources.map((r) => r.name)).toEqual(['payments']);
    expect(sources.lastErrors).toContain('Route/r: tls.clientValidationCa.name: secret "missing" not found in mesh "default"');
    expect(sources.lastErrors.every((l) => l.startsWith('Route/r: '))).toBe(true);
  });
});

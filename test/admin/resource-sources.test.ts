import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { firstValueFrom } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Resource, RouteResource, ServiceResource } from '../../src/api/types.js';
import { FileConfigSource } from '../../src/sources/config-files.js';
import { createLogger, silentLogger } from '../../src/log/logger.js';
import { mergeResources } from '../../src/sources/merged.js';
import { ResourceSources } from '../../src/sources/resource-sources.js';
import { FileStore } from '../../src/store/file-store.js';
import { writeTestPki, type TestPki } from '../cli/certs.js';
import { bufferLogger } from '../helpers/log-buffer.js';
import { waitFor } from '../helpers/wait.js';

const service = (name: string, port: number): ServiceResource => ({ type: 'Service', name, mesh: 'default', endpoints: [{ address: '127.0.0.1', port }] });

const route: RouteResource = {
  type: 'Route',
  name: 'my-route',
  mesh: 'default',
  host: 'ecommerce.acme.org',
  tls: { clientValidationCa: { name: 'root-ca' } },
  routes: [{ prefix: '/', route: { service: 'shopping-cart' } }],
};

function configYaml(pki: TestPki, withSecret: boolean): string {
  const secret = `---
type: Secret
name: root-ca
secretType: tls-ca
cert: ${JSON.stringify(pki.pem.caCert)}
`;
  return `type: Gateway
name: edge
listeners: [{ port: 8443 }]
---
type: Service
name: shopping-cart
endpoints: [{ address: 127.0.0.1, port: 9001 }]
${withSecret ? secret : ''}`;
}

function names(list: readonly Resource[]): string[] {
  return list.map((r) => `${r.type}/${r.name}`);
}

describe('mergeResources', () => {
  it('lets a config file resource win over the API copy of the same name, and reports the shadowed copy', () => {
    // given
    const fromFiles = [service('shopping-cart', 9001)];
    const fromStore = [service('shopping-cart', 9999), service('payments', 9002)];
    // when
    const merged = mergeResources(fromFiles, fromStore);
    // then
    expect(merged.resources).toEqual([service('shopping-cart', 9001), service('payments', 9002)]);
    expect(merged.shadowed).toEqual([service('shopping-cart', 9999)]);
    expect(merged.origins.get('Service/default/shopping-cart')).toBe('config');
    expect(merged.origins.get('Service/default/payments')).toBe('api');
  });
});

describe('ResourceSources', () => {
  let dir: string;
  let configFile: string;
  let pki: TestPki;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-sources-'));
    configFile = path.join(dir, 'config.yaml');
    pki = await writeTestPki(path.join(dir, 'pki'));
  });

  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function start(yaml: string, stored: readonly Resource[], log = silentLogger()): Promise<{ sources: ResourceSources; config: FileConfigSource; store: FileStore }> {
    fs.writeFileSync(configFile, yaml);
    const store = await FileStore.open(path.join(dir, 'data'));
    cleanups.push(() => store.close());
    if (stored.length > 0) await store.apply(stored.map((resource) => ({ op: 'put' as const, resource })));
    const config = new FileConfigSource([configFile], log);
    await config.start();
    cleanups.push(() => config.stop());
    const sources = new ResourceSources(config, store, log);
    sources.start();
    cleanups.push(() => sources.stop());
    return { sources, config, store };
  }

  async function rewrite(config: FileConfigSource, yaml: string): Promise<void> {
    const before = config.loads;
    fs.writeFileSync(`${configFile}.tmp`, yaml);
    fs.renameSync(`${configFile}.tmp`, configFile);
    await waitFor('config reload', () => config.loads > before);
  }

  it('serves config files and stored resources together', async () => {
    // given
    const { sources } = await start(configYaml(pki, true), [route]);
    // when
    const served = await firstValueFrom(sources.resources);
    // then
    expect(names(served)).toEqual(['Gateway/edge', 'Service/shopping-cart', 'Secret/root-ca', 'Route/my-route']);
  });

  it('rejects a config change that breaks a stored route as a whole and keeps serving the last good set', async () => {
    // given
    const { sources, config } = await start(configYaml(pki, true), [route]);
    // when: the file drops the secret the stored route names, and changes the service
    await rewrite(config, configYaml(pki, false).replace('port: 9001', 'port: 9005'));
    // then
    const served = await firstValueFrom(sources.resources);
    expect(names(served)).toContain('Secret/root-ca');
    expect(served.find((r) => r.type === 'Service')).toMatchObject({ endpoints: [{ port: 9001 }] });
    expect(sources.lastErrors).toEqual(['Route/my-route: tls.clientValidationCa.name: secret "root-ca" not found in mesh "default"']);
    // when: the file is fixed
    await rewrite(config, configYaml(pki, true).replace('port: 9001', 'port: 9005'));
    // then
    expect(sources.lastErrors).toEqual([]);
    expect((await firstValueFrom(sources.resources)).find((r) => r.type === 'Service')).toMatchObject({ endpoints: [{ port: 9005 }] });
  });

  it('warns that a config file shadows the API copy of a resource', async () => {
    // given
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    });
    const log = createLogger({ destination, level: 'warn' });
    // when
    const { sources } = await start(configYaml(pki, true), [service('shopping-cart', 9999)], log);
    // then
    const served = await firstValueFrom(sources.resources);
    expect(served.find((r) => r.type === 'Service')).toMatchObject({ endpoints: [{ port: 9001 }] });
    await waitFor('shadow warning', () => lines.some((l) => l.includes('Service/shopping-cart') && l.includes('the file wins')));
  });

  it('refuses to start when the --config files are invalid', async () => {
    // given: a config file whose route names a secret nobody defines
    const yaml = `${configYaml(pki, false)}---
type: Route
name: file-route
host: a.acme.org
tls: { clientValidationCa: { name: root-ca } }
routes: [{ prefix: /, route: { service: shopping-cart } }]
`;
    // when / then
    await expect(start(yaml, [])).rejects.toThrow(/Route\/file-route: tls\.clientValidationCa\.name: secret "root-ca" not found/);
  });

  it('starts with a stored record that does not validate: skips it, reports it, and serves the rest', async () => {
    // given: a stored route naming a secret that no source defines (written past the API)
    const { log, text } = bufferLogger();
    // when
    const { sources } = await start(configYaml(pki, false), [route], log);
    // then
    expect(names(await firstValueFrom(sources.resources))).toEqual(['Gateway/edge', 'Service/shopping-cart']);
    expect(sources.lastErrors).toEqual(['Route/my-route: tls.clientValidationCa.name: secret "root-ca" not found in mesh "default"']);
    expect(text()).toMatch(/the stored Route\/my-route in mesh \\"default\\" does not validate and had no good version; it is skipped/);
  });

  it('checks the material of secrets from config files', async () => {
    // given
    const { sources, config } = await start(configYaml(pki, true), []);
    // when: the CA secret now holds an expired certificate
    await rewrite(config, configYaml(pki, true).replace(JSON.stringify(pki.pem.caCert), JSON.stringify(pki.pem.expiredCaCert)));
    // then
    expect(sources.lastErrors).toHaveLength(1);
    expect(sources.lastErrors[0]).toMatch(/^Secret\/root-ca: cert: certificate .* expired on /);
  });
});

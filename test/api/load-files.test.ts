import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatFieldError } from '../../src/api/errors.js';
import { loadConfigPaths, watchConfigPaths } from '../../src/api/load-files.js';
import { resourceKey } from '../../src/api/types.js';
import { GATEWAY_YAML, PEM_CERT, ROUTE_YAML } from './spec-examples.js';

/** Resolves when `onChange` has been called, or rejects at the deadline. */
function changeNotifier(timeoutMs = 10_000): { onChange: () => void; next: () => Promise<void> } {
  let resolve: (() => void) | undefined;
  let pending = 0;
  return {
    onChange: () => {
      if (resolve) {
        resolve();
        resolve = undefined;
      } else pending++;
    },
    next: () => {
      if (pending > 0) {
        pending--;
        return Promise.resolve();
      }
      return new Promise<void>((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`no change notification within ${timeoutMs}ms`)), timeoutMs);
        resolve = () => {
          clearTimeout(timer);
          res();
        };
      });
    },
  };
}

describe('loadConfigPaths', () => {
  let dir = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-load-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('loads yaml, yml and json files recursively, sorted, skipping other files and dot entries', async () => {
    // given
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.mkdirSync(path.join(dir, '..data'));
    fs.writeFileSync(path.join(dir, 'b-route.yml'), ROUTE_YAML);
    fs.writeFileSync(path.join(dir, 'a-gateway.yaml'), GATEWAY_YAML);
    fs.writeFileSync(path.join(dir, 'sub', 'svc.json'), JSON.stringify({ type: 'Service', name: 'shopping-cart' }));
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not: config');
    fs.writeFileSync(path.join(dir, '..data', 'dup.yaml'), GATEWAY_YAML);
    // when
    const result = await loadConfigPaths([dir]);
    // then
    expect(result.ok ? result.value.map(resourceKey) : result.errors.map(formatFieldError)).toEqual([
      'Gateway/default/edge',
      'Route/default/my-route',
      'Service/default/shopping-cart',
    ]);
  });

  it('is all-or-nothing: one bad file fails the load and is named in the error', async () => {
    // given
    fs.writeFileSync(path.join(dir, 'good.yaml'), GATEWAY_YAML);
    fs.writeFileSync(path.join(dir, 'bad.yaml'), `${GATEWAY_YAML.replace('edge', 'edge-2')}---\ntype: Route\nname: r\nhost: a.b\nroutes: [{ prefix: /, route: { servce: x } }]\n`);
    // when
    const result = await loadConfigPaths([dir]);
    // then
    expect(result.ok).toBe(false);
    const bad = path.join(dir, 'bad.yaml');
    expect(result.ok ? [] : result.errors.map(formatFieldError)).toEqual([
      `${bad}#2 Route/r: routes[0].route.servce: unknown field "servce", did you mean "service"?`,
      `${bad}#2 Route/r: routes[0].route.service: required field is missing`,
    ]);
  });

  it('reports duplicate resources across files and missing paths', async () => {
    // given
    fs.writeFileSync(path.join(dir, 'one.yaml'), GATEWAY_YAML);
    fs.writeFileSync(path.join(dir, 'two.yaml'), GATEWAY_YAML);
    const missing = path.join(dir, 'missing.yaml');
    // when
    const result = await loadConfigPaths([dir, missing]);
    // then
    expect(result.ok ? [] : result.errors.map(formatFieldError)).toEqual([
      `${missing}: cannot read: ENOENT`,
      `${path.join(dir, 'two.yaml')}#1 Gateway/edge: name: duplicate resource Gateway/default/edge: already defined at ${path.join(dir, 'one.yaml')}#1`,
    ]);
  });

  it('resolves certFile relative to the file that names it', async () => {
    // given
    fs.mkdirSync(path.join(dir, 'secrets'));
    fs.writeFileSync(path.join(dir, 'secrets', 'ca.pem'), PEM_CERT);
    fs.writeFileSync(path.join(dir, 'secrets', 'ca.yaml'), 'type: Secret\nname: ca\nsecretType: tls-ca\ncertFile: ./ca.pem\n');
    // when
    const result = await loadConfigPaths([path.join(dir, 'secrets', 'ca.yaml')]);
    // then
    expect(result.ok && result.value).toEqual([{ type: 'Secret', name: 'ca', mesh: 'default', secretType: 'tls-ca', cert: PEM_CERT }]);
  });
});

describe('watchConfigPaths', () => {
  let dir = '';
  let watcher: { close(): void } | undefined;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-watch-'));
  });
  afterEach(() => {
    watcher?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('fires when a file in a watched directory changes, and when a file is added', async () => {
    // given
    const file = path.join(dir, 'gw.yaml');
    fs.writeFileSync(file, GATEWAY_YAML);
    const notifier = changeNotifier();
    watcher = watchConfigPaths([dir], notifier.onChange);
    // when
    fs.writeFileSync(file, GATEWAY_YAML.replace('8443', '9443'));
    // then
    await notifier.next();
    // when
    fs.writeFileSync(path.join(dir, 'route.yaml'), ROUTE_YAML);
    // then
    await notifier.next();
  });

  it('fires when a watched file is replaced atomically (write + rename)', async () => {
    // given
    const file = path.join(dir, 'gw.yaml');
    fs.writeFileSync(file, GATEWAY_YAML);
    const notifier = changeNotifier();
    watcher = watchConfigPaths([file], notifier.onChange);
    // when
    fs.writeFileSync(`${file}.tmp`, GATEWAY_YAML.replace('8443', '9443'));
    fs.renameSync(`${file}.tmp`, file);
    // then
    await notifier.next();
    // when: a second edit still reaches the watcher
    fs.writeFileSync(file, GATEWAY_YAML.replace('8443', '10443'));
    // then
    await notifier.next();
  });

  it('notices a file in a subdirectory created after the watch started', async () => {
    // given
    const notifier = changeNotifier();
    watcher = watchConfigPaths([dir], notifier.onChange);
    fs.mkdirSync(path.join(dir, 'team-a'));
    await notifier.next();
    // when
    fs.writeFileSync(path.join(dir, 'team-a', 'gw.yaml'), GATEWAY_YAML);
    // then
    await notifier.next();
  });
});

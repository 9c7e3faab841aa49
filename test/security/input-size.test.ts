/**
 * Security issue #9, hole 10: a 54 MB --config file crashed the server (heap), a 16 MB apply
 * blocked it for 30 s. Bodies, config files and documents per apply are bounded with a clear
 * error, and the server keeps serving.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../src/admin/http-io.js';
import { MAX_APPLY_DOCUMENTS } from '../../src/admin/resource-api.js';
import { MAX_CONFIG_FILE_BYTES } from '../../src/api/load-files.js';
import { runCli } from '../cli/harness.js';
import { waitFor } from '../helpers/wait.js';
import { errorsOf, rawRequest, snapshotDir, startTestServer, type TestServer } from './admin-server.js';

const CONFIG = 'type: Service\nname: from-config\nendpoints: [{ address: 127.0.0.1, port: 9100 }]\n';

/** A YAML text of about `bytes` bytes: one valid Service padded with a comment. */
function paddedYaml(bytes: number, name: string): string {
  const doc = `type: Service\nname: ${name}\nendpoints: [{ address: 127.0.0.1, port: 9100 }]\n`;
  return `${doc}# ${'x'.repeat(bytes - doc.length - 3)}\n`;
}

describe('large inputs', () => {
  let t: TestServer;

  beforeEach(async () => {
    t = await startTestServer({ configYaml: CONFIG });
  });

  afterEach(async () => {
    await t.stop();
    fs.rmSync(t.dir, { recursive: true, force: true });
  });

  const stillServing = async (): Promise<void> => {
    const list = await rawRequest(t.port, { method: 'GET', path: '/api/services' });
    expect(list.status).toBe(200);
    expect(list.text).toContain('from-config');
  };

  it('answers a body over the limit with 413 and one line, and keeps serving', async () => {
    // given
    const before = snapshotDir(t.dataDir);

    // when: declared with content-length, and streamed in chunks without one
    const declared = await rawRequest(t.port, { method: 'POST', path: '/api/apply', headers: { 'content-type': 'application/yaml' }, body: paddedYaml(MAX_BODY_BYTES + 1024, 'big') });
    const streamed = await rawRequest(t.port, {
      method: 'POST',
      path: '/api/apply',
      headers: { 'content-type': 'application/yaml', 'transfer-encoding': 'chunked' },
      body: paddedYaml(MAX_BODY_BYTES + 1024, 'big'),
    });

    // then
    expect(declared.status).toBe(413);
    expect(errorsOf(declared)).toEqual(['request body larger than 4 MiB; split the apply into several files or batches']);
    expect(streamed.status).toBe(413);
    expect(snapshotDir(t.dataDir)).toEqual(before);
    await stillServing();
    // and: a body just under the limit is read and applied
    const fits = await rawRequest(t.port, { method: 'POST', path: '/api/apply', headers: { 'content-type': 'application/yaml' }, body: paddedYaml(MAX_BODY_BYTES - 1024, 'fits') });
    expect(fits.status).toBe(200);
  });

  it('gives the CLI the limit as its one error line', async () => {
    // given
    const file = path.join(t.dir, 'big.yaml');
    fs.writeFileSync(file, paddedYaml(MAX_BODY_BYTES + 1024, 'big'));

    // when
    const run = await runCli(['apply', '-f', file, '--server', t.url]);

    // then
    expect(run.code).not.toBe(0);
    expect(run.stderr).toBe('Error: request body larger than 4 MiB; split the apply into several files or batches\n');
    await stillServing();
  });

  it('refuses more documents than the limit in one apply', async () => {
    // given
    const docs = Array.from({ length: MAX_APPLY_DOCUMENTS + 1 }, (_, i) => `type: Service\nname: s-${i}\nendpoints: [{ address: 127.0.0.1, port: 9100 }]\n`).join('---\n');

    // when
    const reply = await rawRequest(t.port, { method: 'POST', path: '/api/apply', headers: { 'content-type': 'application/yaml' }, body: docs });

    // then
    expect(reply.status).toBe(400);
    expect(errorsOf(reply)).toEqual([`too many documents in one apply: more than ${MAX_APPLY_DOCUMENTS}; split it into several applies`]);
    await stillServing();
  });

  it('rejects a watched config file over the limit like any invalid change, keeping the last good config', async () => {
    // given
    const loads = t.server.config.loads;

    // when: a file just over the limit appears in the watched directory
    const big = path.join(t.configDir, 'big.yaml');
    fs.writeFileSync(big, paddedYaml(MAX_CONFIG_FILE_BYTES + 1024, 'from-big-file'));
    await waitFor('the config reload', () => t.server.config.loads > loads);

    // then: refused with one line naming the file and the limit; the last good set is still served
    expect(t.server.config.lastErrors).toEqual([`${big}: file is 8.0 MiB; at most 8 MiB per config file (split it into several files)`]);
    await stillServing();
    const names = await rawRequest(t.port, { method: 'GET', path: '/api/services' });
    expect(names.text).not.toContain('from-big-file');
    expect(t.logText()).toContain('configuration change rejected; still serving the last good configuration');

    // and: when the file shrinks below the limit it is loaded
    const again = t.server.config.loads;
    fs.writeFileSync(big, paddedYaml(1024, 'from-big-file'));
    await waitFor('the config reload', () => t.server.config.loads > again && t.server.config.lastErrors.length === 0);
    await waitFor('the new service', async () => (await rawRequest(t.port, { method: 'GET', path: '/api/services' })).text.includes('from-big-file'));
  });

  it('refuses to start on a config file over the limit, with a clear error', async () => {
    // given
    const dir = t.dir;
    await t.stop();
    fs.writeFileSync(path.join(dir, 'config', 'big.yaml'), paddedYaml(MAX_CONFIG_FILE_BYTES + 1, 'x'));

    // when / then
    await expect(startTestServer({ dir })).rejects.toThrow(/big\.yaml: file is 8\.0 MiB; at most 8 MiB per config file/);
    t = await startTestServer({ configYaml: CONFIG });
  });
});

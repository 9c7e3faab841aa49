/**
 * SPEC §1 Secret: a certificate that expires within 30 days gives a warning, when it is loaded
 * from a --config file and when it is applied through the API; `get secrets` flags it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa } from '../../src/ca/pki.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { createLogger } from '../../src/log/logger.js';
import { runCli } from '../cli/harness.js';
import { waitFor } from '../helpers/wait.js';

function secretYaml(name: string, pem: string): string {
  return `type: Secret\nname: ${name}\nsecretType: tls-ca\ncert: |\n${pem
    .trim()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')}\n`;
}

describe('certificate expiry warnings', () => {
  let dir: string;
  let server: RunningServer;
  let logText = '';
  let soonPem: string;
  let laterPem: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-expiry-'));
    const [fileSoon, apiSoon, later] = await Promise.all([
      createRootCa({ commonName: 'File Soon CA', validitySeconds: 12 * 86_400 }),
      createRootCa({ commonName: 'Api Soon CA', validitySeconds: 5 * 86_400 }),
      createRootCa({ commonName: 'Later CA', validitySeconds: 365 * 86_400 }),
    ]);
    soonPem = apiSoon.certPem;
    laterPem = later.certPem;
    fs.writeFileSync(path.join(dir, 'config.yaml'), secretYaml('file-soon', fileSoon.certPem));
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logText += chunk.toString();
        callback();
      },
    });
    server = await startServer(
      { config: [path.join(dir, 'config.yaml')], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'none', xdsPlaintext: true },
      createLogger({ level: 'info', destination }),
    );
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('logs a warning for a --config secret that expires within 30 days', async () => {
    await waitFor('the config warning', () => logText.includes('Secret/file-soon'));
    expect(logText).toMatch(/"level":40[^\n]*Secret\/file-soon: cert: certificate [^\n]*expires in 11 days/);
  });

  it('logs and prints a warning for an applied secret that expires within 30 days', async () => {
    // given
    fs.writeFileSync(path.join(dir, 'api.yaml'), `${secretYaml('api-soon', soonPem)}---\n${secretYaml('api-later', laterPem)}`);
    // when
    const run = await runCli(['apply', '-f', path.join(dir, 'api.yaml'), '--server', server.adminUrl]);
    // then
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^Warning: .*Secret\/api-soon: cert: certificate .* expires in 4 days/);
    expect(run.stderr).not.toContain('api-later');
    expect(logText).toMatch(/"level":40[^\n]*Secret\/api-soon: cert: certificate [^\n]*expires in 4 days/);
    expect(logText).not.toMatch(/"level":40[^\n]*api-later/);
  });

  it('flags the soon-expiring secrets in `get secrets`', async () => {
    // when
    const run = await runCli(['get', 'secrets', '--server', server.adminUrl]);
    // then
    expect(run.code).toBe(0);
    const line = (name: string): string => run.stdout.split('\n').find((l) => l.startsWith(`default   ${name} `)) ?? '';
    expect(line('file-soon')).toMatch(/\d{4}-\d\d-\d\d \(11d\) \(!\)/);
    expect(line('api-soon')).toMatch(/\d{4}-\d\d-\d\d \(4d\) \(!\)/);
    expect(line('api-later')).toMatch(/\d{4}-\d\d-\d\d \(364d\)/);
    expect(line('api-later')).not.toContain('(!)');
  });
});

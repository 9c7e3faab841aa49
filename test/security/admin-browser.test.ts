/**
 * Security issue #9, hole 4: a web page must not be able to drive the admin API — neither by a
 * cross-origin "simple" POST nor through DNS rebinding (a foreign Host header) — and the API must
 * not listen off loopback without client authentication.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkAdminBinding } from '../../src/admin/binding.js';
import { startServer } from '../../src/cli/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { runCli } from '../cli/harness.js';
import { errorsOf, rawRequest, snapshotDir, startTestServer, type TestServer } from './admin-server.js';

const SERVICE = 'type: Service\nname: planted\nendpoints: [{ address: 127.0.0.1, port: 9100 }]\n';

describe('admin API against browsers', () => {
  let t: TestServer;

  beforeEach(async () => {
    t = await startTestServer({ adminHostname: ['meshcp.internal'] });
  });

  afterEach(async () => {
    await t.stop();
    fs.rmSync(t.dir, { recursive: true, force: true });
  });

  it('refuses a read whose Host is a rebound foreign name, and serves its own names', async () => {
    // given: a resource to steal
    const applied = await rawRequest(t.port, { method: 'POST', path: '/api/apply', headers: { 'content-type': 'application/yaml' }, body: SERVICE });
    expect(applied.status).toBe(200);

    // when: a DNS-rebound page reads with its own name as Host
    const rebound = await rawRequest(t.port, { method: 'GET', path: '/api/services', headers: { host: `evil.example:${t.port}` } });

    // then: refused, one line, nothing of the data
    expect(rebound.status).toBe(421);
    expect(errorsOf(rebound)).toHaveLength(1);
    expect(errorsOf(rebound)[0]).toMatch(/Host header "evil\.example:\d+" does not name this admin API.*--admin-hostname/);
    expect(rebound.text).not.toContain('planted');
    // and: the names the server answers to still work
    for (const host of [`127.0.0.1:${t.port}`, `localhost:${t.port}`, `[::1]:${t.port}`, `meshcp.internal:${t.port}`, `MESHCP.internal:${t.port}`]) {
      const ok = await rawRequest(t.port, { method: 'GET', path: '/api/services', headers: { host } });
      expect(ok.status, host).toBe(200);
      expect(ok.text).toContain('planted');
    }
    // and: a right name on another port is not this server
    const otherPort = await rawRequest(t.port, { method: 'GET', path: '/api/services', headers: { host: `127.0.0.1:${t.port + 1}` } });
    expect(otherPort.status).toBe(421);
  });

  it('refuses cross-origin and non-JSON/YAML writes, changing nothing, each logged once', async () => {
    // given
    const before = snapshotDir(t.dataDir);
    const logBefore = t.logText().split('\n').filter((l) => l.includes('admin API request refused')).length;

    // when: what a page can send without a preflight, and with a foreign Origin
    const attacks: { headers: Record<string, string>; status: number; error: RegExp }[] = [
      { headers: { 'content-type': 'text/plain', origin: 'http://evil.example' }, status: 403, error: /cross-origin write refused: Origin "http:\/\/evil\.example"/ },
      { headers: { 'content-type': 'application/yaml', origin: 'null' }, status: 403, error: /cross-origin write refused/ },
      { headers: { 'content-type': 'application/yaml', origin: `http://evil.example:${t.port}` }, status: 403, error: /cross-origin write refused/ },
      { headers: { 'content-type': 'text/plain' }, status: 415, error: /unsupported content type "text\/plain": send application\/json or application\/yaml/ },
      { headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, error: /unsupported content type/ },
      { headers: { 'content-type': 'multipart/form-data; boundary=x' }, status: 415, error: /unsupported content type/ },
      { headers: { 'content-type': 'application/yaml', 'sec-fetch-site': 'cross-site' }, status: 403, error: /cross-site write refused/ },
    ];
    for (const attack of attacks) {
      const reply = await rawRequest(t.port, { method: 'POST', path: '/api/apply', headers: attack.headers, body: SERVICE });
      expect(reply.status, JSON.stringify(attack.headers)).toBe(attack.status);
      expect(errorsOf(reply)).toHaveLength(1);
      expect(errorsOf(reply)[0]).toMatch(attack.error);
    }
    const del = await rawRequest(t.port, { method: 'DELETE', path: '/api/services/anything', headers: { origin: 'https://evil.example' } });
    expect(del.status).toBe(403);

    // then: no state, and one log line per refusal, without the body
    expect(snapshotDir(t.dataDir)).toEqual(before);
    const refusals = t
      .logText()
      .split('\n')
      .filter((l) => l.includes('admin API request refused'));
    expect(refusals.length - logBefore).toBe(attacks.length + 1);
    expect(t.logText()).not.toContain('planted');
  });

  it('accepts same-origin writes in JSON or YAML, and the CLI as it is', async () => {
    // given / when: a same-origin page (the API's own origin) and JSON
    const sameOrigin = await rawRequest(t.port, { method: 'POST', path: '/api/apply', headers: { 'content-type': 'application/yaml; charset=utf-8', origin: `http://127.0.0.1:${t.port}` }, body: SERVICE });
    const json = await rawRequest(t.port, {
      method: 'POST',
      path: '/api/apply',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'Service', name: 'from-json', endpoints: [{ address: '127.0.0.1', port: 9101 }] }),
    });

    // then
    expect(sameOrigin.status).toBe(200);
    expect(json.status).toBe(200);
    // and: the CLI (files envelope, Host from --server) works against both accepted names
    const file = path.join(t.dir, 'svc.yaml');
    fs.writeFileSync(file, SERVICE.replace('planted', 'from-cli'));
    const apply = await runCli(['apply', '-f', file, '--server', t.url]);
    expect(apply.stderr).toBe('');
    expect(apply.stdout).toBe('Service/from-cli created\n');
    const get = await runCli(['get', 'services', '--server', `http://localhost:${t.port}`]);
    expect(get.code).toBe(0);
    expect(get.stdout).toContain('from-cli');
  });
});

describe('admin API binding', () => {
  it('needs client certificates exactly when the address is not loopback', () => {
    // given
    const mtls = { cert: 'cert', key: 'key', clientCa: 'ca' };

    // when / then: loopback needs nothing
    for (const address of ['127.0.0.1:5681', '127.0.0.2:5681', 'localhost:5681', '[::1]:5681']) expect(checkAdminBinding(address, undefined), address).toBeUndefined();
    // and: anything else needs a client CA, and says so at start when it has one
    for (const address of ['0.0.0.0:5681', '[::]:5681', '10.1.2.3:5681', 'meshcp.example:5681']) {
      expect(() => checkAdminBinding(address, undefined), address).toThrow(/is not a loopback address.*--admin-client-ca/);
      expect(() => checkAdminBinding(address, { cert: 'cert', key: 'key' }), address).toThrow(/--admin-client-ca/);
      expect(checkAdminBinding(address, mtls)).toBe(`the admin API listens on ${address} (not loopback); clients must present a certificate signed by --admin-client-ca`);
    }
  });

  it('refuses to listen off loopback without client certificates, naming the flags', async () => {
    // given
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-sec-bind-'));
    try {
      // when
      const start = startServer(
        { config: [], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '0.0.0.0:0', auth: 'none', xdsPlaintext: true },
        silentLogger(),
      );

      // then
      await expect(start).rejects.toThrow(/--admin-address 0\.0\.0\.0:0 is not a loopback address.*--admin-tls-cert, --admin-tls-key and --admin-client-ca.*127\.0\.0\.1/);
      // and: it failed before opening anything
      expect(fs.existsSync(path.join(dir, 'data'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

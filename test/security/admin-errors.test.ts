/**
 * Security issue #9, hole 12: `GET /api/%E0%A4%A` answered 500 with a stack in the log, and raw
 * multi-line engine text reached the JSON log. Client errors are 4xx with one line and no stack;
 * every log message is a single line.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { errorsOf, rawRequest, startTestServer, type TestServer } from './admin-server.js';

/** The log as JSON records. */
function records(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('error paths', () => {
  let t: TestServer;

  beforeEach(async () => {
    t = await startTestServer({ configYaml: 'type: Service\nname: from-config\nendpoints: [{ address: 127.0.0.1, port: 9100 }]\n' });
  });

  afterEach(async () => {
    await t.stop();
    fs.rmSync(t.dir, { recursive: true, force: true });
  });

  it('answers malformed URLs with 400 and one line, and logs no stack', async () => {
    // given
    const paths = ['/api/%E0%A4%A', '/api/meshes/%ZZ', '/api/%', '/api/services/%C0%AF?mesh=default'];

    // when
    const replies = await Promise.all(paths.map((p) => rawRequest(t.port, { method: 'GET', path: p })));

    // then
    for (const reply of replies) {
      expect(reply.status).toBe(400);
      expect(errorsOf(reply)).toHaveLength(1);
      expect(errorsOf(reply)[0]).toMatch(/^malformed percent-encoding in the URL path "[^\n]*"$/);
    }
    expect(t.logText()).not.toMatch(/"stack"|URIError|"level":50/);
    // and: the server still answers
    expect((await rawRequest(t.port, { method: 'GET', path: '/api/services' })).status).toBe(200);
  });

  it('answers a request line Node cannot parse without taking the server down', async () => {
    // given / when: a raw, invalid request
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(t.port, '127.0.0.1', () => socket.write('GET /api/\u0000\u0001 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });

    // then
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    expect((await rawRequest(t.port, { method: 'GET', path: '/api/services' })).status).toBe(200);
  });

  it('keeps every log message on one line, also for rejected config changes', async () => {
    // given: a change with a YAML syntax error (the parser's message has a code frame) and a hostile regex
    const loads = t.server.config.loads;
    fs.writeFileSync(path.join(t.configDir, 'bad.yaml'), 'type: Service\nname: [unclosed\n---\ntype: Route\nname: r\nhost: a.b\nvalidation: { clientCertificate: { subjectMatches: [ { regex: "\\\\p{L}{100}" } ] } }\nroutes: [{ prefix: /, route: { service: from-config } }]\n');

    // when
    await waitFor('the config reload', () => t.server.config.loads > loads);

    // then: rejected, with one-line messages only
    expect(t.server.config.lastErrors.length).toBeGreaterThan(0);
    const logged = records(t.logText());
    const errors = logged.filter((r) => r['level'] === 50);
    expect(errors.length).toBeGreaterThan(0);
    for (const r of logged) expect(String(r['msg'] ?? '')).not.toMatch(/[\r\n]/);
    expect(errors.some((r) => /regex refused: pattern too complex/.test(String(r['msg'])))).toBe(true);
  });
});

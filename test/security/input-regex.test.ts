/**
 * Security issue #9, hole 6: hostile regexes used to abort re2-wasm (an 11-line stack) and, after
 * about ten tries, leave it unable to compile any regex until a restart. They are now bounded
 * before compiling, with a one-line error, and an engine that still aborts is re-instantiated.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRe2, checkRe2Complexity, re2EngineRestarts, re2FullMatch, RE2_LIMITS } from '../../src/regex/re2.js';
import { runCli } from '../cli/harness.js';
import { writeTestPki } from '../cli/certs.js';
import { startTestServer, type TestServer } from './admin-server.js';
import { liveRe2 } from '../helpers/re2-engine.js';

const HOSTILE = [
  '\\p{L}{100}',
  '\\p{L}{11}',
  '\\pL{50}',
  '[\\p{L}\\p{N}]{20}',
  '(\\p{Greek}{5}){5}',
  '(?i)\\p{Han}{60}',
  'a{1001}',
  'a{101}',
  'a{5,1000}',
  '(a{100}){100}',
  '((a{10}){10}){11}',
  '(.{100}){100}',
  '(x|y{100}){20}',
  'a{99999999999999999999}',
  'x'.repeat(RE2_LIMITS.maxLength + 1),
  '(?:\\P{L}{30})+',
  '[^\\p{L}]{40}',
  '(?P<n>\\p{Lu}{20})',
  '\\p{L}{10}\\p{L}{10}',
  '(((\\w{100}){100}){100}){100}',
];

function routeYaml(regex: string): string {
  return `type: Route
name: r
gateway: edge
host: ecommerce.acme.org
tls:
  clientValidationCa: { name: my-root-ca }
  serverCertificate: { name: my-tls-cert }
validation: { clientCertificate: { subjectMatches: [ { regex: ${JSON.stringify(regex)} } ] } }
routes:
- prefix: /
  route: { service: shopping-cart }
`;
}

describe('hostile regexes', () => {
  let t: TestServer;
  let dir: string;

  beforeAll(async () => {
    t = await startTestServer();
    dir = t.dir;
    const pki = await writeTestPki(path.join(dir, 'pki'));
    const base = path.join(dir, 'base.yaml');
    fs.writeFileSync(
      base,
      `type: Gateway\nname: edge\nlisteners: [{ port: 8443 }]\n---\ntype: Service\nname: shopping-cart\nendpoints: [{ address: 127.0.0.1, port: 9001 }]\n---\ntype: Secret\nname: my-root-ca\nsecretType: tls-ca\ncertFile: ${pki.caCert}\n---\ntype: Secret\nname: my-tls-cert\nsecretType: tls\ncertFile: ${pki.leafCert}\nkeyFile: ${pki.leafKey}\n`,
    );
    const applied = await runCli(['apply', '-f', base, '--server', t.url]);
    expect(applied.stderr).toBe('');
  });

  afterAll(async () => {
    await t.stop();
    fs.rmSync(t.dir, { recursive: true, force: true });
  });

  it('are refused one line each through apply --dry-run, and a valid regex is still accepted after them', async () => {
    // given
    const file = path.join(dir, 'route.yaml');

    // when: twenty hostile patterns in a row
    for (const regex of HOSTILE) {
      fs.writeFileSync(file, routeYaml(regex));
      const run = await runCli(['apply', '-f', file, '--dry-run', '--server', t.url]);

      // then: each is a single error line naming the field
      expect(run.code, regex.slice(0, 40)).not.toBe(0);
      const lines = run.stderr.trimEnd().split('\n');
      expect(lines, regex.slice(0, 40)).toHaveLength(1);
      expect(lines[0]).toMatch(/^Error: .*route\.yaml#1 Route\/r: validation\.clientCertificate\.subjectMatches\[0\]\.regex: regex refused: (pattern too complex|repetition .* exceeds 100|pattern is \d+ characters long)/);
    }

    // and: valid patterns, including Unicode classes within the bounds, are accepted
    for (const regex of ['^svc-[0-9]+\\.acme\\.org$', '[a-zà-ÿ]{10}', '(a{100}){10}', '[a-z0-9-]{1,63}(\\.[a-z0-9-]{1,63}){0,3}']) {
      fs.writeFileSync(file, routeYaml(regex));
      const ok = await runCli(['apply', '-f', file, '--dry-run', '--server', t.url]);
      expect(ok.stderr, regex).toMatch(/^Warning: \S*route\.yaml#1 Route\/r: tls\.serverCertificate "my-tls-cert": its DNS names \(client\.acme\.org\) do not cover the route's host; [^\n]*\n$/); // the test PKI's leaf is client.acme.org (issue #13 warning)
      expect(ok.stdout).toBe('Route/r created (dry run)\n');
    }
    // and: nothing of the engine's abort text reached the log
    expect(t.logText()).not.toMatch(/Cannot enlarge memory|abort\(/);
  });

  it('give a one-line error in validate -f', async () => {
    // given
    const file = path.join(dir, 'hostile.yaml');
    fs.writeFileSync(file, `type: Service\nname: shopping-cart\nendpoints: [{ address: 127.0.0.1, port: 9001 }]\n---\n${routeYaml('\\p{L}{100}').replace('gateway: edge\n', '').replace(/tls:\n.*\n.*\n/, '')}`);

    // when
    const run = await runCli(['validate', '-f', file]);

    // then: one line for the regex (besides the route's other problem and the summary), nothing of the engine
    expect(run.code).not.toBe(0);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines.every((l) => l.startsWith('Error: '))).toBe(true);
    const regexLines = lines.filter((l) => l.includes('.regex:'));
    expect(regexLines).toHaveLength(1);
    expect(regexLines[0]).toMatch(/hostile\.yaml#2 Route\/r: validation\.clientCertificate\.subjectMatches\[0\]\.regex: regex refused: pattern too complex: it expands to about 10000 units, at most 1000/);
    expect(run.stderr).not.toMatch(/abort|Cannot enlarge|    at /);
  });

  it('recovers the engine when it aborts anyway, and counts the restart on /metrics', async () => {
    // given: the engine driven past its memory directly, as a pattern beyond the bounds would
    const restarts = re2EngineRestarts();
    const Engine = liveRe2();
    for (let i = 0; i < 15; i++) {
      try {
        new Engine('\\p{L}{100}', 'u');
      } catch {
        // the abort the bounds exist to prevent
      }
    }
    expect(() => new Engine('a+', 'u')).toThrow();

    // when
    const valid = checkRe2('^svc-[0-9]+$');

    // then: accepted on a re-instantiated engine, which also matches
    expect(valid).toBeUndefined();
    expect(re2EngineRestarts()).toBe(restarts + 1);
    expect(re2FullMatch('^svc-[0-9]+$', 'svc-42')).toBe(true);
    expect(re2FullMatch('^svc-[0-9]+$', 'svc-x')).toBe(false);
    // and: the server's metrics count every restart of the process's engine
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toContain(`\nmeshcp_regex_engine_restarts_total ${restarts + 1}\n`);
  });

  it('are bounded by a scan that counts nesting, alternation and Unicode classes', () => {
    // given / when / then
    expect(checkRe2Complexity('(a{100}){10}')).toBeUndefined();
    expect(checkRe2Complexity('(a{100}){11}')).toMatch(/about 1100 units/);
    expect(checkRe2Complexity('(a|b){100}')).toBeUndefined();
    expect(checkRe2Complexity('(ab|cd){100}')).toBeUndefined();
    expect(checkRe2Complexity('(abcdefghijk){100}')).toMatch(/about 1100 units/);
    expect(checkRe2Complexity('\\p{L}{10}')).toBeUndefined();
    expect(checkRe2Complexity('[\\p{L}]{11}')).toMatch(/too complex/);
    expect(checkRe2Complexity('(?i)a{100}')).toBeUndefined();
    expect(checkRe2Complexity('a{0,100}b{100,}')).toBeUndefined();
    expect(checkRe2Complexity('\\Q{101}\\E')).toBeUndefined();
  });
});

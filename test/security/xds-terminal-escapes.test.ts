/**
 * Security issue #9, hole 9: a node.id holding ANSI escapes was printed raw by
 * `meshcp inspect dataplanes`, so a proxy could drive the operator's terminal. Non-printable ids
 * are refused at the stream with INVALID_ARGUMENT (before any state or log line is kept), and
 * the inspect tables escape control characters anyway (defence in depth).
 */
import * as grpc from '@grpc/grpc-js';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configDumpTable, inspectTable } from '../../src/cli/inspect.js';
import { LISTENER_TYPE } from '../../src/snapshot/types.js';
import { runCli } from '../cli/harness.js';
import { waitFor } from '../helpers/wait.js';
import { TWO_MESHES, startTestServer, type TestServer } from './xds-harness.js';

const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

const HOSTILE_IDS: readonly [string, string, string][] = [
  ['ESC (an ANSI colour sequence)', '\u001b[31mweb-01\u001b[0m', 'U+001B'],
  ['a clear-screen sequence', 'web\u001b[2J\u001b[H', 'U+001B'],
  ['DEL', 'web\u007f01', 'U+007F'],
  ['C1 CSI', 'web\u009b31m', 'U+009B'],
  ['a newline', 'web-01\nfake-row', 'U+000A'],
  ['a bidi override', 'web\u202e10-', 'U+202E'],
];

describe('non-printable node ids', () => {
  let t: TestServer;

  beforeAll(async () => {
    // --auth none: the id itself is refused, not a missing token.
    t = await startTestServer(TWO_MESHES, 'none');
  }, 60_000);

  afterAll(async () => {
    await t.close();
  });

  it.each(HOSTILE_IDS)('refuses a node.id with %s as INVALID_ARGUMENT', async (_label, id, codePoint) => {
    // given
    const client = t.client({ mode: 'sotw', node: { id, metadata: { mesh: 'default' } } });
    // when
    client.send({ typeUrl: LISTENER_TYPE, names: [] });
    const status = await client.closed(10_000);
    // then: refused, saying which character, without echoing it
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toContain(`node.id contains the non-printable character ${codePoint}`);
    expect(status.details).not.toMatch(RAW_CONTROL);
    expect(client.received).toHaveLength(0);
    // and: nothing kept, nothing raw logged
    expect(t.server.controlPlane.status.list().map((p) => p.nodeId)).not.toContain(id);
    expect(t.logs.text()).not.toMatch(RAW_CONTROL);
  });

  it('escapes bidi overrides and line separators of a NACK in `meshcp get`', async () => {
    // given: web-01 refuses its listeners with an error that reorders and breaks terminal lines
    const client = t.client({ mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'default' } } });
    client.send({ typeUrl: LISTENER_TYPE, names: [] });
    client.nack(await client.nextOf(LISTENER_TYPE, 20_000), 'listener \u202eevil\u202c rejected\u2028fake line\u2029\u2066x\u2069');
    await waitFor('the NACK on the Dataplane', async () => (await runCli(['get', 'dataplanes', '--server', t.server.adminUrl])).stdout.includes('NACK:'));
    // when
    const get = await runCli(['get', 'dataplanes', '--server', t.server.adminUrl]);
    // then: every one shown as a visible escape, none raw
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).not.toMatch(/[\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    expect(get.stdout).toContain('listener \\u202eevil\\u202c rejected\\u2028fake line\\u2029\\u2066x\\u2069');
    // and: the config dump, as a table, JSON and YAML: escaped, and the documents read back to the error itself
    for (const format of ['table', 'json', 'yaml']) {
      const dump = await runCli(['inspect', 'dataplane', 'web-01', '--mesh', 'default', '--config-dump', '-o', format, '--server', t.server.adminUrl]);
      expect(dump.code, dump.stderr).toBe(0);
      expect(dump.stdout).not.toMatch(/[\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
      if (format === 'table') continue;
      const parsed = (format === 'json' ? JSON.parse(dump.stdout) : YAML.parse(dump.stdout)) as { types: { lastError?: string }[] };
      expect(parsed.types.map((type) => type.lastError)).toContain('listener \u202eevil\u202c rejected\u2028fake line\u2029\u2066x\u2069');
    }
    t.closeClients();
  });

  it('escapes a type URL it refuses on a per-type stream (found by the xDS fuzz)', async () => {
    // given
    const client = t.client({ mode: 'sotw', service: LISTENER_TYPE, node: { id: 'web-01', metadata: { mesh: 'default' } } });
    const from = t.logs.text().length;
    // when: it asks a listener stream for another type, named with a bidi override and a line separator
    client.send({ typeUrl: 'type.googleapis.com/evil\u202e\u2028x', names: [] });
    const status = await client.closed(10_000);
    // then
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toContain('not type.googleapis.com/evil\\u202e\\u2028x');
    expect(t.logs.text().slice(from)).not.toMatch(/[\u2028\u202e]/);
    t.closeClients();
  });

  it('refuses a mesh name with control characters too', async () => {
    const client = t.client({ mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'default\u001b[8m' } } });
    client.send({ typeUrl: LISTENER_TYPE, names: [] });
    const status = await client.closed(10_000);
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toContain('node.metadata.mesh contains the non-printable character U+001B');
  });
});

describe('inspect tables', () => {
  it('escapes control characters in the dataplanes table', () => {
    // given: a row as the admin API could return it (e.g. from an older server)
    const rows = [{ mesh: 'default', name: '\u001b[2J\u001b[31mweb-01\u009b0m\u007f', tags: 'kuma.io/service=web', status: 'Online', totalUpdates: 1, totalErrors: 0 }];
    // when
    const table = inspectTable(rows, new Date());
    const wide = inspectTable(rows, new Date(), { wide: true });
    // then: visible escapes, no raw control character (the default table cuts cells after escaping them)
    expect(table).not.toMatch(RAW_CONTROL);
    expect(wide).not.toMatch(RAW_CONTROL);
    expect(wide).toContain('\\u001b[2J\\u001b[31mweb-01\\u009b0m\\u007f');
  });

  it('escapes control characters in the config dump table', () => {
    // given: a NACK message is proxy-controlled text
    const dump = { types: [{ type: 'LDS', state: 'NACKED', nackCount: 1, totalUpdates: 1, lastError: 'bad \u001b]0;pwned\u0007 listener', resources: [] }] };
    // when
    const table = configDumpTable(dump);
    // then
    expect(table).not.toMatch(RAW_CONTROL);
    expect(table).toContain('bad \\u001b]0;pwned\\u0007 listener');
  });
});

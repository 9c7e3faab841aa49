/**
 * What an authenticated proxy can make meshcp write to its log. Before: a NACK's error_detail and
 * an unknown type_url were logged in full (40–80 MiB from a few requests), raw. Now each is cut
 * to 512 characters, escaped (C0/C1 controls, bidi overrides, line separators), and a proxy's
 * lines go through its log budget (10 a minute, the rest counted in the next line: log-budget.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { TWO_MESHES, logLinesSince, startTestServer, type TestServer } from './xds-harness.js';

const MIB = 1024 * 1024;
const RAW_UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe('log lines caused by a proxy', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer(TWO_MESHES);
  }, 60_000);

  afterAll(async () => {
    await t.close();
  });

  it('writes at most ten short, escaped lines for 100 NACKs of 1 MiB and 100 unknown 1 MiB type URLs', async () => {
    // given: web-01, served
    const client = t.client({ mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'default', token: t.token('web-01', 'default') } } });
    client.send({ typeUrl: CLUSTER_TYPE, names: [] });
    await client.nextOf(CLUSTER_TYPE, 20_000);
    const from = t.logs.text().length;
    const nacksBefore = t.server.controlPlane.status.get('web-01', 'default')?.types.get(CLUSTER_TYPE)?.nackCount ?? 0;
    // when: NACKs (on requests that restate the type, so each is recorded) and unknown types, each about 1 MiB
    const detail = `\u001b[31mrejected \u202eevil\u2028${'e'.repeat(MIB)}`;
    for (let i = 0; i < 100; i++) {
      client.send({ typeUrl: CLUSTER_TYPE, names: [], nonce: '', errorDetail: `${i} ${detail}` });
      client.send({ typeUrl: `type.googleapis.com/unknown.\u202e${i}.${'t'.repeat(MIB)}`, names: [] });
    }
    await client.barrier(SECRET_TYPE, 30_000);
    // then: every NACK is counted, but the log holds a few short lines, with nothing raw in them
    expect((t.server.controlPlane.status.get('web-01', 'default')?.types.get(CLUSTER_TYPE)?.nackCount ?? 0) - nacksBefore).toBe(100);
    const written = t.logs.text().slice(from);
    expect(written.length).toBeLessThan(32 * 1024);
    expect(written).not.toMatch(RAW_UNSAFE);
    const lines = logLinesSince(t.logs, from).filter((l) => l.msg === 'proxy rejected configuration (NACK)' || l.msg === 'ignoring request for an unknown resource type');
    expect(lines.length).toBeLessThanOrEqual(10);
    expect(lines.length).toBeGreaterThan(0);
    const nack = lines.find((l) => l.msg === 'proxy rejected configuration (NACK)');
    expect(String(nack?.['error'])).toContain('\\u001b[31mrejected \\u202eevil\\u2028eee');
    expect(nack?.['errorLength']).toBeGreaterThan(MIB);
    for (const line of lines) expect(JSON.stringify(line).length).toBeLessThan(2_000);
    t.closeClients();
  }, 120_000);
});

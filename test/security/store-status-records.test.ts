/**
 * Proxy status records in etcd come from other replicas, or from anyone who can write etcd: one
 * malformed record must not break `inspect dataplanes` on any replica (it answered 500 on all of
 * them). It is skipped and logged once; well-formed records keep showing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/cli/serve.js';
import { bufferLogger } from '../helpers/log-buffer.js';
import { waitFor } from '../helpers/wait.js';
import { startEtcdReplicas, type EtcdReplicas } from './store-replicas.js';

const PREFIX = 'statusrec';

const good = (name: string): Record<string, unknown> => ({
  format: 1,
  nodeId: name,
  mesh: 'default',
  flavor: 'envoy',
  activeStreams: 1,
  connectedSince: new Date().toISOString(),
  types: [['type.googleapis.com/envoy.config.cluster.v3.Cluster', { nackCount: 0, totalUpdates: 2, lastSentAt: new Date().toISOString() }]],
});

/** Each breaks one thing a reader relies on. */
const MALFORMED: Readonly<Record<string, string>> = {
  'bad-date': JSON.stringify({ ...good('bad-date'), connectedSince: 'not a date' }),
  'bad-type-date': JSON.stringify({ ...good('bad-type-date'), types: [['t', { nackCount: 0, totalUpdates: 1, lastAckedAt: 'yesterday' }]] }),
  'null-type': JSON.stringify({ ...good('null-type'), types: [['t', null]] }),
  'types-object': JSON.stringify({ ...good('types-object'), types: { a: 1 } }),
  'string-count': JSON.stringify({ ...good('string-count'), activeStreams: 'many' }),
  'no-node': JSON.stringify({ format: 1, mesh: 'default' }),
  'not-json': '{"format":1,',
};

describe('malformed proxy status records in etcd', () => {
  let env: EtcdReplicas;
  const servers: RunningServer[] = [];
  const logs = [bufferLogger(), bufferLogger()];

  beforeAll(async () => {
    env = await startEtcdReplicas();
    for (const { log } of logs) servers.push(await env.replica(PREFIX, log));
  }, 120_000);

  afterAll(async () => {
    await env?.stop();
  });

  it('skips each malformed record, logs it once, and keeps inspect answering on every replica', async () => {
    // given: a well-formed record and malformed ones, as another "replica" would publish them
    const client = env.etcd.client();
    await client.put(`/${PREFIX}/status/other-replica/default/good-one`).value(JSON.stringify(good('good-one')));
    for (const [name, value] of Object.entries(MALFORMED)) await client.put(`/${PREFIX}/status/evil-replica/default/${name}`).value(value);
    // when: inspect is asked on both replicas, several times, while the records change around it
    for (const server of servers) {
      const list = await waitFor('the good record listed', async () => {
        const res = await fetch(`${server.adminUrl}/api/inspect/dataplanes`);
        expect(res.status).toBe(200);
        const body = (await res.json()) as { items?: { name: string }[] } | { name: string }[];
        const items = Array.isArray(body) ? body : (body.items ?? []);
        return items.some((i) => i.name === 'good-one') ? items : undefined;
      });
      // then: only the well-formed proxy is shown
      expect(list.map((i) => i.name)).toEqual(['good-one']);
    }
    await client.put(`/${PREFIX}/status/other-replica/default/good-two`).value(JSON.stringify(good('good-two')));
    for (const server of servers) {
      await waitFor('the second good record listed', async () => {
        const res = await fetch(`${server.adminUrl}/api/inspect/dataplanes`);
        expect(res.status).toBe(200);
        return JSON.stringify(await res.json()).includes('good-two');
      });
    }
    // and: each malformed record is logged once on each replica, however often the records change
    for (const { text } of logs) {
      for (const name of Object.keys(MALFORMED)) {
        const lines = text().split('\n').filter((l) => l.includes('skipping a malformed proxy status record') && l.includes(`evil-replica/default/${name}"`));
        expect(lines, name).toHaveLength(1);
      }
    }
  });
});

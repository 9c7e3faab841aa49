/**
 * Security issue #9, hole 8: unauthenticated or unknown callers must not grow the server's
 * state. Streams refused by token auth, and unknown proxies under `--auth none`, used to leave
 * permanent `inspect` rows; a request for 100k unknown secrets wrote 100k log lines; a 4 MB
 * node.id was kept. Sizes are asserted through the registries' own counters, not RSS.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LISTENER_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import type { FakeEnvoy, NodeSpec } from '../helpers/fake-envoy.js';
import { waitFor } from '../helpers/wait.js';
import { TWO_MESHES, firstIdentity, startTestServer, type TestServer } from './xds-harness.js';

const CONNECTIONS = 1000;
/** Streams opened at once: each fake proxy has its own TCP connection. */
const BATCH = 50;

interface Sizes {
  readonly statusRows: number;
  readonly watches: number;
  readonly snapshots: number;
  readonly identityStatuses: number;
}

function sizesOf(t: TestServer): Sizes {
  const cp = t.server.controlPlane;
  return { statusRows: cp.status.size, watches: cp.cache.sizes.watches, snapshots: cp.cache.sizes.latest, identityStatuses: cp.identities.listStatus().length };
}

async function inspectNames(t: TestServer): Promise<string[]> {
  const body = (await (await fetch(`${t.server.adminUrl}/api/inspect/dataplanes`)).json()) as { items: { name: string }[] };
  return body.items.map((r) => r.name);
}

/** Opens `count` streams, `BATCH` at a time, each running `session` to its end and then closed. */
async function inBatches(count: number, session: (i: number) => Promise<FakeEnvoy>): Promise<void> {
  for (let start = 0; start < count; start += BATCH) {
    const clients = await Promise.all(Array.from({ length: Math.min(BATCH, count - start) }, (_, k) => session(start + k)));
    for (const c of clients) c.close();
  }
}

describe('state left by refused and unknown callers', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer(TWO_MESHES);
  }, 60_000);

  afterAll(async () => {
    await t.close();
  });

  it('keeps no inspect row for streams refused by token auth', async () => {
    // given / when: a stream without token, one with a token for another proxy, one for the right name in the wrong mesh
    const attempts: NodeSpec[] = [
      { id: 'intruder', metadata: { mesh: 'default' } },
      { id: 'intruder-2', metadata: { mesh: 'default', token: t.token('web-01', 'default') } },
      { id: 'web-01', metadata: { mesh: 'other', token: t.token('web-01', 'default') } },
    ];
    for (const node of attempts) {
      const client = t.client({ mode: 'sotw', node });
      client.send({ typeUrl: LISTENER_TYPE, names: [] });
      const status = await client.closed(10_000);
      expect([grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED]).toContain(status.code);
    }
    // then: no row for the unknown names, and web-01 of mesh other (a Dataplane) was never connected
    const names = await inspectNames(t);
    expect(names).not.toContain('intruder');
    expect(names).not.toContain('intruder-2');
    expect(t.server.controlPlane.status.get('web-01', 'other')).toBeUndefined();
    expect(t.server.controlPlane.status.size).toBe(0);
  });

  it(`does not grow with ${CONNECTIONS} refused connections`, async () => {
    // given
    const before = sizesOf(t);
    // when: every one presents a bad token
    await inBatches(CONNECTIONS, async (i) => {
      const client = t.client({ mode: 'sotw', node: { id: `refused-${i}`, metadata: { mesh: 'default', token: `not.a.token${i}` } } });
      client.send({ typeUrl: LISTENER_TYPE, names: [] });
      expect((await client.closed(20_000)).code).toBe(grpc.status.UNAUTHENTICATED);
      return client;
    });
    // then
    expect(sizesOf(t)).toEqual(before);
  }, 120_000);

  it('writes one refusal log line for a request of 9,998 unknown secrets', async () => {
    // given: web-01, authenticated, holding its identity
    const client = t.client({ mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'default', token: t.token('web-01', 'default') } } });
    await firstIdentity(client, ['identity-cert:default']);
    const linesBefore = t.logs.text().split('\n').length;
    const refusals = (): string[] =>
      t.logs
        .text()
        .split('\n')
        .slice(linesBefore - 1)
        .filter((line) => line.includes('refused: not (or not yet) part'));
    // when: it asks for 9,998 secrets that are not its own (its identity and one more make the
    // 10,000 names a stream may subscribe to per type), then once more with one more name
    const unknown = Array.from({ length: 9_998 }, (_, i) => `nope-${i}`);
    client.subscribe(SECRET_TYPE, ['identity-cert:default', ...unknown]);
    const answer = await client.nextOf(SECRET_TYPE, 10_000);
    await waitFor('the refusal logged', () => refusals().length > 0, { timeoutMs: 5_000 });
    client.ack(answer);
    client.subscribe(SECRET_TYPE, ['identity-cert:default', ...unknown, 'nope-again']);
    const again = await client.nextOf(SECRET_TYPE, 10_000);
    // then: only its identity, and one log line about the refusal, with the count and a few names
    expect(answer.resources.map((r) => r.name)).toEqual(['identity-cert:default']);
    expect(again.resources.map((r) => r.name)).toEqual(['identity-cert:default']);
    expect(refusals()).toHaveLength(1);
    expect(refusals()[0]).toContain('"count":9998');
    expect(refusals()[0]).toContain('"secrets":["nope-0","nope-1","nope-2","nope-3","nope-4"]');
    expect(refusals()[0]!.length).toBeLessThan(2_000);
    t.closeClients();
  }, 30_000);

  it('refuses a 1 MB node.id with INVALID_ARGUMENT, keeping and logging none of it', async () => {
    // given
    const huge = `web-${'x'.repeat(1024 * 1024)}`;
    const client = t.client({ mode: 'sotw', node: { id: huge, metadata: { mesh: 'default', token: t.token('web-01', 'default') } } });
    // when
    client.send({ typeUrl: LISTENER_TYPE, names: [] });
    const status = await client.closed(10_000);
    // then
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    // The node is refused on its size before it is decoded (request.ts readNode).
    expect(status.details).toMatch(/node is over 262144 bytes/);
    expect(status.details.length).toBeLessThan(300);
    expect(t.logs.text()).not.toContain('x'.repeat(300));
    expect(t.server.controlPlane.status.list().map((p) => p.nodeId)).not.toContain(huge);
  });
});

describe('state left by unknown proxies under --auth none', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer(TWO_MESHES, 'none');
  }, 60_000);

  afterAll(async () => {
    await t.close();
  });

  it(`forgets ${CONNECTIONS} unknown proxies once they disconnect`, async () => {
    // given
    const before = sizesOf(t);
    // when: each unknown proxy is served (an empty config) and disconnects
    await inBatches(CONNECTIONS, async (i) => {
      const client = t.client({ mode: 'sotw', node: { id: `ghost-${i}`, metadata: { mesh: i % 2 === 0 ? 'default' : 'other' } } });
      client.send({ typeUrl: LISTENER_TYPE, names: [] });
      await client.nextOf(LISTENER_TYPE, 20_000);
      return client;
    });
    // then: once the server has seen the disconnects, nothing is left of them
    await waitFor('every ghost stream released', () => t.server.controlPlane.status.list().every((p) => p.activeStreams === 0), { timeoutMs: 30_000 });
    expect(sizesOf(t)).toEqual(before);
    expect((await inspectNames(t)).filter((n) => n.startsWith('ghost-'))).toEqual([]);
  }, 120_000);

  it('keeps the row of a defined Dataplane after it disconnects', async () => {
    // given: web-01 of mesh other connects and is served
    const client = t.client({ mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'other' } } });
    client.send({ typeUrl: LISTENER_TYPE, names: [] });
    await client.nextOf(LISTENER_TYPE, 10_000);
    // when
    client.close();
    await waitFor('web-01 offline', () => t.server.controlPlane.status.get('web-01', 'other')?.activeStreams === 0, { timeoutMs: 10_000 });
    // then: its row (with what it was sent) and its last snapshot stay, for inspect
    expect(t.server.controlPlane.status.get('web-01', 'other')?.types.get(LISTENER_TYPE)?.totalUpdates).toBe(1);
    expect(t.server.controlPlane.cache.lastSnapshot('web-01', 'other')).toBeDefined();
  });
});

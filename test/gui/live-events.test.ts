/**
 * The GUI's live feed (admin/live-events.ts) stays bounded whatever the event rate: a burst of
 * status events is one batch with capped lists, batches are at least the interval apart, clients
 * are capped, a client that stops reading is dropped, and a new serial after an SDS push is
 * reported as a rotation.
 */
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import { Subject } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LiveFeed, type LiveBatch } from '../../src/admin/live-events.js';
import { LISTENER_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import type { StatusEvent } from '../../src/xds/status.js';

class FakeResponse extends EventEmitter {
  readonly chunks: string[] = [];
  writableLength = 0;
  destroyed = false;
  writeHead(): this {
    return this;
  }
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  end(): void {
    this.emit('close');
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
  batches(): LiveBatch[] {
    return this.chunks.filter((c) => c.startsWith('event: update')).map((c) => JSON.parse(c.split('\ndata: ')[1]!) as LiveBatch);
  }
}

function client(feed: LiveFeed): FakeResponse | undefined {
  const res = new FakeResponse();
  const ok = feed.attach(new EventEmitter() as unknown as http.IncomingMessage, res as unknown as http.ServerResponse);
  return ok ? res : undefined;
}

describe('live feed', () => {
  let status: Subject<StatusEvent>;
  let resources: Subject<unknown>;
  let serials: Map<string, string>;
  let feed: LiveFeed;

  beforeEach(() => {
    vi.useFakeTimers();
    status = new Subject();
    resources = new Subject();
    serials = new Map();
    feed = new LiveFeed(
      { status, resources, certificate: (mesh, name) => (serials.has(`${mesh}/${name}`) ? { serialHex: serials.get(`${mesh}/${name}`)!, regenerations: 1 } : undefined) },
      { intervalMs: 500, maxClients: 3, maxBufferedBytes: 10_000 },
    );
  });

  afterEach(() => {
    feed.close();
    vi.useRealTimers();
  });

  it('folds a burst of 20,000 events into one bounded batch', () => {
    // given
    const res = client(feed)!;
    // when: 5,000 proxies connect, are sent LDS and ACK it, and one NACKs
    for (let i = 0; i < 5000; i++) {
      const nodeId = `dp-${i}`;
      status.next({ kind: 'connect', nodeId, mesh: 'default' });
      status.next({ kind: 'sent', nodeId, mesh: 'default', typeUrl: LISTENER_TYPE, version: 'v1', resources: 3 });
      status.next({ kind: 'ack', nodeId, mesh: 'default', typeUrl: LISTENER_TYPE, version: 'v1' });
      status.next(i === 7 ? { kind: 'nack', nodeId, mesh: 'default', typeUrl: LISTENER_TYPE, version: 'v1', error: 'x'.repeat(10_000) } : { kind: 'ack', nodeId, mesh: 'default', typeUrl: LISTENER_TYPE, version: 'v1' });
    }
    vi.advanceTimersByTime(500);
    // then
    const [batch, ...more] = res.batches();
    expect(more).toEqual([]);
    expect(batch!.counts).toMatchObject({ connect: 5000, sent: 5000, ack: 9999, nack: 1 });
    expect(batch!.proxies).toHaveLength(100);
    expect(batch!.proxiesTruncated).toBe(true);
    expect(batch!.events).toHaveLength(20);
    expect(batch!.eventsDropped).toBe(5001 - 20);
    expect(res.chunks.join('').length).toBeLessThan(20_000);
  });

  it('sends batches at least the interval apart, and none when nothing happened', () => {
    const res = client(feed)!;
    // when: an event every 100 ms for 2 s
    for (let t = 0; t < 2000; t += 100) {
      status.next({ kind: 'ack', nodeId: 'web-01', mesh: 'default', typeUrl: LISTENER_TYPE, version: `v${t}` });
      vi.advanceTimersByTime(100);
    }
    vi.advanceTimersByTime(5000);
    // then: 20 events in 2 s at one batch per 500 ms at most
    const batches = res.batches();
    expect(batches.length).toBeLessThanOrEqual(5);
    expect(batches.reduce((n, b) => n + b.counts.ack, 0)).toBe(20);
  });

  it('caps its clients and drops one that stops reading', () => {
    const clients = [client(feed), client(feed), client(feed)];
    expect(clients.every((c) => c !== undefined)).toBe(true);
    expect(client(feed)).toBeUndefined();
    // when: one client's unsent output passes the bound
    clients[0]!.writableLength = 20_000;
    resources.next(1);
    vi.advanceTimersByTime(500);
    // then
    expect(clients[0]!.destroyed).toBe(true);
    expect(feed.clientCount).toBe(2);
    expect(clients[1]!.batches()[0]?.resources).toBe(true);
    expect(client(feed)).toBeDefined();
  });

  it('reports a new certificate after an SDS push, and a rotation when the proxy had one', () => {
    const res = client(feed)!;
    const sds = (nodeId: string): StatusEvent => ({ kind: 'sent', nodeId, mesh: 'default', typeUrl: SECRET_TYPE, version: 'v', resources: 2 });
    serials.set('default/web-01', 'aa01');
    status.next(sds('web-01'));
    vi.advanceTimersByTime(500);
    // when: the same serial again (a trust bundle push), then a new one
    status.next(sds('web-01'));
    vi.advanceTimersByTime(500);
    serials.set('default/web-01', 'bb02');
    status.next(sds('web-01'));
    vi.advanceTimersByTime(500);
    // then
    const certificates = res.batches().flatMap((b) => b.events.filter((e) => e.kind === 'certificate'));
    expect(certificates.map((e) => [e.serial, e.previousSerial])).toEqual([
      ['aa01', undefined],
      ['bb02', 'aa01'],
    ]);
  });
});

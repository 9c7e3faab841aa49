/**
 * ResponseWriter: once grpc-js says a stream's buffer is full, responses wait for 'drain', one per
 * type, a newer one replacing the waiting one of its type in its place (writer.ts).
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ResponseWriter } from '../../src/xds/writer.js';

/** A call whose buffer holds `capacity` messages until `drain()`. */
class FakeCall extends EventEmitter {
  readonly written: string[] = [];
  private buffered = 0;
  constructor(private readonly capacity: number) {
    super();
  }
  write(message: object): boolean {
    this.written.push((message as { id: string }).id);
    this.buffered++;
    return this.buffered < this.capacity;
  }
  drain(): void {
    this.buffered = 0;
    this.emit('drain');
  }
}

describe('ResponseWriter', () => {
  it('writes straight through while the stream takes them', () => {
    // given
    const call = new FakeCall(10);
    const writer = new ResponseWriter(call);
    // when
    for (const id of ['cds-1', 'eds-1', 'lds-1']) writer.write(id.slice(0, 3), { id });
    // then
    expect(call.written).toEqual(['cds-1', 'eds-1', 'lds-1']);
    expect(writer.queued).toBe(0);
  });

  it('holds responses once the stream is full, keeping the latest per type in first-held order, until drain', () => {
    // given: a stream full after one message
    const call = new FakeCall(1);
    const writer = new ResponseWriter(call);
    writer.write('cds', { id: 'cds-1' });
    // when: 1,000 more responses over three types arrive before it drains
    for (let i = 2; i <= 1001; i++) for (const type of ['eds', 'cds', 'lds']) writer.write(type, { id: `${type}-${i}` });
    // then: nothing more was written, and one per type waits
    expect(call.written).toEqual(['cds-1']);
    expect(writer.queued).toBe(3);
    // when: it drains (one message at a time)
    call.drain();
    call.drain();
    call.drain();
    // then: the latest of each type, in the order their types first waited
    expect(call.written).toEqual(['cds-1', 'eds-1001', 'cds-1001', 'lds-1001']);
    expect(writer.queued).toBe(0);
  });
});

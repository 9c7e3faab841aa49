import { describe, expect, it } from 'vitest';
import { TimerQueue, type TimerHost } from '../../src/identity/time.js';

/** A host whose time and single timer move only when the test says so. */
class FakeHost implements TimerHost {
  time = 1_000_000;
  armed: { due: number; fire: () => void; handle: number } | undefined;
  timersSet = 0;
  private handles = 0;

  now(): number {
    return this.time;
  }
  setTimer(delayMs: number, fire: () => void): unknown {
    expect(this.armed).toBeUndefined();
    this.timersSet++;
    this.armed = { due: this.time + delayMs, fire, handle: ++this.handles };
    return this.armed.handle;
  }
  clearTimer(handle: unknown): void {
    if (this.armed?.handle === handle) this.armed = undefined;
  }
  /** Moves time to `target`, firing the armed timer whenever it falls due. */
  advanceTo(target: number): void {
    while (this.armed && this.armed.due <= target) {
      const { due, fire } = this.armed;
      this.armed = undefined;
      this.time = Math.max(this.time, due);
      fire();
    }
    this.time = target;
  }
}

describe('TimerQueue', () => {
  it('runs tasks in due order behind one timer, and cancelled ones never', () => {
    const host = new FakeHost();
    const queue = new TimerQueue(host);
    const ran: string[] = [];
    const start = host.time;
    const delays = [500, 100, 900, 300, 700, 200, 800, 400, 600];
    const cancels = new Map(delays.map((d) => [d, queue.schedule(d, () => ran.push(`t${d}`))] as const));
    expect(queue.size).toBe(9);
    cancels.get(300)!();
    cancels.get(900)!();
    cancels.get(300)!(); // twice is harmless
    expect(queue.size).toBe(7);
    host.advanceTo(start + 450);
    expect(ran).toEqual(['t100', 't200', 't400']);
    // Cancelling a task that already ran changes nothing.
    cancels.get(100)!();
    expect(queue.size).toBe(4);
    host.advanceTo(start + 10_000);
    expect(ran).toEqual(['t100', 't200', 't400', 't500', 't600', 't700', 't800']);
    expect(queue.size).toBe(0);
    expect(host.armed).toBeUndefined();
  });

  it('re-arms for an earlier task and lets a task schedule another', () => {
    const host = new FakeHost();
    const queue = new TimerQueue(host);
    const ran: number[] = [];
    const start = host.time;
    queue.schedule(10_000, () => ran.push(10_000));
    expect(host.armed?.due).toBe(start + 10_000);
    queue.schedule(50, () => {
      ran.push(50);
      // Due at once, but runs on a later timer, not inside this one.
      queue.schedule(0, () => ran.push(0));
      expect(ran).toEqual([50]);
    });
    expect(host.armed?.due).toBe(start + 50);
    host.advanceTo(start + 60);
    expect(ran).toEqual([50, 0]);
    host.advanceTo(start + 20_000);
    expect(ran).toEqual([50, 0, 10_000]);
  });

  it('clears its timer when the last task is cancelled, and keeps order over many random tasks', () => {
    const host = new FakeHost();
    const queue = new TimerQueue(host);
    const cancel = queue.schedule(1000, () => undefined);
    cancel();
    expect(host.armed).toBeUndefined();

    let seed = 42;
    const random = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const start = host.time;
    const ran: number[] = [];
    const expected: number[] = [];
    const cancels: Array<() => void> = [];
    for (let i = 0; i < 2000; i++) {
      const delay = Math.floor(random() * 100_000);
      const keep = random() > 0.3;
      cancels.push(queue.schedule(delay, () => ran.push(delay)));
      if (keep) expected.push(delay);
      else cancels[i]!();
    }
    host.advanceTo(start + 200_000);
    expect(ran).toEqual(expected.sort((a, b) => a - b));
    expect(queue.size).toBe(0);
  });
});

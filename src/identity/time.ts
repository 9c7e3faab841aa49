/**
 * Time as a dependency (DESIGN.md: "Time comes from an injected clock"), so rotation at 4/5 of a
 * certificate's lifetime is tested by moving a fake clock, not by waiting.
 */

export interface Clock {
  now(): Date;
}

/** Runs `task` once `delayMs` of this scheduler's time have passed; the returned function cancels it. */
export interface Scheduler {
  schedule(delayMs: number, task: () => void): () => void;
}

export const systemClock: Clock = { now: () => new Date() };

/** Node clamps a timer above 2^31-1 ms (24.8 days) to 1 ms; longer delays are chained. */
const MAX_TIMER_MS = 2_147_483_647;

/** What a {@link TimerQueue} runs on: Node's timers in production, a fake in tests. */
export interface TimerHost {
  now(): number;
  setTimer(delayMs: number, fire: () => void): unknown;
  clearTimer(handle: unknown): void;
}

const NODE_TIMERS: TimerHost = {
  now: () => Date.now(),
  setTimer(delayMs, fire) {
    const timer = setTimeout(fire, delayMs);
    // A pending rotation must not keep a CLI or a test process alive.
    timer.unref();
    return timer;
  },
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface Entry {
  /**
   * Due time in ms after the queue's creation: a small integer, which V8 keeps in the entry itself
   * (an epoch millisecond count is a boxed 16-byte number per entry, one per connected proxy).
   */
  readonly due: number;
  task: (() => void) | undefined;
  /** Position in the heap; -1 once run or cancelled. */
  index: number;
}

/**
 * Every scheduled task in one min-heap by due time, behind a single Node timer armed for the
 * earliest. A connected proxy has a rotation pending at all times: a Node timer each cost a
 * Timeout, a timer list per distinct delay (rotation jitter makes them all distinct) and their
 * closures, several hundred bytes per proxy; an entry here is one small object.
 */
export class TimerQueue implements Scheduler {
  private readonly heap: Entry[] = [];
  private timer: unknown;
  /** Due time the timer is armed for (Infinity when none is). */
  private armedFor = Infinity;
  /** The host's time at creation: entries keep their due time relative to it. */
  private readonly base: number;

  constructor(private readonly host: TimerHost = NODE_TIMERS) {
    this.base = host.now();
  }

  /** The host's time, relative to `base`: a small integer when it is one. */
  private now(): number {
    const offset = this.host.now() - this.base;
    return offset === (offset | 0) ? offset | 0 : offset;
  }

  /** Tasks waiting, for tests. */
  get size(): number {
    return this.heap.length;
  }

  schedule(delayMs: number, task: () => void): () => void {
    const due = this.now() + Math.max(0, delayMs);
    const entry: Entry = { due: due === (due | 0) ? due | 0 : due, task, index: this.heap.length };
    this.heap.push(entry);
    this.up(entry.index);
    this.arm();
    return () => {
      if (entry.index < 0) return;
      entry.task = undefined;
      this.remove(entry.index);
      this.arm();
    };
  }

  private arm(): void {
    const first = this.heap[0];
    if (first === undefined) {
      if (this.timer !== undefined) this.host.clearTimer(this.timer);
      this.timer = undefined;
      this.armedFor = Infinity;
      return;
    }
    // Armed for earlier is fine: it fires, finds nothing due yet and arms again.
    if (this.timer !== undefined && this.armedFor <= first.due) return;
    if (this.timer !== undefined) this.host.clearTimer(this.timer);
    this.armedFor = first.due;
    this.timer = this.host.setTimer(Math.min(Math.max(0, first.due - this.now()), MAX_TIMER_MS), () => this.fire());
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    // Tasks scheduled by a task run on a later turn, even with no delay.
    const now = this.now();
    for (let first = this.heap[0]; first !== undefined && first.due <= now; first = this.heap[0]) {
      this.remove(0);
      const task = first.task;
      first.task = undefined;
      try {
        task?.();
      } catch (err) {
        // One failing task must not stop the others; surface it as an uncaught exception would.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    this.arm();
  }

  private remove(index: number): void {
    const heap = this.heap;
    const removed = heap[index]!;
    removed.index = -1;
    const last = heap.pop()!;
    if (last === removed) return;
    heap[index] = last;
    last.index = index;
    this.up(index);
    this.down(last.index);
  }

  private up(index: number): void {
    const heap = this.heap;
    const entry = heap[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (parent.due <= entry.due) break;
      heap[index] = parent;
      parent.index = index;
      index = parentIndex;
    }
    heap[index] = entry;
    entry.index = index;
  }

  private down(index: number): void {
    const heap = this.heap;
    const entry = heap[index]!;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.due < heap[left]!.due ? right : left;
      const next = heap[child]!;
      if (entry.due <= next.due) break;
      heap[index] = next;
      next.index = index;
      index = child;
    }
    heap[index] = entry;
    entry.index = index;
  }
}

/** The process's timer queue: rotations, retries and CA switch steps of every manager. */
export const systemScheduler: Scheduler = new TimerQueue();

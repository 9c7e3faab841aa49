/** A clock and scheduler that move only when the test says so. */
import type { Clock, Scheduler } from '../../src/identity/time.js';

interface Task {
  readonly due: number;
  readonly seq: number;
  readonly run: () => void;
  cancelled: boolean;
}

export class FakeTime implements Clock, Scheduler {
  private current: number;
  private seq = 0;
  private tasks: Task[] = [];

  constructor(start: Date) {
    this.current = start.getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  schedule(delayMs: number, run: () => void): () => void {
    const task: Task = { due: this.current + Math.max(0, delayMs), seq: this.seq++, run, cancelled: false };
    this.tasks.push(task);
    return () => {
      task.cancelled = true;
    };
  }

  /** Due times of the pending tasks, soonest first. */
  pending(): number[] {
    return this.tasks.filter((t) => !t.cancelled).map((t) => t.due - this.current).sort((a, b) => a - b);
  }

  /** Moves time forward, running every task that falls due, in order. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const next = this.tasks.filter((t) => !t.cancelled && t.due <= target).sort((a, b) => a.due - b.due || a.seq - b.seq)[0];
      if (!next) break;
      this.current = Math.max(this.current, next.due);
      next.cancelled = true;
      next.run();
    }
    this.tasks = this.tasks.filter((t) => !t.cancelled);
    this.current = target;
  }
}

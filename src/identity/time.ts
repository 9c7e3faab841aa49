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

export const systemScheduler: Scheduler = {
  schedule(delayMs, task) {
    const due = Date.now() + Math.max(0, delayMs);
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      const left = due - Date.now();
      if (left <= 0) {
        timer = undefined;
        task();
        return;
      }
      timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      // A pending rotation must not keep a CLI or a test process alive.
      timer.unref();
    };
    timer = setTimeout(arm, Math.min(Math.max(0, delayMs), MAX_TIMER_MS));
    timer.unref();
    return () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
  },
};

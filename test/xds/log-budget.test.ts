/** LogBudget: a few lines per window for one proxy, the rest counted and reported with the next line. */
import { describe, expect, it } from 'vitest';
import { LogBudget } from '../../src/xds/log-budget.js';

describe('LogBudget', () => {
  it('allows the burst, counts what it drops, and reports the count with the next line of a later window', () => {
    // given: 3 lines per 60 s window, starting at t = 0
    const budget = new LogBudget(3, 60_000, 0);
    // when: 10 lines at t = 1 s
    const first = Array.from({ length: 10 }, () => budget.take(1_000));
    // then
    expect(first).toEqual([0, 0, 0, undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
    // when: the window passes
    const next = budget.take(61_000);
    // then: the 7 dropped lines are reported with the first line of the new window
    expect(next).toBe(7);
    expect(budget.take(61_001)).toBe(0);
  });

  it('starts a new window when the clock goes back', () => {
    const budget = new LogBudget(1, 60_000, 100_000);
    expect(budget.take(100_000)).toBe(0);
    expect(budget.take(100_001)).toBeUndefined();
    expect(budget.take(50_000)).toBe(1);
  });
});

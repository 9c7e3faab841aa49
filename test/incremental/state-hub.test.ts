/**
 * StateHub (runtime/proxy-configs.ts): the model states reach every proxy's generation through
 * one subscription, fanned out by a loop instead of one rxjs subscriber chain per proxy.
 */
import { describe, expect, it } from 'vitest';
import { Observable, Subject } from 'rxjs';
import { StateHub, type ResourceState, type StateListener } from '../../src/runtime/proxy-configs.js';

/** Stand-ins: the hub only passes states along. */
const state = (revision: number): ResourceState => ({ revision: { revision } }) as unknown as ResourceState;

function recorder(): StateListener & { seen: number[]; errors: unknown[] } {
  const seen: number[] = [];
  const errors: unknown[] = [];
  return { seen, errors, next: (s) => void seen.push(s.revision.revision), error: (e) => void errors.push(e) };
}

describe('StateHub', () => {
  it('subscribes once, gives a joining proxy the current state, reaches every listener once per state and none after it left', () => {
    // given a hub over a states stream with one state so far
    const states = new Subject<ResourceState>();
    let subscriptions = 0;
    const counted = new Observable<ResourceState>((subscriber) => {
      subscriptions++;
      return states.subscribe(subscriber);
    });
    const hub = new StateHub(counted);
    states.next(state(1));

    // when three proxies join, then each gets the current state at once
    const listeners = [recorder(), recorder(), recorder()];
    const stops = listeners.map((l) => hub.listen(l));
    expect(listeners.map((l) => l.seen)).toEqual([[1], [1], [1]]);

    // when one leaves and a state arrives, then the others get it once and the one that left does not
    stops[1]!();
    states.next(state(2));
    expect(listeners.map((l) => l.seen)).toEqual([[1, 2], [1], [1, 2]]);
    expect(hub.size).toBe(2);
    expect(subscriptions).toBe(1);
  });

  it('passes an error of the states to every listener, and to a proxy joining later', () => {
    const states = new Subject<ResourceState>();
    const hub = new StateHub(states);
    const before = recorder();
    hub.listen(before);

    states.error(new Error('translation failed'));
    const after = recorder();
    hub.listen(after);

    expect(before.errors).toHaveLength(1);
    expect(after.errors).toHaveLength(1);
    expect(hub.size).toBe(0);
  });
});

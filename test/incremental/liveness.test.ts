/**
 * Dataplane liveness (runtime/liveness.ts): a defined Dataplane is offline once its proxy has had
 * no stream for the grace period, here or on another replica; a connect makes it online at once.
 * In the control plane, such a change is an endpoint-only change: EDS is patched, nothing is
 * generated again.
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { DataplaneLiveness, type LivenessChange } from '../../src/runtime/liveness.js';
import { StatusRegistry } from '../../src/xds/status.js';

/** A timer the test fires by hand. */
function manualTimers(): { setTimer: (run: () => void, ms: number) => object; clearTimer: (t: object) => void; fire: () => void; pending: () => number } {
  const timers = new Map<object, () => void>();
  return {
    setTimer: (run) => {
      const t = {};
      timers.set(t, run);
      return t;
    },
    clearTimer: (t) => void timers.delete(t),
    fire: () => {
      const runs = [...timers.values()];
      timers.clear();
      for (const run of runs) run();
    },
    pending: () => timers.size,
  };
}

describe('Dataplane liveness', () => {
  it('is offline only after the grace without a stream, and online again at the next connect', () => {
    // given a defined Dataplane that never connected
    const status = new StatusRegistry();
    const timers = manualTimers();
    const liveness = new DataplaneLiveness({ status, graceMs: 1000, ...timers });
    const changes: LivenessChange[] = [];
    liveness.changes.subscribe((c) => changes.push(c));
    liveness.define('default', 'web', true);
    expect(liveness.isOffline('default', 'web')).toBe(false);
    // when the grace passes
    timers.fire();
    // then it is offline
    expect(liveness.isOffline('default', 'web')).toBe(true);
    expect(changes).toEqual([{ mesh: 'default', name: 'web', offline: true }]);
    // when its proxy connects, it is online at once, and a disconnect starts the grace again
    status.streamOpened({ name: 'web', mesh: 'default' }, 'envoy');
    expect(liveness.isOffline('default', 'web')).toBe(false);
    status.streamClosed({ name: 'web', mesh: 'default' });
    expect(timers.pending()).toBe(1);
    // a reconnect within the grace leaves it online
    status.streamOpened({ name: 'web', mesh: 'default' }, 'envoy');
    timers.fire();
    expect(changes).toEqual([{ mesh: 'default', name: 'web', offline: true }, { mesh: 'default', name: 'web', offline: false }]);
    liveness.close();
  });

  it('counts a proxy held by another replica as online, and forgets a Dataplane that is no longer defined', () => {
    const status = new StatusRegistry();
    const timers = manualTimers();
    const liveness = new DataplaneLiveness({ status, graceMs: 1000, ...timers });
    const remoteOnline = new Set<string>(['backend']);
    const remoteChanges = new Subject<void>();
    liveness.attachRemote({ online: (_mesh, name) => remoteOnline.has(name), changes: remoteChanges });
    liveness.define('default', 'backend', true);
    liveness.define('default', 'gone', true);
    timers.fire();
    expect(liveness.isOffline('default', 'backend')).toBe(false);
    expect(liveness.isOffline('default', 'gone')).toBe(true);
    // when the other replica loses it
    remoteOnline.delete('backend');
    remoteChanges.next();
    timers.fire();
    expect(liveness.isOffline('default', 'backend')).toBe(true);
    // and an undefined Dataplane is no longer tracked
    liveness.define('default', 'gone', false);
    expect(liveness.isOffline('default', 'gone')).toBe(false);
    liveness.close();
  });
});

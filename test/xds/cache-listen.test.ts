/**
 * SnapshotCache.listen (issue #11 idle memory: no rxjs subscriber chain per stream) must behave as
 * `watch(node).subscribe(sink)`: streams of one proxy share one generation, a stream that stops
 * (even while a snapshot is being delivered) no longer hears anything and leaves the others
 * served, the last stream stopping stops the generation, and a refused node hears its error at once.
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { SnapshotCache, type SnapshotSink } from '../../src/snapshot/cache.js';
import { ResourceEncoder, type ResourceObject } from '../../src/snapshot/encode.js';
import { WatchError } from '../../src/snapshot/watcher.js';
import type { GeneratedConfig, Snapshot } from '../../src/snapshot/snapshot.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from '../../src/snapshot/types.js';
import { cluster, endpoints } from '../helpers/controlled-watcher.js';

function config(port: number): GeneratedConfig {
  return {
    resources: new Map<string, readonly ResourceObject[]>([
      [CLUSTER_TYPE, [cluster('a')]],
      [ENDPOINT_TYPE, [endpoints('a', port)]],
    ]),
    refs: [{ typeUrl: ENDPOINT_TYPE, name: 'a', from: 'Cluster a' }],
  };
}

class Recorder implements SnapshotSink {
  readonly snapshots: Snapshot[] = [];
  readonly errors: unknown[] = [];
  onNext?: () => void;
  next(snapshot: Snapshot): void {
    this.snapshots.push(snapshot);
    this.onNext?.();
  }
  error(err: unknown): void {
    this.errors.push(err);
  }
}

const node = { id: 'web', cluster: 'test', metadata: {} };

describe('SnapshotCache.listen', () => {
  it('shares one generation between the streams of a proxy, and stops it with the last', () => {
    let generations = 0;
    const configs = new Subject<GeneratedConfig>();
    const cache = new SnapshotCache(
      () => {
        generations++;
        return configs.asObservable();
      },
      { error: () => undefined },
      { encoder: new ResourceEncoder() },
    );
    const first = new Recorder();
    const second = new Recorder();
    const third = new Recorder();
    const stopFirst = cache.listen(node, first);
    configs.next(config(1));
    // a stream that joins gets the current snapshot at once, from the same generation
    const stopSecond = cache.listen(node, second);
    const stopThird = cache.listen(node, third);
    expect(generations).toBe(1);
    expect(second.snapshots).toEqual(first.snapshots);
    expect(cache.sizes.watches).toBe(1);

    // when the second stops while the first is being handed the next snapshot
    first.onNext = () => stopSecond();
    configs.next(config(2));
    first.onNext = undefined;

    // then it heard nothing more, and the others were served
    expect(first.snapshots).toHaveLength(2);
    expect(second.snapshots).toHaveLength(1);
    expect(third.snapshots).toHaveLength(2);

    // and the generation stops with the last stream
    stopFirst();
    configs.next(config(3));
    expect(third.snapshots).toHaveLength(3);
    stopThird();
    stopThird();
    expect(cache.sizes.watches).toBe(0);
    expect(configs.observed).toBe(false);
    expect(first.errors).toEqual([]);
  });

  it('hands a refused node its error at once, and keeps nothing for it', () => {
    const refusal = new WatchError(16, 'no token');
    const cache = new SnapshotCache(() => new Subject<GeneratedConfig>(), { error: () => undefined }, { authenticate: () => ({ ok: false, error: refusal }) });
    const sink = new Recorder();
    const stop = cache.listen(node, sink);
    expect(sink.errors).toEqual([refusal]);
    expect(cache.sizes).toEqual({ watches: 0, latest: 0 });
    stop();
  });
});

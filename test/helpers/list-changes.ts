/**
 * Whole resource lists as the changes src takes (`ResourceChange`). src's consumers (the
 * translator, the identity manager) take only changes; a test that thinks in whole lists feeds
 * them through here, and each list is compared with the one before by `listChange`, as the
 * consumers used to do themselves with their last set. The first list is a reset.
 */
import { distinctUntilChanged, map, scan, type Observable } from 'rxjs';
import { listChange, ResourceSet, type ResourceChange } from '../../src/api/resource-set.js';
import type { Resource } from '../../src/api/types.js';

/** The change a consumer's first list makes: all of it (a reset). */
export function firstChange(list: readonly Resource[]): ResourceChange {
  return listChange(undefined, ResourceSet.fromList(list));
}

/**
 * Feeds lists to `consume` as changes, each from the set the previous change left. One feed per
 * consumer, and every change that consumer takes must come through it: the feed's previous set
 * then is the consumer's last set. It moves on once `consume` returns, as the translator's does.
 */
export function listFeed<T>(consume: (change: ResourceChange) => T): (list: readonly Resource[]) => T {
  let previous: ResourceSet | undefined;
  return (list) => {
    const change = listChange(previous, ResourceSet.fromList(list));
    const result = consume(change);
    previous = change.set;
    return result;
  };
}

/**
 * A stream of whole lists as the stream of changes a ControlPlane takes: each list compared with
 * the previous one, object by object (the first is a reset); a list repeated as the same array
 * object is no change.
 */
export function changesOfLists(lists: Observable<readonly Resource[]>): Observable<ResourceChange> {
  return lists.pipe(
    distinctUntilChanged(),
    scan((previous: ResourceChange | undefined, list: readonly Resource[]) => listChange(previous?.set, ResourceSet.fromList(list)), undefined),
    map((change) => change as ResourceChange),
  );
}

/**
 * A stored record that fails validation never stops the server or the other resources (SPEC §3
 * serve): records reach the store past the admin API's checks (written to etcd by hand, by an older
 * meshcp, or by two replicas that each validated alone). When a merged set has errors that the
 * STORE brought, the stored resources behind them are held at their last good version, or skipped
 * when they never had one, and the rest is served. Errors a `--config` change brings still reject
 * that change as a whole (resource-sources.ts): the operator deploying the file must see them.
 *
 * Each round looks at the blocking errors left:
 * - their owners that are stored resources changed since the last good set (or, before a first good
 *   set, any stored owner) go back to their last good version, or out of the set;
 * - when only unchanged resources are left with errors, stored resources deleted since the last
 *   good set are held (a hand-deleted Secret that a Route still names stays served until the Route
 *   goes too).
 * A round removes or restores at least one resource, so the rounds are few (the depth of
 * references: Mesh ← Secret ← Route).
 */
import { isDeepStrictEqual } from 'node:util';
import { formatFieldError, type FieldError } from '../api/errors.js';
import { resourceKey, resourceLabel, type Resource } from '../api/types.js';
import type { MergedResources } from './merged.js';

/** What a quarantined stored resource became in the served set. */
export interface QuarantinedResource {
  readonly key: string;
  readonly type: Resource['type'];
  readonly name: string;
  readonly mesh?: string;
  /** Its errors (or, for a held delete, the errors its removal caused), one line each. */
  readonly errors: readonly string[];
  /** `held`: its last good version is served; `skipped`: it is not served. */
  readonly outcome: 'held' | 'skipped';
}

export interface Evaluation {
  readonly blocking: readonly FieldError[];
}

const MAX_ROUNDS = 16;

/**
 * `merged` with the stored resources behind `first.blocking` held or skipped, re-evaluated each
 * round with `evaluate`; undefined when the errors are not the store's doing (nothing to hold).
 */
export function quarantineStored<E extends Evaluation>(
  merged: MergedResources,
  first: E,
  lastGood: MergedResources | undefined,
  evaluate: (candidate: MergedResources) => E,
): { merged: MergedResources; evaluation: E; quarantined: ReadonlyMap<string, QuarantinedResource> } | undefined {
  const previous = new Map((lastGood?.resources ?? []).map((r) => [resourceKey(r), r]));
  const previousOrigins = lastGood?.origins ?? new Map();
  const quarantined = new Map<string, QuarantinedResource>();
  let current = merged;
  let evaluation = first;
  let restoredDeletes = false;
  for (let round = 0; round < MAX_ROUNDS && evaluation.blocking.length > 0; round++) {
    const byLabel = new Map<string, Resource[]>();
    for (const r of current.resources) byLabel.set(resourceLabel(r), [...(byLabel.get(resourceLabel(r)) ?? []), r]);
    const errorsOf = new Map<string, string[]>();
    for (const e of evaluation.blocking) {
      for (const owner of e.resource !== undefined ? (byLabel.get(e.resource) ?? []) : []) {
        const key = resourceKey(owner);
        const changed = !isDeepStrictEqual(previous.get(key), owner);
        if (current.origins.get(key) === 'api' && changed) errorsOf.set(key, [...(errorsOf.get(key) ?? []), formatFieldError(e)]);
      }
    }
    let resources: Resource[];
    if (errorsOf.size > 0) {
      resources = current.resources.flatMap((r) => {
        const errors = errorsOf.get(resourceKey(r));
        if (!errors) return [r];
        const last = previousOrigins.get(resourceKey(r)) === 'api' ? previous.get(resourceKey(r)) : undefined;
        quarantined.set(resourceKey(r), describe(r, errors, last ? 'held' : 'skipped'));
        return last ? [last] : [];
      });
    } else {
      if (restoredDeletes) break;
      restoredDeletes = true;
      const present = new Set(current.resources.map(resourceKey));
      const deleted = [...previous].filter(([key]) => !present.has(key) && previousOrigins.get(key) === 'api' && !merged.origins.has(key)).map(([, r]) => r);
      if (deleted.length === 0) break;
      const because = evaluation.blocking.map(formatFieldError);
      for (const r of deleted) quarantined.set(resourceKey(r), describe(r, [`its deletion from the store is held: without it, ${because[0] ?? 'the set does not validate'}`], 'held'));
      resources = [...current.resources, ...deleted];
    }
    const origins = new Map(current.origins);
    const kept = new Set(resources.map(resourceKey));
    for (const key of quarantined.keys()) {
      if (kept.has(key)) origins.set(key, 'api');
      else origins.delete(key);
    }
    current = { ...current, resources, origins };
    evaluation = evaluate(current);
  }
  return quarantined.size > 0 ? { merged: current, evaluation, quarantined } : undefined;
}

function describe(r: Resource, errors: readonly string[], outcome: QuarantinedResource['outcome']): QuarantinedResource {
  return { key: resourceKey(r), type: r.type, name: r.name, ...(r.type !== 'Mesh' ? { mesh: r.mesh } : {}), errors, outcome };
}

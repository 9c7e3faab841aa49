/**
 * Last good versions (README "Validation and pinning"). An error in a resource a change did not
 * touch, which the last good set has too when checked now (its CA `file:` was rewritten on disk
 * into garbage, removed, or its certificate expired), blocks nothing: that resource is PINNED at its
 * last good version, its error is logged once and shown on it (`get`, the admin API), and the rest
 * of the change is served. The pin lifts on the first merge where the resource validates again.
 * Stored resources the store brought errors with are held or skipped (stored-quarantine.ts); they
 * are shown and logged here too.
 */
import { isDeepStrictEqual } from 'node:util';
import { formatFieldError, type FieldError } from '../api/errors.js';
import { resourceKey, resourceLabel, type Resource } from '../api/types.js';
import type { Logger } from '../log/logger.js';
import type { StoreProblem } from '../store/store.js';
import type { MergedResources } from './merged.js';
import type { QuarantinedResource } from './stored-quarantine.js';

/** A resource held at its last good version because it no longer validates for reasons outside the resource set. */
export interface PinnedResource {
  /** `resourceKey`: `Mesh/name`, `Kind/mesh/name`. */
  readonly key: string;
  readonly type: Resource['type'];
  readonly name: string;
  readonly mesh?: string;
  /** Its errors, one line each (`Mesh/a: mtls.backends[0].conf.cert: …`). */
  readonly errors: readonly string[];
  /** ISO 8601: when it was first pinned. */
  readonly since: string;
}

/**
 * Splits the errors of a merged set: those of resources to pin (unchanged since the last good
 * set, which has the very same error when checked now: the cause is outside the resource set),
 * and those that block the change. Before a first good set there is nothing to pin at.
 * `lastGoodErrors` checks the last good set now; it runs only when there is an error to place.
 */
export function classifyErrors(
  merged: MergedResources,
  errors: readonly FieldError[],
  lastGood: MergedResources | undefined,
  lastGoodErrors: (lastGood: MergedResources) => readonly FieldError[],
  now: () => Date,
): { pins: Map<string, PinnedResource>; blocking: FieldError[] } {
  const pins = new Map<string, PinnedResource>();
  if (errors.length === 0) return { pins, blocking: [] };
  if (!lastGood) return { pins, blocking: [...errors] };
  const previous = new Map(lastGood.resources.map((r) => [resourceKey(r), r]));
  const external = new Set(lastGoodErrors(lastGood).map(formatFieldError));
  const byLabel = new Map<string, Resource[]>();
  for (const r of merged.resources) byLabel.set(resourceLabel(r), [...(byLabel.get(resourceLabel(r)) ?? []), r]);
  const since = now().toISOString();
  const blocking: FieldError[] = [];
  for (const e of errors) {
    const line = formatFieldError(e);
    const owners = e.resource !== undefined ? (byLabel.get(e.resource) ?? []) : [];
    const untouched = owners.length > 0 && owners.every((r) => isDeepStrictEqual(previous.get(resourceKey(r)), r));
    if (!external.has(line) || !untouched) {
      blocking.push(e);
      continue;
    }
    for (const r of owners) {
      const key = resourceKey(r);
      const pin = pins.get(key);
      pins.set(key, { key, type: r.type, name: r.name, ...(r.type !== 'Mesh' ? { mesh: r.mesh } : {}), errors: [...(pin?.errors ?? []), line], since });
    }
  }
  return { pins, blocking };
}

/** The merged set with each pinned resource as the last good set has it. */
export function withLastGoodOf(merged: MergedResources, pins: ReadonlyMap<string, PinnedResource>, lastGood: MergedResources | undefined): MergedResources {
  const previous = new Map((lastGood?.resources ?? []).map((r) => [resourceKey(r), r]));
  return { ...merged, resources: merged.resources.map((r) => (pins.has(resourceKey(r)) ? (previous.get(resourceKey(r)) ?? r) : r)) };
}

function labelOf(held: { type: string; name: string; mesh?: string }): string {
  return `${held.type}/${held.name}${held.mesh !== undefined ? ` in mesh "${held.mesh}"` : ''}`;
}

/** The resources served at a version other than the desired one (pinned, held or skipped stored ones), logged as they come and go. */
export class HeldResources {
  private pinsByKey: ReadonlyMap<string, PinnedResource> = new Map();
  private quarantinedByKey: ReadonlyMap<string, QuarantinedResource> = new Map();
  private quarantineSince = new Map<string, string>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => Date,
  ) {}

  /** What the merged set pins. */
  get pins(): ReadonlyMap<string, PinnedResource> {
    return this.pinsByKey;
  }

  /** Stored resources held at their last good version or skipped, because the store brought their errors. */
  get quarantined(): ReadonlyMap<string, QuarantinedResource> {
    return this.quarantinedByKey;
  }

  /** Nothing pinned, held or skipped: the served set is the desired one when it was accepted. */
  get none(): boolean {
    return this.pinsByKey.size === 0 && this.quarantinedByKey.size === 0;
  }

  /**
   * Resources held at their last good version, by `resourceKey`, with their errors: those the
   * merged set pins, held stored resources, and stored records the store cannot read whose last
   * good version it holds (`problems`).
   */
  pinned(problems: Iterable<StoreProblem>): ReadonlyMap<string, PinnedResource> {
    const held = [...problems].filter((p) => p.held && p.ref !== undefined && !this.pinsByKey.has(p.key));
    const quarantinedHeld = [...this.quarantinedByKey.values()].filter((q) => q.outcome === 'held' && !this.pinsByKey.has(q.key));
    if (held.length === 0 && quarantinedHeld.length === 0) return this.pinsByKey;
    const all = new Map(this.pinsByKey);
    for (const q of quarantinedHeld) {
      all.set(q.key, { key: q.key, type: q.type, name: q.name, ...(q.mesh !== undefined ? { mesh: q.mesh } : {}), errors: q.errors, since: this.quarantineSince.get(q.key) ?? '' });
    }
    for (const { key, ref, reason, since } of held) {
      if (!ref) continue;
      all.set(key, { key, type: ref.type, name: ref.name, ...(ref.type !== 'Mesh' ? { mesh: ref.mesh } : {}), errors: [`the stored record does not validate: ${reason}`], since });
    }
    return all;
  }

  /** Logs a pin once (again only when its errors change), and its lifting. */
  setPins(next: ReadonlyMap<string, PinnedResource>, served: MergedResources): void {
    const result = new Map<string, PinnedResource>();
    for (const [key, pin] of next) {
      const held = this.pinsByKey.get(key);
      result.set(key, held ? { ...pin, since: held.since } : pin);
      if (held && held.errors.join('\n') === pin.errors.join('\n')) continue;
      for (const line of pin.errors) this.log.error({ resource: key, pinned: true }, line);
      this.log.warn(
        { resource: key },
        `${labelOf(pin)} no longer validates although it did not change; it is pinned at its last good version (${pin.type === 'Mesh' ? 'its proxies keep the CA material last accepted' : 'it is served as last accepted'}) until it validates again; every other change keeps being served`,
      );
    }
    const servedKeys = new Set(served.resources.map(resourceKey));
    for (const [key, held] of this.pinsByKey) {
      if (result.has(key)) continue;
      this.log.info({ resource: key }, servedKeys.has(key) ? `${labelOf(held)} validates again: its pin is lifted and its current version is served` : `${labelOf(held)} was removed: its pin is lifted`);
    }
    this.pinsByKey = result;
  }

  /** Logs each stored resource held or skipped once (again when its errors change), and when it is served as stored again. */
  setQuarantined(next: ReadonlyMap<string, QuarantinedResource>): void {
    for (const [key, q] of next) {
      const known = this.quarantinedByKey.get(key);
      if (known && known.outcome === q.outcome && known.errors.join('\n') === q.errors.join('\n')) continue;
      for (const line of q.errors) this.log.error({ resource: key, stored: true }, line);
      this.log.warn(
        { resource: key },
        q.outcome === 'held'
          ? `the stored ${labelOf(q)} does not validate; its last good version keeps being served (fix it with \`meshcp apply\`); every other resource keeps being served`
          : `the stored ${labelOf(q)} does not validate and had no good version; it is skipped (fix it with \`meshcp apply\`, or delete it); every other resource keeps being served`,
      );
    }
    for (const [key, q] of this.quarantinedByKey) {
      if (!next.has(key)) this.log.info({ resource: key }, `the stored ${q.type}/${q.name} validates again (or was removed): it is served as stored`);
    }
    const since = this.now().toISOString();
    this.quarantineSince = new Map([...next.keys()].map((key) => [key, this.quarantineSince.get(key) ?? since]));
    this.quarantinedByKey = next;
  }
}

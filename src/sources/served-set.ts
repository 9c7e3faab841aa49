/**
 * The served set as the pipeline holds it: a ranked `ResourceSet` (config-file resources first, in
 * file order; stored ones after them, by key: the order of `mergeResources`), the changes that
 * take it from one version to the next, and its list form.
 */
import { meshOf, ResourceSet, type RankedResource, type ResourceChange } from '../api/resource-set.js';
import { resourceKey, type Resource } from '../api/types.js';
import type { MergedResources, Origin } from './merged.js';

/** Secret material is checked when a secret is applied: for files, when a secret is new or its content changed. */
export function secretFingerprint(r: Resource): string | undefined {
  return r.type === 'Secret' ? `${r.secretType}\n${r.cert}\n${r.key ?? ''}` : undefined;
}

/** Config-file resources rank first, in file order; stored ones after them, by key (the order of `mergeResources`). */
export function fileRank(index: number): string {
  return `f${String(index).padStart(9, '0')}`;
}

export function storeRank(key: string): string {
  return `s${key}`;
}

/** One resource's move: `old` (undefined: absent) becomes `next` (undefined: deleted) at `rank`. */
export interface ChangeEntry {
  readonly key: string;
  readonly old: Resource | undefined;
  readonly next: Resource | undefined;
  readonly rank: string;
}

/** The change of `served` that replaces each entry's `old` with its `next` at its rank. */
export function changeOfEntries(served: ResourceSet, entries: readonly ChangeEntry[]): ResourceChange {
  const puts: RankedResource[] = [];
  const replaced: (Resource | undefined)[] = [];
  const deletes: Resource[] = [];
  const removals: { mesh: string; rank: string }[] = [];
  for (const { old, next, rank } of entries) {
    if (next === old) continue;
    if (next) {
      puts.push({ resource: next, rank });
      replaced.push(old);
    } else if (old) {
      deletes.push(old);
      removals.push({ mesh: meshOf(old), rank });
    }
  }
  const set = served.apply(puts, removals);
  const meshes = new Set([...puts.map((p) => meshOf(p.resource)), ...deletes.map(meshOf)]);
  return { set, puts: puts.map((p) => p.resource), replaced, deletes, meshes, reset: false };
}

/** The served set with ranks: config-file resources in file order, then stored ones by key. */
export function rankedSet(served: MergedResources, fromFiles: readonly Resource[]): ResourceSet {
  const fileIndex = new Map(fromFiles.map((r, i) => [resourceKey(r), i]));
  return ResourceSet.fromRanked(
    served.resources.map((r) => {
      const key = resourceKey(r);
      const index = served.origins.get(key) === 'config' ? fileIndex.get(key) : undefined;
      return { resource: r, rank: index !== undefined ? fileRank(index) : storeRank(key) };
    }),
  );
}

/** The served set as `mergeResources` lists it (files first, then stored resources by key); `stored` gives the shadowed ones. */
export function listOfServed(served: ResourceSet, fileKeys: ReadonlySet<string>, stored: ReadonlyMap<string, Resource>): MergedResources {
  const ranked: { resource: Resource; rank: string }[] = [];
  for (const group of served.groups.values()) group.resources.forEach((resource, i) => ranked.push({ resource, rank: group.ranks[i] ?? '' }));
  ranked.sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0));
  const origins = new Map<string, Origin>();
  for (const { resource } of ranked) origins.set(resourceKey(resource), fileKeys.has(resourceKey(resource)) ? 'config' : 'api');
  const shadowed = [...stored].filter(([key]) => fileKeys.has(key)).map(([, r]) => r);
  return { resources: ranked.map((r) => r.resource), origins, shadowed };
}

/** `change` with the Mesh resources of `meshes` put again: their CA files' content changed (the objects did not). */
export function withMaterialOf(change: ResourceChange, meshes: ReadonlySet<string>): ResourceChange {
  const puts = [...change.puts];
  const replaced = [...change.replaced];
  for (const mesh of meshes) {
    const resource = change.set.resourcesOf(mesh).find((r) => r.type === 'Mesh');
    if (!resource || puts.includes(resource)) continue;
    puts.push(resource);
    replaced.push(undefined);
  }
  return { ...change, puts, replaced, meshes: new Set([...change.meshes, ...meshes]) };
}

/** The same resources, object for object (a re-check that found nothing new). */
export function sameResources(a: MergedResources | undefined, b: MergedResources): boolean {
  return a !== undefined && a.resources.length === b.resources.length && a.resources.every((r, i) => r === b.resources[i]);
}

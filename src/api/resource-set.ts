/**
 * The resource set as the pipeline passes it on (DESIGN.md "Incremental"): an
 * immutable set grouped by mesh, and the changes between two sets. The store emits changes
 * (`Store.changes()`), the sources merge and validate them (sources/resource-sources.ts), and the
 * control plane reads only what a change touched: the meshes it names and the resources it puts
 * or deletes. A change shares every untouched mesh group with the previous set, object for
 * object, so "did this mesh change" is one comparison.
 *
 * Order: each group keeps its resources in rank order. The sources rank config-file resources
 * first (in file order), then stored ones (by key), which is the order of the merged list; a set
 * made from a list keeps the list's order. Translation reads a group in that order (endpoint
 * order, the route that claimed a host first), so the same resources always give the same output.
 */
import { resourceKey, type Resource, type SecretResource } from './types.js';

/** The mesh a resource belongs to: a Mesh its own, every other resource its `mesh`. */
export function meshOf(resource: Resource): string {
  return resource.type === 'Mesh' ? resource.name : resource.mesh;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One mesh's resources (the Mesh resource included), in rank order; immutable. */
export class MeshGroup {
  private secretIndex?: ReadonlyMap<string, SecretResource>;

  constructor(
    readonly mesh: string,
    readonly resources: readonly Resource[],
    /** The rank of each resource, ascending; empty for a group made from a list. */
    readonly ranks: readonly string[] = [],
  ) {}

  /** The Secret `name` of this mesh (indexed on the first look-up). */
  secret(name: string): SecretResource | undefined {
    if (!this.secretIndex) {
      const index = new Map<string, SecretResource>();
      for (const r of this.resources) if (r.type === 'Secret') index.set(r.name, r);
      this.secretIndex = index;
    }
    return this.secretIndex.get(name);
  }

  /** Index of the resource of `rank`, or where it would be inserted as `-(index + 1)`. */
  find(rank: string): number {
    return findRank(this.ranks, rank);
  }
}

/** Binary search of `rank` in ascending `ranks`: its index, or `-(insertion index + 1)`. */
function findRank(ranks: readonly string[], rank: string): number {
  let lo = 0;
  let hi = ranks.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = compare(ranks[mid]!, rank);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -(lo + 1);
}

const EMPTY_GROUP_RESOURCES: readonly Resource[] = Object.freeze([]);

/** A resource with its rank, for `ResourceSet.apply`. */
export interface RankedResource {
  readonly resource: Resource;
  readonly rank: string;
}

/** A resource to remove, for `ResourceSet.apply`: its mesh and rank. */
export interface RankedRemoval {
  readonly mesh: string;
  readonly rank: string;
}

export class ResourceSet {
  private listCache?: readonly Resource[];

  private constructor(
    /** Sorted by mesh name; `default` always exists (it may be empty), like `resourcesByMesh`. */
    readonly groups: ReadonlyMap<string, MeshGroup>,
  ) {}

  static readonly EMPTY = new ResourceSet(new Map([['default', new MeshGroup('default', EMPTY_GROUP_RESOURCES)]]));

  /** A set in the list's order (no ranks: change it with `fromList` again, see `listChange`). */
  static fromList(list: readonly Resource[]): ResourceSet {
    const groups = new Map<string, Resource[]>([['default', []]]);
    for (const r of list) {
      const mesh = meshOf(r);
      let group = groups.get(mesh);
      if (!group) groups.set(mesh, (group = []));
      group.push(r);
    }
    return new ResourceSet(new Map([...groups].sort(([a], [b]) => compare(a, b)).map(([mesh, resources]) => [mesh, new MeshGroup(mesh, resources)])));
  }

  /** A set of ranked resources (grouped by mesh, each group sorted by rank). */
  static fromRanked(entries: readonly RankedResource[]): ResourceSet {
    const groups = new Map<string, RankedResource[]>([['default', []]]);
    for (const e of entries) {
      const mesh = meshOf(e.resource);
      let group = groups.get(mesh);
      if (!group) groups.set(mesh, (group = []));
      group.push(e);
    }
    return new ResourceSet(
      new Map(
        [...groups]
          .sort(([a], [b]) => compare(a, b))
          .map(([mesh, group]) => {
            group.sort((a, b) => compare(a.rank, b.rank));
            return [mesh, new MeshGroup(mesh, group.map((e) => e.resource), group.map((e) => e.rank))];
          }),
      ),
    );
  }

  /** Every resource: the groups in mesh order, each in rank order. Built once per set, on first use. */
  list(): readonly Resource[] {
    if (!this.listCache) {
      const out: Resource[] = [];
      for (const group of this.groups.values()) for (const r of group.resources) out.push(r);
      this.listCache = out;
    }
    return this.listCache;
  }

  /** This set's structure with `groups` (listChange shares the previous set's unchanged groups). */
  withGroups(groups: ReadonlyMap<string, MeshGroup>): ResourceSet {
    return new ResourceSet(groups);
  }

  group(mesh: string): MeshGroup | undefined {
    return this.groups.get(mesh);
  }

  /** The resources of `mesh` (the Mesh resource included), in rank order. */
  resourcesOf(mesh: string): readonly Resource[] {
    return this.groups.get(mesh)?.resources ?? EMPTY_GROUP_RESOURCES;
  }

  /** The Secret `name` of `mesh`. */
  secret(mesh: string, name: string): SecretResource | undefined {
    return this.groups.get(mesh)?.secret(name);
  }

  /**
   * This set with `removals` taken out and `puts` put in (replacing a resource of the same rank),
   * as a new set; groups nothing touched are shared. Costs a binary search and one array copy
   * per touched group and change, not a pass over the set.
   */
  apply(puts: readonly RankedResource[], removals: readonly RankedRemoval[]): ResourceSet {
    if (puts.length === 0 && removals.length === 0) return this;
    const touched = new Map<string, { resources: Resource[]; ranks: string[] }>();
    const editable = (mesh: string): { resources: Resource[]; ranks: string[] } => {
      let group = touched.get(mesh);
      if (!group) {
        const current = this.groups.get(mesh);
        if (current && current.resources.length > 0 && current.ranks.length !== current.resources.length) {
          throw new Error('internal: a ResourceSet made from a list cannot be changed in place; use fromList');
        }
        group = { resources: [...(current?.resources ?? [])], ranks: [...(current?.ranks ?? [])] };
        touched.set(mesh, group);
      }
      return group;
    };
    for (const removal of removals) {
      const group = editable(removal.mesh);
      const at = findRank(group.ranks, removal.rank);
      if (at < 0) continue;
      group.resources.splice(at, 1);
      group.ranks.splice(at, 1);
    }
    for (const { resource, rank } of puts) {
      const group = editable(meshOf(resource));
      const at = findRank(group.ranks, rank);
      if (at >= 0) group.resources[at] = resource;
      else {
        group.resources.splice(-at - 1, 0, resource);
        group.ranks.splice(-at - 1, 0, rank);
      }
    }
    const groups = new Map(this.groups);
    for (const [mesh, group] of touched) {
      if (group.resources.length === 0 && mesh !== 'default') groups.delete(mesh);
      else groups.set(mesh, new MeshGroup(mesh, group.resources, group.ranks));
    }
    const sorted = [...touched.keys()].some((mesh) => !this.groups.has(mesh)) ? new Map([...groups].sort(([a], [b]) => compare(a, b))) : groups;
    return new ResourceSet(sorted);
  }
}

/** What changed between two resource sets, as the pipeline passes it on. */
export interface ResourceChange {
  readonly set: ResourceSet;
  /**
   * New or changed resources, and resources to look at again although they are the same object
   * (a provided CA whose `file:` content changed on disk). Empty when `reset`.
   */
  readonly puts: readonly Resource[];
  /** For each of `puts`, the version it replaced (undefined: it is new, or the same object looked at again). */
  readonly replaced: readonly (Resource | undefined)[];
  /** Removed resources, as they were. Empty when `reset`. */
  readonly deletes: readonly Resource[];
  /** Meshes whose group changed or that a put or delete names. Every mesh when `reset`. */
  readonly meshes: ReadonlySet<string>;
  /** The first set (or a set that replaced everything): every consumer looks at all of it. */
  readonly reset: boolean;
}

/** The first change: everything in `set`. */
export function resetChange(set: ResourceSet): ResourceChange {
  return { set, puts: [], replaced: [], deletes: [], meshes: new Set(set.groups.keys()), reset: true };
}

/**
 * The change from `previous` to `next` when both were made from lists (tests, the bench, any
 * source that only has whole lists): a group whose resources are the same objects in the same
 * order is shared; otherwise its differing resources are the puts and deletes. O(resources), by
 * object identity only.
 */
export function listChange(previous: ResourceSet | undefined, next: ResourceSet): ResourceChange {
  if (!previous) return resetChange(next);
  const groups = new Map<string, MeshGroup>();
  const puts: Resource[] = [];
  const replaced: (Resource | undefined)[] = [];
  const deletes: Resource[] = [];
  const meshes = new Set<string>();
  for (const [mesh, group] of next.groups) {
    const old = previous.groups.get(mesh);
    if (old && old.resources.length === group.resources.length && old.resources.every((r, i) => r === group.resources[i])) {
      groups.set(mesh, old);
      continue;
    }
    groups.set(mesh, group);
    meshes.add(mesh);
    const before = new Map((old?.resources ?? []).map((r) => [resourceKey(r), r]));
    for (const r of group.resources) {
      const key = resourceKey(r);
      const old = before.get(key);
      if (old !== r) {
        puts.push(r);
        replaced.push(old);
      }
      before.delete(key);
    }
    deletes.push(...before.values());
  }
  for (const [mesh, old] of previous.groups) {
    if (next.groups.has(mesh)) continue;
    meshes.add(mesh);
    deletes.push(...old.resources);
  }
  return { set: meshes.size === 0 ? previous : next.withGroups(groups), puts, replaced, deletes, meshes, reset: false };
}

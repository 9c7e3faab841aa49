/**
 * What proxies' generated configs have in common, held once per control plane: EDS lists, source
 * maps and the ClusterLoadAssignments an endpoint change swaps in (proxy-configs.ts). One
 * `SharedParts` is made by the composition root (control-plane.ts) and travels with the model
 * states; two control planes share nothing.
 */
import type { ResourceObject } from '../snapshot/encode.js';
import type { MeshModel } from '../model/model.js';
import type { ModelChange } from '../translate/incremental.js';
import { kindOfKey, nameOfKey } from '../change/keys.js';
import { serviceEndpoints } from '../generate/services.js';
import type { GenerationMemo } from '../generate/memo.js';
import { serviceClusterName } from '../envoy/names.js';
import { MapWith, type GeneratedConfig, type GeneratedSources } from '../snapshot/snapshot.js';
import { ENDPOINT_TYPE } from '../snapshot/types.js';

/** Past this many lists (or source maps) a table starts over, which costs sharing, never a wrong result. */
const MAX_SHARED = 20_000;

/** What an endpoint change of one set of services swaps, built once for all proxies. */
interface EndpointPatch {
  /** The new ClusterLoadAssignment of each changed service, by cluster name. */
  readonly replacements: ReadonlyMap<string, ResourceObject>;
  /** Patched EDS lists by the list they patch: proxies sharing a list share its patch. */
  readonly lists: WeakMap<readonly ResourceObject[], readonly ResourceObject[]>;
}

/**
 * How the proxies of a mesh take a change of its model (`ModelChange`, the keys of what changed):
 * generated again, patched, or left as they are.
 */
export interface ChangePlan {
  /** Every proxy of the mesh is generated again (its mTLS, permissions, a service's shape changed, or the mesh came or went). */
  readonly all: boolean;
  /**
   * Proxies without a Dataplane (gateways, proxyless clients, proxies not defined yet) are
   * generated again: a Gateway or a user Secret changed, which only a gateway's config reads
   * (generate/generate.ts: a Dataplane's proxy is a sidecar).
   */
  readonly withoutDataplane: boolean;
  /** Proxies generated again because their own Dataplane changed. */
  readonly proxies: ReadonlySet<string>;
  /** Services whose endpoints alone changed: every other proxy gets their ClusterLoadAssignments swapped in. */
  readonly services: ReadonlySet<string>;
}

/** The plan of a change, read off its keys. */
export function changePlan(change: ModelChange): ChangePlan {
  let all = false;
  let withoutDataplane = false;
  const proxies = new Set<string>();
  const services = new Set<string>();
  for (const key of change) {
    switch (kindOfKey(key)) {
      case 'ServiceMembers':
        services.add(nameOfKey(key));
        break;
      case 'Dataplane':
        proxies.add(nameOfKey(key));
        break;
      case 'Gateway':
      case 'Secret':
        withoutDataplane = true;
        break;
      default:
        all = true;
    }
  }
  return { all, withoutDataplane, proxies, services };
}

/** `config` with the assignments named in `replacements` swapped; `config` itself when it has none of them. */
function patchEndpoints(config: GeneratedConfig, replacements: ReadonlyMap<string, ResourceObject>): GeneratedConfig {
  const list = config.resources.get(ENDPOINT_TYPE);
  if (!list || replacements.size === 0) return config;
  let changed = false;
  const patched = list.map((assignment) => {
    const replacement = replacements.get(assignment['cluster_name'] as string);
    if (replacement === undefined || replacement === assignment) return assignment;
    changed = true;
    return replacement;
  });
  if (!changed) return config;
  const resources = new Map(config.resources);
  resources.set(ENDPOINT_TYPE, patched);
  return { ...config, resources };
}

export class SharedParts {
  /**
   * EDS lists by the identities of their assignments: the proxies that call the same services hold
   * one list (the assignments are shared per service, generate/services.ts), so an endpoint change
   * patches it once for all of them and the snapshot finds its encoded set by the list
   * (snapshot.ts), not by encoding each proxy's. Lists are never mutated, so sharing is safe.
   */
  private readonly listsByKey = new Map<string, readonly ResourceObject[]>();
  private readonly objectIds = new WeakMap<object, number>();
  private nextObjectId = 0;
  /**
   * Source maps (GeneratedSources.extra) by content: proxies of one service generate equal maps of
   * shared lists, one Map per type each; shared, they are held once.
   */
  private readonly sourceMaps = new Map<string, ReadonlyMap<string, unknown>>();
  /**
   * Per set of changed services (a plan's `services`: one per change, so per revision and mesh),
   * the patch it makes (built by the first proxy that needs it). A proxy that takes several
   * changes at once plans their union, which has a set of its own.
   */
  private readonly patches = new WeakMap<ReadonlySet<string>, EndpointPatch>();
  /** Per change, its plan (read once for every proxy of the mesh). */
  private readonly plans = new WeakMap<ModelChange, ChangePlan>();

  /** What the proxies of a mesh do about `change`. */
  plan(change: ModelChange): ChangePlan {
    let plan = this.plans.get(change);
    if (plan === undefined) this.plans.set(change, (plan = changePlan(change)));
    return plan;
  }

  private idOf(object: object): number {
    let id = this.objectIds.get(object);
    if (id === undefined) this.objectIds.set(object, (id = ++this.nextObjectId));
    return id;
  }

  /** The list equal to `list` (the same objects in the same order) already held, else `list`, now held. */
  list(list: readonly ResourceObject[]): readonly ResourceObject[] {
    let key = '';
    for (const object of list) key += `${this.idOf(object)},`;
    const found = this.listsByKey.get(key);
    if (found) return found;
    if (this.listsByKey.size >= MAX_SHARED) this.listsByKey.clear();
    this.listsByKey.set(key, list);
    return list;
  }

  /**
   * A generated config with what proxies have in common shared between them: its EDS list replaced
   * by the equal shared one, its source maps by the equal shared ones.
   */
  config(config: GeneratedConfig): GeneratedConfig {
    const list = config.resources.get(ENDPOINT_TYPE);
    const sources = this.sources(config.sources);
    const shared = list && list.length > 0 ? this.list(list) : list;
    if (shared === list && sources === config.sources) return config;
    const resources = new Map(config.resources);
    if (shared) resources.set(ENDPOINT_TYPE, shared);
    return { ...config, resources, ...(sources ? { sources } : {}) };
  }

  /**
   * `config` with the ClusterLoadAssignments of `services` (a plan's, of `mesh` as the change
   * planned leaves it) swapped in; the patched EDS list is shared by every proxy that held the same list.
   */
  patchEndpoints(config: GeneratedConfig, mesh: MeshModel, services: ReadonlySet<string>, memo: GenerationMemo): GeneratedConfig {
    const patch = this.endpointPatch(mesh, services, memo);
    const list = config.resources.get(ENDPOINT_TYPE);
    if (!list || patch.replacements.size === 0) return config;
    let patched = patch.lists.get(list);
    if (patched === undefined) {
      const next = patchEndpoints(config, patch.replacements).resources.get(ENDPOINT_TYPE)!;
      patched = next === list ? list : this.list(next);
      patch.lists.set(list, patched);
    }
    if (patched === list) return config;
    // The previous lists with EDS replaced, not a copy: the snapshot then sees it is an EDS patch (snapshot.ts MapWith).
    return { ...config, resources: new MapWith(config.resources, ENDPOINT_TYPE, patched) };
  }

  private endpointPatch(mesh: MeshModel, services: ReadonlySet<string>, memo: GenerationMemo): EndpointPatch {
    let found = this.patches.get(services);
    if (!found) {
      const map = new Map<string, ResourceObject>();
      for (const name of services) {
        const service = mesh.services.get(name);
        if (service) map.set(serviceClusterName(name), serviceEndpoints(service, memo));
      }
      this.patches.set(services, (found = { replacements: map, lists: new WeakMap() }));
    }
    return found;
  }

  private enterSourceMap(key: string, map: ReadonlyMap<string, unknown>): void {
    if (this.sourceMaps.size >= MAX_SHARED) this.sourceMaps.clear();
    this.sourceMaps.set(key, map);
  }

  /**
   * A map that differs from a known one by one entry of its own (a proxy's inbound listener, named
   * by its address, comes from its TrafficPermissions) is that known map with the entry added
   * (MapWith), and is not entered in the table: otherwise every connected proxy kept a Map per
   * type, its key string in the table, and an outer Map and key of its own (about a kilobyte per
   * mTLS proxy, idle memory). The own entry is `own` when given, else the last one (generation
   * adds a proxy's inbound listeners after its outbound ones); null: the map is shared whole or
   * not at all. The first map of its kind is entered with the map without that entry, so the next
   * proxy finds the latter.
   */
  private map<V extends object>(map: ReadonlyMap<string, V>, own?: string | null): ReadonlyMap<string, V> {
    // One pass builds the map's key and the key of the map without its own entry (`restKey`): the
    // own entry is the last (its part starts at `lastAt`) or the one named `own`.
    let key = '';
    let restKey = '';
    let lastAt = 0;
    let ownName: string | undefined;
    let ownValue: V | undefined;
    for (const [name, value] of map) {
      const part = `${name.length}:${name}=${this.idOf(value)},`;
      if (own === undefined) {
        lastAt = key.length;
        ownName = name;
        ownValue = value;
      } else if (own !== null) {
        if (name === own) {
          ownName = name;
          ownValue = value;
        } else restKey += part;
      }
      key += part;
    }
    const found = this.sourceMaps.get(key) as ReadonlyMap<string, V> | undefined;
    if (found) return found;
    // Not known: is it a known map plus an entry of its own?
    if (map.size < 2 || ownName === undefined || ownValue === undefined) {
      this.enterSourceMap(key, map);
      return map;
    }
    if (own === undefined) restKey = key.slice(0, lastAt);
    const rest = this.sourceMaps.get(restKey) as ReadonlyMap<string, V> | undefined;
    if (rest) return new MapWith(rest, ownName, ownValue);
    this.enterSourceMap(key, map);
    const without = new Map(map);
    without.delete(ownName);
    this.enterSourceMap(restKey, without);
    return map;
  }

  private sources(sources: GeneratedSources | undefined): GeneratedSources | undefined {
    if (!sources || sources.extra.size === 0) return sources;
    const inner = new Map<string, ReadonlyMap<string, readonly string[]>>();
    // The type whose map is the proxy's own (a known map plus an entry): the outer map is the known one plus it.
    let own: string | undefined;
    let owned = 0;
    for (const [typeUrl, byName] of sources.extra) {
      const shared = this.map(byName);
      inner.set(typeUrl, shared);
      if (shared instanceof MapWith) {
        own = typeUrl;
        owned++;
      }
    }
    return { owner: sources.owner, extra: this.map(inner, owned === 1 ? own : owned === 0 ? undefined : null) };
  }
}

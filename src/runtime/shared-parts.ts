/** What proxies' generated configs have in common, held once: EDS lists and source maps (proxy-configs.ts). */
import type { ResourceObject } from '../snapshot/encode.js';
import { MapWith, type GeneratedConfig, type GeneratedSources } from '../snapshot/snapshot.js';
import { ENDPOINT_TYPE } from '../snapshot/types.js';

/**
 * EDS lists by the identities of their assignments: the proxies that call the same services hold
 * one list (the assignments are shared per service, generate/services.ts), so an endpoint change
 * patches it once for all of them and the snapshot finds its encoded set by the list
 * (snapshot.ts), not by encoding each proxy's. Lists are never mutated, so sharing is safe. The
 * table is bounded: past the bound it starts over, which costs sharing, never a wrong result.
 */
const listsByKey = new Map<string, readonly ResourceObject[]>();
const objectIds = new WeakMap<object, number>();
let nextObjectId = 0;
const MAX_SHARED_LISTS = 20_000;

function idOf(object: object): number {
  let id = objectIds.get(object);
  if (id === undefined) objectIds.set(object, (id = ++nextObjectId));
  return id;
}

export function sharedList(list: readonly ResourceObject[]): readonly ResourceObject[] {
  let key = '';
  for (const object of list) key += `${idOf(object)},`;
  const found = listsByKey.get(key);
  if (found) return found;
  if (listsByKey.size >= MAX_SHARED_LISTS) listsByKey.clear();
  listsByKey.set(key, list);
  return list;
}

/**
 * Source maps (GeneratedSources.extra) by content: proxies of one service generate equal maps of
 * shared lists, one Map per type each; shared, they are held once (the table is bounded as above).
 *
 * A map that differs from a known one by one entry of its own (a proxy's inbound listener, named
 * by its address, comes from its TrafficPermissions) is that known map with the entry added
 * (MapWith), and is not entered in the table: otherwise every connected proxy kept a Map per
 * type, its key string in the table, and an outer Map and key of its own (about a kilobyte per
 * mTLS proxy, idle memory). The own entry is `own` when given, else the last one
 * (generation adds a proxy's inbound listeners after its outbound ones). The first map of its
 * kind is entered with the map without that entry, so the next proxy finds the latter.
 */
const sourceMaps = new Map<string, ReadonlyMap<string, unknown>>();

function enterSourceMap(key: string, map: ReadonlyMap<string, unknown>): void {
  if (sourceMaps.size >= MAX_SHARED_LISTS) sourceMaps.clear();
  sourceMaps.set(key, map);
}

/** `own`: the key of the proxy's own entry; the last when undefined; null: the map is shared whole or not at all. */
function sharedMap<V extends object>(map: ReadonlyMap<string, V>, own?: string | null): ReadonlyMap<string, V> {
  // One pass builds the map's key and the key of the map without its own entry (`restKey`): the
  // own entry is the last (its part starts at `lastAt`) or the one named `own`.
  let key = '';
  let restKey = '';
  let lastAt = 0;
  let ownName: string | undefined;
  let ownValue: V | undefined;
  for (const [name, value] of map) {
    const part = `${name.length}:${name}=${idOf(value)},`;
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
  const found = sourceMaps.get(key) as ReadonlyMap<string, V> | undefined;
  if (found) return found;
  // Not known: is it a known map plus an entry of its own?
  if (map.size < 2 || ownName === undefined || ownValue === undefined) {
    enterSourceMap(key, map);
    return map;
  }
  if (own === undefined) restKey = key.slice(0, lastAt);
  const rest = sourceMaps.get(restKey) as ReadonlyMap<string, V> | undefined;
  if (rest) return new MapWith(rest, ownName, ownValue);
  enterSourceMap(key, map);
  const without = new Map(map);
  without.delete(ownName);
  enterSourceMap(restKey, without);
  return map;
}

function sharedSources(sources: GeneratedSources | undefined): GeneratedSources | undefined {
  if (!sources || sources.extra.size === 0) return sources;
  const inner = new Map<string, ReadonlyMap<string, readonly string[]>>();
  // The type whose map is the proxy's own (a known map plus an entry): the outer map is the known one plus it.
  let own: string | undefined;
  let owned = 0;
  for (const [typeUrl, byName] of sources.extra) {
    const shared = sharedMap(byName);
    inner.set(typeUrl, shared);
    if (shared instanceof MapWith) {
      own = typeUrl;
      owned++;
    }
  }
  return { owner: sources.owner, extra: sharedMap(inner, owned === 1 ? own : owned === 0 ? undefined : null) };
}

/**
 * A generated config with what proxies have in common shared between them: its EDS list replaced
 * by the equal shared one (sharedList), its source maps by the equal shared ones.
 */
export function withSharedParts(config: GeneratedConfig): GeneratedConfig {
  const list = config.resources.get(ENDPOINT_TYPE);
  const sources = sharedSources(config.sources);
  const shared = list && list.length > 0 ? sharedList(list) : list;
  if (shared === list && sources === config.sources) return config;
  const resources = new Map(config.resources);
  if (shared) resources.set(ENDPOINT_TYPE, shared);
  return { ...config, resources, ...(sources ? { sources } : {}) };
}

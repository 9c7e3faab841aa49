/**
 * A snapshot is everything one proxy should have, per type, encoded. It is checked for
 * consistency before it is published (go-control-plane `Snapshot.Consistent`): every
 * RDS/EDS/SDS name a listener or cluster refers to must be present.
 */
import { contentHash, defaultEncoder, type EncodedResource, type ResourceEncoder, type ResourceObject } from './encode.js';
import { ENDPOINT_TYPE, PUSH_ORDER, SECRET_TYPE } from './types.js';

export interface ResourceRef {
  readonly typeUrl: string;
  readonly name: string;
  /** Who refers to it, for the error message. */
  readonly from: string;
}

/** What the generate stage hands to the cache for one proxy. */
export interface GeneratedConfig {
  readonly resources: ReadonlyMap<string, readonly ResourceObject[]>;
  readonly refs: readonly ResourceRef[];
  /**
   * Material still being issued (e.g. a gateway server certificate): the config is incomplete
   * and must not be published. An empty LDS/CDS in SotW deletes everything the proxy has, so a
   * partial first response after a restart would be an outage.
   */
  readonly pending?: readonly string[];
  /**
   * The user resources (`Kind/name`) each resource was generated from, so a NACK can be shown on
   * the Route, Mesh, Service or Secret that caused it. See `sourcesOf`.
   */
  readonly sources?: GeneratedSources;
}

/**
 * `owner`: what every resource of the proxy comes from (its Dataplane or Gateway); `extra`, per
 * type and name, what else a resource comes from. Kept apart, and the extra lists shared between
 * proxies, because every connected proxy holds its config: per-resource copies of the owner
 * would cost memory per proxy for nothing.
 */
export interface GeneratedSources {
  readonly owner: readonly string[];
  readonly extra: ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;
}

/** The user resources the resource `name` of `typeUrl` came from, sorted; empty when unknown. */
export function sourcesOf(sources: GeneratedSources | undefined, typeUrl: string, name: string): string[] {
  if (!sources) return [];
  return [...new Set([...sources.owner, ...(sources.extra.get(typeUrl)?.get(name) ?? [])])].sort();
}

export interface Snapshot {
  /** Hash of every type version. */
  readonly version: string;
  /**
   * Per type, the resources by name. The maps are immutable and shared: every snapshot holding the
   * same set of a type holds the same map (`typeSet`), so thousands of proxies hold one map, and a
   * session finds the set's sorted list and version once per set, not once per proxy.
   */
  readonly resources: ReadonlyMap<string, ReadonlyMap<string, EncodedResource>>;
  /** Per type, `typeSet(resources.get(type)).version`; built when asked for (config dumps, fetch). */
  readonly typeVersions: ReadonlyMap<string, string>;
  /** GeneratedConfig.sources of the config it was built from, when known. */
  readonly sources?: GeneratedSources;
}

export type SnapshotResult = { ok: true; snapshot: Snapshot } | { ok: false; errors: string[] };

export interface BuildSnapshotOptions {
  /** Defaults to the process-wide encoder. */
  readonly encoder?: ResourceEncoder;
  /**
   * The proxy's previous config and the snapshot built from it: a type whose resource list is the
   * same array as before (an endpoint-only change patches EDS and shares every other list) keeps
   * its encoded map and version, so only the changed types cost anything.
   */
  readonly previous?: { readonly config: GeneratedConfig; readonly snapshot: Snapshot };
}

/** What is known of one immutable set of resources of a type (a snapshot's per-type map). */
export interface TypeSet {
  /**
   * The SotW `version_info` of exactly this set: the hash of its `name@version` pairs in name
   * order (session.ts hashes any other selection the same way), so the same content gives the
   * same version on any replica.
   */
  readonly version: string;
  /** The resources sorted by name, as a SotW response carries them. */
  readonly sorted: readonly EncodedResource[];
  /** Their names, in the same order (status `lastSentNames`). */
  readonly names: readonly string[];
}

const typeSets = new WeakMap<ReadonlyMap<string, EncodedResource>, TypeSet>();

function byName(a: EncodedResource, b: EncodedResource): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** The key SotW versions hash: `name@version` of each resource, in the order given (sorted by name). */
function sotwKey(sorted: readonly EncodedResource[]): string {
  let key = '';
  for (let i = 0; i < sorted.length; i++) key += i === 0 ? `${sorted[i]!.name}@${sorted[i]!.version}` : `\n${sorted[i]!.name}@${sorted[i]!.version}`;
  return key;
}

/** The SotW version of resources sorted by name: the same content gives the same version on any replica. */
export function sortedVersion(sorted: readonly EncodedResource[]): string {
  return contentHash(sotwKey(sorted));
}

function describe(sorted: readonly EncodedResource[], version?: string): TypeSet {
  return { version: version ?? sortedVersion(sorted), sorted, names: sorted.map((r) => r.name) };
}

/** The version, sorted list and names of a snapshot's type map; computed once per map. */
export function typeSet(map: ReadonlyMap<string, EncodedResource>): TypeSet {
  let found = typeSets.get(map);
  if (!found) {
    found = describe([...map.values()].sort(byName));
    typeSets.set(map, found);
  }
  return found;
}

/**
 * Interned type maps by type and version: proxies holding the same set of a type (the clusters
 * and assignments of one service's neighbours) share one map. Bounded like the encoder's content
 * cache: past the bound it starts over, which costs a map per proxy again, never a wrong result.
 */
const setsByVersion = new Map<string, Map<string, ReadonlyMap<string, EncodedResource>>>();
let internedCount = 0;
/**
 * Sets that differ from a known set by a few swapped resources (an EDS patch), by (type, previous
 * version, swapped names and versions): thousands of proxies holding the same set get its map from
 * one lookup, not one sort and hash each. The set found is always the real set, so the memo
 * changes no version.
 */
const patchedSets = new Map<string, ReadonlyMap<string, EncodedResource>>();
const MAX_INTERNED = 50_000;

/**
 * Sets found shared (built a second time), by type and SotW key (`sotwKey`, the string their
 * version hashes): the thousands of proxies building the same set (the clusters of one service's
 * neighbours) then find it without hashing its key each (a digest per proxy per type
 * profile of the initial config). A set built once (a proxy's own listeners) is not entered, so
 * it costs no key string. Cleared with `setsByVersion`.
 */
const sharedSetsByKey = new Map<string, Map<string, ReadonlyMap<string, EncodedResource>>>();

function intern(typeUrl: string, sorted: readonly EncodedResource[]): ReadonlyMap<string, EncodedResource> {
  const key = sotwKey(sorted);
  let byKey = sharedSetsByKey.get(typeUrl);
  const shared = byKey?.get(key);
  if (shared !== undefined && shared.size === sorted.length) return shared;
  const version = contentHash(key);
  // By type, then version: the key is the version string the set keeps anyway.
  let byVersion = setsByVersion.get(typeUrl);
  const known = byVersion?.get(version);
  if (known && known.size === sorted.length) {
    if (!byKey) sharedSetsByKey.set(typeUrl, (byKey = new Map()));
    byKey.set(key, known);
    return known;
  }
  // A copy: the list was grown by push (spare capacity), and the set keeps it as long as a proxy holds it.
  const info = describe(sorted.slice(), version);
  const map = new Map<string, EncodedResource>();
  for (const r of sorted) map.set(r.name, r);
  typeSets.set(map, info);
  if (internedCount >= MAX_INTERNED) {
    setsByVersion.clear();
    sharedSetsByKey.clear();
    internedCount = 0;
    byVersion = undefined;
  }
  if (!byVersion) setsByVersion.set(typeUrl, (byVersion = new Map()));
  byVersion.set(info.version, map);
  internedCount++;
  return map;
}

const EMPTY_SET: ReadonlyMap<string, EncodedResource> = new Map();
typeSets.set(EMPTY_SET, describe([]));

/**
 * Sets by the list they were encoded from, per encoder: lists shared between proxies (the EDS list
 * of proxies calling the same services, runtime/proxy-configs.ts) are encoded once, not once per
 * proxy. Generated lists are never mutated, so a list always encodes to the same set. EDS and SDS
 * lists only (`encodeList`): no other type's list is shared.
 */
const setsByList = new WeakMap<ResourceEncoder, WeakMap<readonly ResourceObject[], ReadonlyMap<string, EncodedResource>>>();

function encodeList(
  typeUrl: string,
  list: readonly ResourceObject[],
  encoder: ResourceEncoder,
  errors: string[],
  before: ReadonlyMap<string, EncodedResource> | undefined,
): ReadonlyMap<string, EncodedResource> | undefined {
  // A stand-in is an empty list: a fresh list (every generated one) is not looked up in a weak map,
  // which would give it an identity hash for nothing.
  if (list.length === 0) {
    const encoded = setsByStandIn.get(list);
    if (encoded !== undefined) return encoded;
  }
  // Only EDS and SDS lists are shared between configs (runtime/proxy-configs.ts sharedList, identity
  // patches); the other types' lists are the proxy's own, new with every generation, so remembering
  // them costs a weak map entry per proxy per type and never finds anything.
  if (!KEPT_PLAIN.has(typeUrl)) return encodeType(typeUrl, list, encoder, errors, before);
  let byList = setsByList.get(encoder);
  if (!byList) setsByList.set(encoder, (byList = new WeakMap()));
  const known = byList.get(list);
  if (known) return known;
  const map = encodeType(typeUrl, list, encoder, errors, before);
  if (map) byList.set(list, map);
  return map;
}

/**
 * What a connected proxy keeps of its config once its snapshot is built (idle memory
 * per proxy). The plain objects of a type are read again only to encode them, so once encoded a
 * list is replaced by a stand-in: an empty, frozen list that stands for the encoded set, one per
 * set (proxies holding the same set share it). Only the EDS list (an endpoint change patches it,
 * runtime/proxy-configs.ts; it is shared between proxies anyway) and the SDS list (an identity
 * tick swaps its Secrets, which the identity module keeps anyway) stay plain. A stand-in encodes
 * to its set with any encoder, so a config holding stand-ins builds the same snapshot as the
 * config it stands for. Without it, every idle proxy keeps its own listener and cluster objects,
 * plus their entries in the encoder's and `setsByList`'s weak maps.
 */
const setsByStandIn = new WeakMap<readonly ResourceObject[], ReadonlyMap<string, EncodedResource>>();
const standInsBySet = new WeakMap<ReadonlyMap<string, EncodedResource>, readonly ResourceObject[]>();
/** Retained forms by the config they were made from, so the config's producer keeps the same object (`retainedForm`). */
const retainedForms = new WeakMap<GeneratedConfig, GeneratedConfig>();
const KEPT_PLAIN: ReadonlySet<string> = new Set([ENDPOINT_TYPE, SECRET_TYPE]);

function standInFor(set: ReadonlyMap<string, EncodedResource>): readonly ResourceObject[] {
  let standIn = standInsBySet.get(set);
  if (standIn === undefined) {
    standIn = Object.freeze([]) as readonly ResourceObject[];
    standInsBySet.set(set, standIn);
    setsByStandIn.set(standIn, set);
  }
  return standIn;
}

/** Whether `list` is a stand-in for an encoded set (see `retainConfig`). */
export function isStandIn(list: readonly ResourceObject[]): boolean {
  return list.length === 0 && setsByStandIn.has(list);
}

/**
 * `config`, built into `snapshot`, with its encoded lists replaced by stand-ins: what to keep as
 * the `previous` config. `config` itself when there is nothing to replace. The result is
 * remembered for `retainedForm(config)`.
 */
export function retainConfig(config: GeneratedConfig, snapshot: Snapshot): GeneratedConfig {
  const lists = config.resources;
  // An endpoint or identity patch of a kept config (the usual case, every proxy, every change): nothing to replace.
  if (lists instanceof MapWith && KEPT_PLAIN.has(lists.key) && lists.base instanceof KeptLists) return config;
  let replace = false;
  config.resources.forEach((list, typeUrl) => {
    if (!replace && !KEPT_PLAIN.has(typeUrl) && !isStandIn(list) && snapshot.resources.has(typeUrl)) replace = true;
  });
  if (!replace) return config;
  const resources = new KeptLists();
  config.resources.forEach((list, typeUrl) => {
    const set = snapshot.resources.get(typeUrl);
    resources.set(typeUrl, KEPT_PLAIN.has(typeUrl) || set === undefined ? list : standInFor(set));
  });
  const kept: GeneratedConfig = { ...config, resources };
  retainedForms.set(config, kept);
  return kept;
}

/** The retained form of `config` made by `retainConfig`, or `config` itself. */
export function retainedForm(config: GeneratedConfig): GeneratedConfig {
  return retainedForms.get(config) ?? config;
}

/** Encodes a type's list into its (interned) map; undefined (with errors) when a resource cannot be encoded or a name repeats. */
function encodeType(
  typeUrl: string,
  list: readonly ResourceObject[],
  encoder: ResourceEncoder,
  errors: string[],
  before: ReadonlyMap<string, EncodedResource> | undefined,
): ReadonlyMap<string, EncodedResource> | undefined {
  if (list.length === 0) return EMPTY_SET;
  const encoded: EncodedResource[] = [];
  let failed = false;
  for (const object of list) {
    try {
      encoded.push(encoder.encode(typeUrl, object));
    } catch (err) {
      errors.push(`cannot encode ${typeUrl}: ${(err as Error).message}`);
      failed = true;
    }
  }
  if (failed) return undefined;
  // A patch of the previous set: same names, some resources swapped.
  if (before !== undefined && before.size === encoded.length) {
    let key: string | undefined = repeatsName(encoded) ? undefined : `${typeUrl}|${typeSet(before).version}`;
    for (let i = 0; i < encoded.length && key !== undefined; i++) {
      const r = encoded[i]!;
      const old = before.get(r.name);
      if (!old) key = undefined;
      else if (old !== r) key += `|${r.name.length}:${r.name}@${r.version}`;
    }
    if (key !== undefined) {
      let map = patchedSets.get(key);
      if (!map) {
        map = intern(typeUrl, encoded.sort(byName));
        if (patchedSets.size >= MAX_INTERNED) patchedSets.clear();
        patchedSets.set(key, map);
      }
      return map;
    }
  }
  encoded.sort(byName);
  for (let i = 1; i < encoded.length; i++) {
    if (encoded[i]!.name === encoded[i - 1]!.name) {
      errors.push(`duplicate ${typeUrl} name "${encoded[i]!.name}"`);
      failed = true;
    }
  }
  return failed ? undefined : intern(typeUrl, encoded);
}

/** Whether a name appears twice in `list` (short lists are compared pairwise: no set is built). */
function repeatsName(list: readonly EncodedResource[]): boolean {
  if (list.length > 16) return new Set(list.map((r) => r.name)).size !== list.length;
  for (let i = 1; i < list.length; i++) for (let j = 0; j < i; j++) if (list[j]!.name === list[i]!.name) return true;
  return false;
}

/** Whether `map` holds exactly the names `before` holds. */
function sameKeys(map: ReadonlyMap<string, EncodedResource>, before: ReadonlyMap<string, EncodedResource> | undefined): boolean {
  if (map === before) return true;
  if (!before || before.size !== map.size) return false;
  for (const name of map.keys()) if (!before.has(name)) return false;
  return true;
}

/**
 * A map by type URL with one field per pushed type (PUSH_ORDER) and a Map only for other types:
 * every connected proxy holds two of these (its snapshot's sets, its kept config's lists), and a
 * Map of five entries costs about 300 bytes (idle memory). Iterates the pushed types
 * in PUSH_ORDER, then the others in insertion order, as a Map filled in that order would.
 */
export class TypeMap<V> implements ReadonlyMap<string, V> {
  private s0: V | undefined = undefined;
  private s1: V | undefined = undefined;
  private s2: V | undefined = undefined;
  private s3: V | undefined = undefined;
  private s4: V | undefined = undefined;
  private others: Map<string, V> | undefined = undefined;

  private slot(index: number): V | undefined {
    switch (index) {
      case 0:
        return this.s0;
      case 1:
        return this.s1;
      case 2:
        return this.s2;
      case 3:
        return this.s3;
      default:
        return this.s4;
    }
  }

  set(key: string, value: V): this {
    switch (PUSH_ORDER.indexOf(key)) {
      case 0:
        this.s0 = value;
        break;
      case 1:
        this.s1 = value;
        break;
      case 2:
        this.s2 = value;
        break;
      case 3:
        this.s3 = value;
        break;
      case 4:
        this.s4 = value;
        break;
      default:
        (this.others ??= new Map()).set(key, value);
    }
    return this;
  }
  get(key: string): V | undefined {
    const index = PUSH_ORDER.indexOf(key);
    return index < 0 ? this.others?.get(key) : this.slot(index);
  }
  has(key: string): boolean {
    return this.get(key) !== undefined;
  }
  get size(): number {
    let size = this.others?.size ?? 0;
    for (let i = 0; i < PUSH_ORDER.length; i++) if (this.slot(i) !== undefined) size++;
    return size;
  }
  forEach(callback: (value: V, key: string, map: ReadonlyMap<string, V>) => void): void {
    for (let i = 0; i < PUSH_ORDER.length; i++) {
      const value = this.slot(i);
      if (value !== undefined) callback(value, PUSH_ORDER[i]!, this);
    }
    this.others?.forEach((value, key) => callback(value, key, this));
  }
  *entries(): MapIterator<[string, V]> {
    for (let i = 0; i < PUSH_ORDER.length; i++) {
      const value = this.slot(i);
      if (value !== undefined) yield [PUSH_ORDER[i]!, value];
    }
    if (this.others) yield* this.others.entries();
  }
  *keys(): MapIterator<string> {
    for (const [key] of this.entries()) yield key;
  }
  *values(): MapIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }
  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }
}
if (PUSH_ORDER.length !== 5) throw new Error('internal: TypeMap has five fields');

/** The lists of a kept config (retainConfig): only EDS and SDS are plain lists. */
class KeptLists extends TypeMap<readonly ResourceObject[]> {}

/**
 * A map with one entry replaced, over a base map, without copying it: an endpoint change makes a
 * config (its lists by type) and a snapshot (its sets by type) per connected proxy that differ
 * from the proxy's previous ones in the EDS entry alone. Replacing the same key again
 * replaces it over the same base, so the chain never grows. Entries keep the base's order.
 */
export class MapWith<V> implements ReadonlyMap<string, V> {
  readonly base: ReadonlyMap<string, V>;
  constructor(
    base: ReadonlyMap<string, V>,
    readonly key: string,
    readonly value: V,
  ) {
    this.base = base instanceof MapWith && base.key === key ? (base.base as ReadonlyMap<string, V>) : base;
  }
  get size(): number {
    return this.base.has(this.key) ? this.base.size : this.base.size + 1;
  }
  get(key: string): V | undefined {
    return key === this.key ? this.value : this.base.get(key);
  }
  has(key: string): boolean {
    return key === this.key || this.base.has(key);
  }
  forEach(callback: (value: V, key: string, map: ReadonlyMap<string, V>) => void): void {
    this.base.forEach((value, key) => callback(key === this.key ? this.value : value, key, this));
    if (!this.base.has(this.key)) callback(this.value, this.key, this);
  }
  *entries(): MapIterator<[string, V]> {
    for (const [key, value] of this.base) yield [key, key === this.key ? this.value : value];
    if (!this.base.has(this.key)) yield [this.key, this.value];
  }
  *keys(): MapIterator<string> {
    for (const [key] of this.entries()) yield key;
  }
  *values(): MapIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }
  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }
}

/**
 * The one key whose entry may differ between `before` and `after` when `after` is `before` with
 * that entry replaced (both over the same base, see MapWith); undefined when any entry may differ.
 */
export function replacedKey(before: ReadonlyMap<string, unknown>, after: ReadonlyMap<string, unknown>): string | undefined {
  if (!(after instanceof MapWith)) return undefined;
  if (before === after.base || (before instanceof MapWith && before.key === after.key && before.base === after.base)) return after.key;
  return undefined;
}

const PUSHED_TYPES: ReadonlySet<string> = new Set(PUSH_ORDER);

/**
 * An endpoint patch (the config is the previous one with one type's list replaced, see MapWith):
 * the snapshot is the previous one with that type's set replaced. Every other type is the same
 * list, so the general path would reuse the same set for it. Undefined when the config is no such
 * patch, or the new set cannot be built (the general path then reports why).
 */
function patchedSnapshot(config: GeneratedConfig, previous: { readonly config: GeneratedConfig; readonly snapshot: Snapshot }, encoder: ResourceEncoder): Snapshot | undefined {
  const typeUrl = replacedKey(previous.config.resources, config.resources);
  if (typeUrl === undefined || !PUSHED_TYPES.has(typeUrl)) return undefined;
  const before = previous.snapshot.resources.get(typeUrl);
  const list = config.resources.get(typeUrl);
  if (before === undefined || list === undefined) return undefined;
  const errors: string[] = [];
  const map = encodeList(typeUrl, list, encoder, errors, before);
  if (map === undefined) return undefined;
  const resources = map === before ? previous.snapshot.resources : new MapWith(previous.snapshot.resources, typeUrl, map);
  if (config.refs !== previous.config.refs || !sameKeys(map, before)) {
    for (const ref of config.refs) if (!resources.get(ref.typeUrl)?.has(ref.name)) return undefined;
  }
  return new BuiltSnapshot(resources, config.sources);
}

export function buildSnapshot(config: GeneratedConfig, options: BuildSnapshotOptions = {}): SnapshotResult {
  const encoder = options.encoder ?? defaultEncoder;
  const previous = options.previous;
  if (previous !== undefined) {
    const patched = patchedSnapshot(config, previous, encoder);
    if (patched !== undefined) return { ok: true, snapshot: patched };
  }
  const errors: string[] = [];
  const resources = new TypeMap<ReadonlyMap<string, EncodedResource>>();
  // The same references over the same names (an EDS patch swaps contents, never names) were checked already.
  let checked = previous !== undefined && config.refs === previous.config.refs;
  let known = 0;
  for (const typeUrl of PUSH_ORDER) {
    const list = config.resources.get(typeUrl);
    const before = previous?.snapshot.resources.get(typeUrl);
    if (list === undefined) {
      resources.set(typeUrl, EMPTY_SET);
      if (checked && before !== undefined && before.size > 0) checked = false;
      continue;
    }
    known++;
    if (before !== undefined && previous!.config.resources.get(typeUrl) === list) {
      resources.set(typeUrl, before);
      continue;
    }
    const map = encodeList(typeUrl, list, encoder, errors, before);
    if (map) {
      resources.set(typeUrl, map);
      if (checked && !sameKeys(map, before)) checked = false;
    }
  }
  if (config.resources.size > known) {
    config.resources.forEach((list, typeUrl) => {
      if (resources.has(typeUrl)) return;
      const before = previous?.snapshot.resources.get(typeUrl);
      const map = encodeList(typeUrl, list, encoder, errors, before);
      if (map) resources.set(typeUrl, map);
      checked = false;
    });
  }
  if (errors.length > 0) return { ok: false, errors };
  if (!checked) {
    for (const ref of config.refs) {
      if (!resources.get(ref.typeUrl)?.has(ref.name)) {
        errors.push(`${ref.from} refers to missing ${ref.typeUrl} "${ref.name}"`);
      }
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, snapshot: new BuiltSnapshot(resources, config.sources) };
}

/** Type versions and the snapshot version are derived when asked for (config dumps, fetch): comparing snapshots compares their type maps. */
class BuiltSnapshot implements Snapshot {
  private hashed?: string;
  constructor(
    readonly resources: ReadonlyMap<string, ReadonlyMap<string, EncodedResource>>,
    readonly sources?: GeneratedSources,
  ) {}
  get typeVersions(): ReadonlyMap<string, string> {
    const versions = new Map<string, string>();
    for (const [typeUrl, map] of this.resources) versions.set(typeUrl, typeSet(map).version);
    return versions;
  }
  get version(): string {
    return (this.hashed ??= contentHash([...this.typeVersions.values()].join(',')));
  }
}

/** The version of a snapshot's type (`typeSet`); '' when it has no such type. */
export function typeVersion(snapshot: Snapshot, typeUrl: string): string {
  const map = snapshot.resources.get(typeUrl);
  return map ? typeSet(map).version : '';
}

/**
 * Whether two snapshots carry the same content: the same set of every type, and the same
 * sources (a regeneration that changes only what a resource came from still replaces the
 * snapshot config dumps and NACK attribution read; sessions then find nothing to send).
 */
export function sameContent(a: Snapshot, b: Snapshot): boolean {
  if (a === b) return true;
  if (a.sources !== b.sources) return false;
  const only = replacedKey(a.resources, b.resources) ?? replacedKey(b.resources, a.resources);
  if (only !== undefined) {
    // One set replaced (an endpoint patch): the other types are the same maps.
    const x = a.resources.get(only);
    const y = b.resources.get(only);
    return x === y || (x !== undefined && y !== undefined && typeSet(x).version === typeSet(y).version);
  }
  if (a.resources.size !== b.resources.size) return false;
  let same = true;
  // forEach: no entry array per type (this runs for every proxy a change reaches).
  a.resources.forEach((map, typeUrl) => {
    if (!same) return;
    const other = b.resources.get(typeUrl);
    if (other !== map && (!other || typeSet(other).version !== typeSet(map).version)) same = false;
  });
  return same;
}


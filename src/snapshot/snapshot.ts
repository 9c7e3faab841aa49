/**
 * A snapshot is everything one proxy should have, per type, encoded. It is checked for
 * consistency before it is published (go-control-plane `Snapshot.Consistent`): every
 * RDS/EDS/SDS name a listener or cluster refers to must be present.
 */
import { contentHash, ResourceEncoder, type EncodedResource, type ResourceObject } from './encode.js';
import { MapWith, replacedKey, TypeMap } from './maps.js';
import { EMPTY_SET, typeSet, type EncodedSets } from './sets.js';
import { PUSH_ORDER } from './types.js';

export { MapWith, replacedKey, TypeMap } from './maps.js';
export { isStandIn, sortedVersion, typeSet, type TypeSet } from './sets.js';

/**
 * A generated resource another one names (a listener's route table, a cluster's endpoints or
 * secret): the consistency check requires it in the snapshot.
 */
export interface ReferencedResource {
  readonly typeUrl: string;
  readonly name: string;
  /** Who refers to it, for the error message. */
  readonly from: string;
}

/** What the generate stage hands to the cache for one proxy. */
export interface GeneratedConfig {
  readonly resources: ReadonlyMap<string, readonly ResourceObject[]>;
  readonly refs: readonly ReferencedResource[];
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
   * same set of a type holds the same map (sets.ts `EncodedSet`), so thousands of proxies hold one map, and a
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
  /** The encoder, whose interned sets the snapshot's maps are; a fresh one (nothing shared) when absent. */
  readonly encoder?: ResourceEncoder;
  /**
   * The proxy's previous config and the snapshot built from it: a type whose resource list is the
   * same array as before (an endpoint-only change patches EDS and shares every other list) keeps
   * its encoded map and version, so only the changed types cost anything.
   */
  readonly previous?: { readonly config: GeneratedConfig; readonly snapshot: Snapshot };
}

const PUSHED_TYPES: ReadonlySet<string> = new Set(PUSH_ORDER);

/**
 * An endpoint patch (the config is the previous one with one type's list replaced, see MapWith):
 * the snapshot is the previous one with that type's set replaced. Every other type is the same
 * list, so the general path would reuse the same set for it. Undefined when the config is no such
 * patch, or the new set cannot be built (the general path then reports why).
 */
function patchedSnapshot(config: GeneratedConfig, previous: { readonly config: GeneratedConfig; readonly snapshot: Snapshot }, sets: EncodedSets): Snapshot | undefined {
  const typeUrl = replacedKey(previous.config.resources, config.resources);
  if (typeUrl === undefined || !PUSHED_TYPES.has(typeUrl)) return undefined;
  const before = previous.snapshot.resources.get(typeUrl);
  const list = config.resources.get(typeUrl);
  if (before === undefined || list === undefined) return undefined;
  const errors: string[] = [];
  const map = sets.encodeList(typeUrl, list, errors, before);
  if (map === undefined) return undefined;
  const resources = map === before ? previous.snapshot.resources : new MapWith(previous.snapshot.resources, typeUrl, map);
  if (config.refs !== previous.config.refs || !sameKeys(map, before)) {
    for (const ref of config.refs) if (!resources.get(ref.typeUrl)?.has(ref.name)) return undefined;
  }
  return new BuiltSnapshot(resources, config.sources);
}

export function buildSnapshot(config: GeneratedConfig, options: BuildSnapshotOptions = {}): SnapshotResult {
  const sets = (options.encoder ?? new ResourceEncoder()).sets;
  const previous = options.previous;
  if (previous !== undefined) {
    const patched = patchedSnapshot(config, previous, sets);
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
    const map = sets.encodeList(typeUrl, list, errors, before);
    if (map) {
      resources.set(typeUrl, map);
      if (checked && !sameKeys(map, before)) checked = false;
    }
  }
  if (config.resources.size > known) {
    config.resources.forEach((list, typeUrl) => {
      if (resources.has(typeUrl)) return;
      const before = previous?.snapshot.resources.get(typeUrl);
      const map = sets.encodeList(typeUrl, list, errors, before);
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
export function sameSnapshotContent(a: Snapshot, b: Snapshot): boolean {
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

/** Whether `map` holds exactly the names `before` holds. */
function sameKeys(map: ReadonlyMap<string, EncodedResource>, before: ReadonlyMap<string, EncodedResource> | undefined): boolean {
  if (map === before) return true;
  if (!before || before.size !== map.size) return false;
  for (const name of map.keys()) if (!before.has(name)) return false;
  return true;
}

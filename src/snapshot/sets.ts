/**
 * Sets of encoded resources, one type each (a snapshot's per-type maps), and the interner that
 * makes proxies holding the same set hold one set: its sorted list and SotW version are computed
 * once per set, not once per proxy, and a SotW response of it is serialized once (xds/wire.ts).
 *
 * The interner's tables belong to the encoder that owns it (encode.ts `ResourceEncoder.sets`),
 * which the composition root makes: two control planes, or the full-recompute oracle and the
 * system it checks, share none of them.
 */
import { contentHash, type EncodedResource, type ResourceEncoding } from './encoded.js';
import { ENDPOINT_TYPE, SECRET_TYPE, type ResourceObject } from './types.js';

/** What is known of one immutable set of resources of a type (a snapshot's per-type map). */
export interface TypeSet {
  /**
   * The SotW `version_info` of exactly this set: the hash of its `name@version` pairs in name
   * order (xds/sotw.ts hashes any other selection the same way), so the same content gives the
   * same version on any replica.
   */
  readonly version: string;
  /** The resources sorted by name, as a SotW response carries them. */
  readonly sorted: readonly EncodedResource[];
  /** Their names, in the same order (status `lastSentNames`). */
  readonly names: readonly string[];
}

/**
 * An interned set: the map by name, with what `TypeSet` says of it kept on the map itself (no
 * table from map to description), and its stand-in once a kept config needs one (retain.ts).
 */
export class EncodedSet extends Map<string, EncodedResource> implements TypeSet {
  readonly sorted: readonly EncodedResource[];
  readonly names: readonly string[];
  private standInList: StandIn | undefined = undefined;

  constructor(
    sorted: readonly EncodedResource[],
    readonly version: string,
  ) {
    super();
    for (const r of sorted) super.set(r.name, r);
    this.sorted = sorted;
    this.names = sorted.map((r) => r.name);
  }

  /** The one stand-in of this set (see `StandIn`). */
  standIn(): StandIn {
    return (this.standInList ??= Object.freeze(Object.assign([] as ResourceObject[], { encodedSet: this })));
  }
}

/**
 * What a kept config holds in place of a list once it is encoded (retain.ts): an empty, frozen
 * list standing for its encoded set, one per set. It encodes to that set with any encoder.
 */
export type StandIn = readonly ResourceObject[] & { readonly encodedSet: EncodedSet };

/** Whether `list` is a stand-in for an encoded set. */
export function isStandIn(list: readonly ResourceObject[]): list is StandIn {
  return list.length === 0 && (list as Partial<StandIn>).encodedSet !== undefined;
}

/**
 * The types whose lists stay plain in a kept config and are shared between configs: EDS (an
 * endpoint change patches it, runtime/proxy-configs.ts) and SDS (an identity tick swaps its Secrets).
 */
export const KEPT_PLAIN: ReadonlySet<string> = new Set([ENDPOINT_TYPE, SECRET_TYPE]);

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

/** The version, sorted list and names of a snapshot's type map: read off an interned set, computed for any other map. */
export function typeSet(map: ReadonlyMap<string, EncodedResource>): TypeSet {
  if (map instanceof EncodedSet) return map;
  const sorted = [...map.values()].sort(byName);
  return { version: sortedVersion(sorted), sorted, names: sorted.map((r) => r.name) };
}

/** The set of no resources: immutable, so one for every encoder. */
export const EMPTY_SET: EncodedSet = new EncodedSet([], sortedVersion([]));
EMPTY_SET.standIn();

/** Bound of each interning table: past it a table starts over, which costs a set per proxy again, never a wrong result. */
const MAX_INTERNED = 50_000;

/**
 * The interned sets of one encoder. Proxies holding the same set of a type (the clusters and
 * assignments of one service's neighbours) get one map.
 */
export class EncodedSets {
  /** Interned sets by type, then version. */
  private readonly byVersion = new Map<string, Map<string, EncodedSet>>();
  private interned = 0;
  /**
   * Sets found shared (built a second time), by type and SotW key (`sotwKey`, the string their
   * version hashes): the thousands of proxies building the same set then find it without hashing
   * its key each (a digest per proxy per type, profiled on the initial config). A set built once
   * (a proxy's own listeners) is not entered, so it costs no key string. Cleared with `byVersion`.
   */
  private readonly sharedByKey = new Map<string, Map<string, EncodedSet>>();
  /**
   * Sets that differ from a known set by a few swapped resources (an EDS patch), by (type, previous
   * version, swapped names and versions): thousands of proxies holding the same set get its map
   * from one lookup, not one sort and hash each. The set found is always the real set, so this
   * changes no version.
   */
  private readonly patched = new Map<string, EncodedSet>();
  /**
   * Sets by the list they were encoded from: lists shared between proxies (the EDS list of proxies
   * calling the same services, runtime/proxy-configs.ts) are encoded once, not once per proxy.
   * Generated lists are never mutated, so a list always encodes to the same set. EDS and SDS
   * lists only: no other type's list is shared.
   */
  private readonly byList = new WeakMap<readonly ResourceObject[], EncodedSet>();

  constructor(private readonly encoder: ResourceEncoding) {}

  /**
   * A type's list as its interned set; undefined (with `errors`) when a resource cannot be encoded
   * or a name repeats. `before`: the set the proxy held of the type, of which this may be a patch.
   */
  encodeList(typeUrl: string, list: readonly ResourceObject[], errors: string[], before: ReadonlyMap<string, EncodedResource> | undefined): EncodedSet | undefined {
    // A stand-in is an empty list: a fresh list (every generated one) is not looked up in a weak
    // map, which would give it an identity hash for nothing.
    if (list.length === 0) return isStandIn(list) ? list.encodedSet : EMPTY_SET;
    // Only EDS and SDS lists are shared between configs (runtime/proxy-configs.ts sharedList,
    // identity patches); the other types' lists are the proxy's own, new with every generation, so
    // remembering them costs a weak map entry per proxy per type and never finds anything.
    if (!KEPT_PLAIN.has(typeUrl)) return this.encodeType(typeUrl, list, errors, before);
    const known = this.byList.get(list);
    if (known) return known;
    const set = this.encodeType(typeUrl, list, errors, before);
    if (set) this.byList.set(list, set);
    return set;
  }

  private encodeType(typeUrl: string, list: readonly ResourceObject[], errors: string[], before: ReadonlyMap<string, EncodedResource> | undefined): EncodedSet | undefined {
    const encoded: EncodedResource[] = [];
    let failed = false;
    for (const object of list) {
      try {
        encoded.push(this.encoder.encode(typeUrl, object));
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
        let set = this.patched.get(key);
        if (!set) {
          set = this.intern(typeUrl, encoded.sort(byName));
          if (this.patched.size >= MAX_INTERNED) this.patched.clear();
          this.patched.set(key, set);
        }
        return set;
      }
    }
    encoded.sort(byName);
    for (let i = 1; i < encoded.length; i++) {
      if (encoded[i]!.name === encoded[i - 1]!.name) {
        errors.push(`duplicate ${typeUrl} name "${encoded[i]!.name}"`);
        failed = true;
      }
    }
    return failed ? undefined : this.intern(typeUrl, encoded);
  }

  private intern(typeUrl: string, sorted: readonly EncodedResource[]): EncodedSet {
    const key = sotwKey(sorted);
    let byKey = this.sharedByKey.get(typeUrl);
    const shared = byKey?.get(key);
    if (shared !== undefined && shared.size === sorted.length) return shared;
    const version = contentHash(key);
    // By type, then version: the key is the version string the set keeps anyway.
    let byVersion = this.byVersion.get(typeUrl);
    const known = byVersion?.get(version);
    if (known && known.size === sorted.length) {
      if (!byKey) this.sharedByKey.set(typeUrl, (byKey = new Map()));
      byKey.set(key, known);
      return known;
    }
    // A copy: the list was grown by push (spare capacity), and the set keeps it as long as a proxy holds it.
    const set = new EncodedSet(sorted.slice(), version);
    if (this.interned >= MAX_INTERNED) {
      this.byVersion.clear();
      this.sharedByKey.clear();
      this.interned = 0;
      byVersion = undefined;
    }
    if (!byVersion) this.byVersion.set(typeUrl, (byVersion = new Map()));
    byVersion.set(version, set);
    this.interned++;
    return set;
  }
}

/** Whether a name appears twice in `list` (short lists are compared pairwise: no set is built). */
function repeatsName(list: readonly EncodedResource[]): boolean {
  if (list.length > 16) return new Set(list.map((r) => r.name)).size !== list.length;
  for (let i = 1; i < list.length; i++) for (let j = 0; j < i; j++) if (list[j]!.name === list[i]!.name) return true;
  return false;
}

/**
 * The one cache of the pipeline (Istio's XdsCache, go-control-plane's LinearCache keyed by name):
 * made by the composition root and passed down, never module-level, so two control planes in one
 * process share nothing and the full-recompute oracle can run on a fresh one.
 *
 * - An entry is looked up by name and computed on a miss. While it is computed, every dependency
 *   key its computation reads (`depend`, or the keys of an entry it gets) is recorded: the entry
 *   depends on exactly those. Nothing else decides what an entry depends on.
 * - `invalidate(keys)` evicts exactly the entries that depend on one of the keys (or on the
 *   wildcard `kind/mesh/*` of one).
 * - One size bound: past `maxEntries` the least recently used entry goes.
 * - `stats` (entries, hits, misses, evictions) is exported in /metrics.
 *
 * A computation that reads something without saying so (no `depend`) makes an entry that a change
 * of it does not evict: the full-recompute oracle, on a fresh cache, then disagrees with the
 * incremental path (test/incremental/injected-omission.test.ts shows it).
 */
import { wildcardOf, type DependencyKey } from './keys.js';

export interface DependencyCacheOptions {
  /** The most entries kept; the least recently used go first. Default 50,000. */
  readonly maxEntries?: number;
}

export interface DependencyCacheStats {
  /** Entries kept now. */
  readonly entries: number;
  readonly hits: number;
  readonly misses: number;
  /** Entries evicted because a change named a key they depend on (or everything may have changed). */
  readonly evictedByChange: number;
  /** Entries evicted by the size bound. */
  readonly evictedBySize: number;
  readonly maxEntries: number;
}

interface Entry {
  readonly name: string;
  readonly value: unknown;
  readonly deps: readonly DependencyKey[];
  /** Neighbours in use order: `older` towards the least recently used, `newer` towards the most. */
  older: Entry | undefined;
  newer: Entry | undefined;
}

const NO_KEYS: readonly DependencyKey[] = Object.freeze([]);

export class DependencyCache {
  /** By name. Use order is a list through the entries, not the Map's order: moving a Map entry to
   * the end (delete, then set) makes V8 compact the table again and again, about 20 µs a hit on a
   * cache of 5,000 entries, which every proxy of an endpoint patch paid. */
  private readonly entries = new Map<string, Entry>();
  /** The least and the most recently used entries. */
  private oldest: Entry | undefined;
  private newest: Entry | undefined;
  /**
   * Per key, the entries depending on it: the entry itself while it is the only one, a Set from
   * the second on. Most keys (a Dataplane's, a proxy's liveness) have one dependent, and a Set per
   * key was about 130 bytes per connected proxy.
   */
  private readonly index = new Map<DependencyKey, Entry | Set<Entry>>();
  /** The keys read by each computation in progress, innermost last. */
  private readonly frames: Set<DependencyKey>[] = [];
  private readonly maxEntries: number;
  private hits = 0;
  private misses = 0;
  private evictedByChange = 0;
  private evictedBySize = 0;

  constructor(options: DependencyCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 50_000;
  }

  get stats(): DependencyCacheStats {
    return {
      entries: this.entries.size,
      hits: this.hits,
      misses: this.misses,
      evictedByChange: this.evictedByChange,
      evictedBySize: this.evictedBySize,
      maxEntries: this.maxEntries,
    };
  }

  /**
   * The entry `name`, computed by `compute` on a miss. The keys it depends on flow into the
   * computation that asked for it (if any): reading a cached value reads what it was made of.
   */
  get<V>(name: string, compute: () => V): V {
    const entry = this.lookup(name, compute);
    const frame = this.frames[this.frames.length - 1];
    if (frame !== undefined) for (const dep of entry.deps) frame.add(dep);
    return entry.value as V;
  }

  /**
   * As `get`, but what the entry depends on does not flow into the asking computation: for an
   * index read piecemeal, where the asker `depend`s on the precise keys of what it reads.
   */
  peek<V>(name: string, compute: () => V): V {
    return this.lookup(name, compute).value as V;
  }

  /** The current computation reads `key`. */
  depend(key: DependencyKey): void {
    this.frames[this.frames.length - 1]?.add(key);
  }

  /** Evicts every entry depending on one of `keys` (or on its wildcard). */
  invalidate(keys: Iterable<DependencyKey>): void {
    for (const key of keys) {
      this.evictDependents(key);
      const wildcard = wildcardOf(key);
      if (wildcard !== key) this.evictDependents(wildcard);
    }
  }

  /** Evicts every entry (a reset: everything may have changed). */
  clear(): void {
    this.evictedByChange += this.entries.size;
    this.entries.clear();
    this.index.clear();
    this.oldest = this.newest = undefined;
  }

  private lookup(name: string, compute: () => unknown): Entry {
    const found = this.entries.get(name);
    if (found !== undefined) {
      this.hits++;
      if (found !== this.newest) {
        this.unlink(found);
        this.append(found);
      }
      return found;
    }
    this.misses++;
    const frame = new Set<DependencyKey>();
    this.frames.push(frame);
    let value: unknown;
    try {
      value = compute();
    } finally {
      this.frames.pop();
    }
    const entry: Entry = { name, value, deps: frame.size === 0 ? NO_KEYS : [...frame], older: undefined, newer: undefined };
    for (const key of entry.deps) {
      const dependents = this.index.get(key);
      if (dependents === undefined) this.index.set(key, entry);
      else if (dependents instanceof Set) dependents.add(entry);
      else if (dependents !== entry) this.index.set(key, new Set([dependents, entry]));
    }
    const reentered = this.entries.get(name);
    if (reentered !== undefined) this.remove(reentered);
    this.entries.set(name, entry);
    this.append(entry);
    while (this.entries.size > this.maxEntries && this.oldest !== undefined) {
      this.remove(this.oldest);
      this.evictedBySize++;
    }
    return entry;
  }

  private evictDependents(key: DependencyKey): void {
    const dependents = this.index.get(key);
    if (dependents === undefined) return;
    for (const entry of dependents instanceof Set ? [...dependents] : [dependents]) {
      if (this.entries.get(entry.name) !== entry) continue;
      this.remove(entry);
      this.evictedByChange++;
    }
  }

  private append(entry: Entry): void {
    entry.older = this.newest;
    entry.newer = undefined;
    if (this.newest !== undefined) this.newest.newer = entry;
    else this.oldest = entry;
    this.newest = entry;
  }

  private unlink(entry: Entry): void {
    if (entry.older !== undefined) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    if (entry.newer !== undefined) entry.newer.older = entry.older;
    else this.newest = entry.older;
    entry.older = entry.newer = undefined;
  }

  private remove(entry: Entry): void {
    this.entries.delete(entry.name);
    this.unlink(entry);
    for (const key of entry.deps) {
      const dependents = this.index.get(key);
      if (dependents === entry) this.index.delete(key);
      else if (dependents instanceof Set) {
        dependents.delete(entry);
        if (dependents.size === 1) this.index.set(key, dependents.values().next().value as Entry);
      }
    }
  }
}

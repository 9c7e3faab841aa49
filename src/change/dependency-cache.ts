/**
 * The one cache of the pipeline (Istio's XdsCache, go-control-plane's LinearCache keyed by name):
 * made by the composition root and passed down, never module-level, so two control planes in one
 * process share nothing and the full-recompute oracle can run on a fresh one.
 *
 * - An entry is looked up by name and computed on a miss. While it is computed, every dependency
 *   key its computation reads (`depend`, or the keys of an entry it gets) is recorded: the entry
 *   depends on exactly those. Nothing else decides what an entry depends on.
 * - `invalidate(keys)` evicts exactly the entries that depend on one of the keys (or on the
 *   wildcard `kind/mesh/*` of one), and reports the watches (connected proxies) that depend on
 *   them, with the keys that hit each.
 * - One size bound: past `maxEntries` the least recently used entry goes (watches are not
 *   entries: a connected proxy's config is the proxy's own, bounded by the connections).
 * - `stats` (entries, watches, hits, misses, evictions) is exported in /metrics.
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
  /** Watches registered now (one per connected proxy's generation). */
  readonly watches: number;
  readonly hits: number;
  readonly misses: number;
  /** Entries evicted because a change named a key they depend on. */
  readonly evictedByChange: number;
  /** Entries evicted by the size bound. */
  readonly evictedBySize: number;
  readonly maxEntries: number;
}

/** What a tracked computation read: its own keys, and those it read aside (per part). */
export interface Tracked<V> {
  readonly value: V;
  readonly deps: readonly DependencyKey[];
  readonly aside: ReadonlyMap<string, readonly DependencyKey[]>;
}

/** Told which of its keys a change named. */
export interface DependencyWatcher {
  invalidated(keys: readonly DependencyKey[]): void;
}

interface Frame {
  readonly deps: Set<DependencyKey>;
  aside: Map<string, Set<DependencyKey>> | undefined;
}

class Entry {
  constructor(
    readonly name: string,
    readonly value: unknown,
    readonly deps: readonly DependencyKey[],
  ) {}
}

/** A registered watcher and the keys it depends on (`update` replaces them). */
export class Watch {
  /** @internal */
  keys: readonly DependencyKey[] = [];
  /** @internal */
  open = true;
  constructor(
    private readonly cache: DependencyCache,
    readonly watcher: DependencyWatcher,
  ) {}

  /** Depends on `keys` from now on (the previous keys are dropped). */
  update(keys: readonly DependencyKey[]): void {
    if (this.open) this.cache.rewatch(this, keys);
  }

  close(): void {
    if (!this.open) return;
    this.cache.rewatch(this, []);
    this.open = false;
    this.cache.unwatched();
  }
}

type Dependent = Entry | Watch;

/** An index slot: the canonical string of its key (deps arrays share it) and what depends on it. */
interface Slot {
  readonly key: DependencyKey;
  readonly dependents: Set<Dependent>;
}

const NO_KEYS: readonly DependencyKey[] = Object.freeze([]);

export class DependencyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly index = new Map<DependencyKey, Slot>();
  private readonly frames: Frame[] = [];
  private readonly maxEntries: number;
  private watches = 0;
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
      watches: this.watches,
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
    if (frame !== undefined) for (const dep of entry.deps) frame.deps.add(dep);
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
    this.frames[this.frames.length - 1]?.deps.add(key);
  }

  /** Runs `compute`, recording what it reads. */
  track<V>(compute: () => V): Tracked<V> {
    const frame: Frame = { deps: new Set(), aside: undefined };
    this.frames.push(frame);
    let value: V;
    try {
      value = compute();
    } finally {
      this.frames.pop();
    }
    const aside = new Map<string, readonly DependencyKey[]>();
    for (const [part, keys] of frame.aside ?? []) aside.set(part, [...keys]);
    return { value, deps: [...frame.deps], aside };
  }

  /**
   * Runs `compute` with what it reads recorded under `part` of the tracked computation, not with
   * its own keys: a proxy's EDS and identity Secrets are read aside, so a change of them alone
   * patches that part instead of generating the proxy again.
   */
  aside<V>(part: string, compute: () => V): V {
    const parent = this.frames[this.frames.length - 1];
    if (parent === undefined) return compute();
    const frame: Frame = { deps: new Set(), aside: undefined };
    this.frames.push(frame);
    try {
      return compute();
    } finally {
      this.frames.pop();
      parent.aside ??= new Map();
      let keys = parent.aside.get(part);
      if (!keys) parent.aside.set(part, (keys = new Set()));
      for (const key of frame.deps) keys.add(key);
      for (const nested of frame.aside?.values() ?? []) for (const key of nested) keys.add(key);
    }
  }

  /** Registers `watcher` on `keys`; `Watch.update` moves it, `Watch.close` ends it. */
  watch(keys: readonly DependencyKey[], watcher: DependencyWatcher): Watch {
    const watch = new Watch(this, watcher);
    this.watches++;
    this.rewatch(watch, keys);
    return watch;
  }

  /**
   * Evicts every entry depending on one of `keys` (or on its wildcard). Returns the watches hit,
   * each with the keys that hit it; the caller tells them once the change is in place.
   */
  invalidate(keys: Iterable<DependencyKey>): Map<Watch, DependencyKey[]> {
    const hit = new Map<Watch, DependencyKey[]>();
    for (const key of keys) {
      this.hitSlot(this.index.get(key), key, hit);
      const wildcard = wildcardOf(key);
      if (wildcard !== key) this.hitSlot(this.index.get(wildcard), key, hit);
    }
    return hit;
  }

  /** Evicts every entry (a reset: everything may have changed). Watches stay. */
  clear(): void {
    for (const entry of [...this.entries.values()]) {
      this.remove(entry);
      this.evictedByChange++;
    }
  }

  /** @internal Watch.update and Watch.close. */
  rewatch(watch: Watch, keys: readonly DependencyKey[]): void {
    for (const key of watch.keys) this.unindex(key, watch);
    watch.keys = keys.length === 0 ? NO_KEYS : keys.map((key) => this.indexed(key, watch));
  }

  /** @internal Watch.close. */
  unwatched(): void {
    this.watches--;
  }

  private lookup(name: string, compute: () => unknown): Entry {
    const found = this.entries.get(name);
    if (found !== undefined) {
      this.hits++;
      // Most recently used last: Map keeps insertion order.
      this.entries.delete(name);
      this.entries.set(name, found);
      return found;
    }
    this.misses++;
    const frame: Frame = { deps: new Set(), aside: undefined };
    this.frames.push(frame);
    let value: unknown;
    try {
      value = compute();
    } finally {
      this.frames.pop();
    }
    // Read aside inside an entry: the entry depends on it all the same.
    for (const keys of frame.aside?.values() ?? []) for (const key of keys) frame.deps.add(key);
    const deps = frame.deps.size === 0 ? NO_KEYS : [...frame.deps].map((key) => this.canonical(key));
    const kept = new Entry(name, value, deps);
    for (const key of deps) this.indexed(key, kept);
    this.entries.set(name, kept);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.values().next().value as Entry;
      this.remove(oldest);
      this.evictedBySize++;
    }
    return kept;
  }

  private hitSlot(slot: Slot | undefined, key: DependencyKey, hit: Map<Watch, DependencyKey[]>): void {
    if (slot === undefined) return;
    for (const dependent of [...slot.dependents]) {
      if (dependent instanceof Watch) {
        const keys = hit.get(dependent);
        if (keys === undefined) hit.set(dependent, [key]);
        else if (!keys.includes(key)) keys.push(key);
      } else if (this.entries.get(dependent.name) === dependent) {
        this.remove(dependent);
        this.evictedByChange++;
      }
    }
  }

  private remove(entry: Entry): void {
    this.entries.delete(entry.name);
    for (const key of entry.deps) this.unindex(key, entry);
  }

  /** Adds `dependent` under `key`; returns the key's canonical string. */
  private indexed(key: DependencyKey, dependent: Dependent): DependencyKey {
    let slot = this.index.get(key);
    if (slot === undefined) this.index.set(key, (slot = { key, dependents: new Set() }));
    slot.dependents.add(dependent);
    return slot.key;
  }

  /** The canonical string of `key`, creating its slot (deps arrays share one string per key). */
  private canonical(key: DependencyKey): DependencyKey {
    let slot = this.index.get(key);
    if (slot === undefined) this.index.set(key, (slot = { key, dependents: new Set() }));
    return slot.key;
  }

  private unindex(key: DependencyKey, dependent: Dependent): void {
    const slot = this.index.get(key);
    if (slot === undefined) return;
    slot.dependents.delete(dependent);
    if (slot.dependents.size === 0) this.index.delete(key);
  }
}

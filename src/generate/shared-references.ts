/**
 * Equal source lists and equal references of generated configs, interned: every connected proxy
 * keeps its config's source lists and references (the snapshot consistency check of the next
 * config reuses them), and proxies of one service name the same ones, so interning them is most
 * of what an idle proxy's config costs beyond its encoded bytes.
 *
 * One instance per generation memo (generate/memo.ts), so per control plane: nothing is shared
 * between two caches. Each table is bounded; past the bound it starts over, which costs sharing,
 * never a wrong result (an interned value is equal to what it stands for).
 */
import type { ReferencedResource } from '../snapshot/snapshot.js';

const MAX_SHARED_LISTS = 20_000;
const MAX_SHARED_REFS = 20_000;
const NO_REFS: readonly ReferencedResource[] = Object.freeze([]);

interface SharedRef {
  readonly ref: ReferencedResource;
  readonly id: number;
}

export class SharedReferences {
  /** Equal source lists are one frozen array, keyed by the sorted sources joined by newlines. */
  private readonly lists = new Map<string, readonly string[]>();
  /** References by type, name and origin (nested maps: no key string per reference). */
  private readonly refs = new Map<string, Map<string, Map<string, SharedRef>>>();
  private refCount = 0;
  private nextRefId = 0;
  /** Equal lists of references, keyed by the ids of their references. */
  private readonly refLists = new Map<string, readonly ReferencedResource[]>();

  /** The shared list of one source (the usual case): keyed by the source itself, as `sourceList` would key it. */
  oneSource(source: string): readonly string[] {
    return this.lists.get(source) ?? this.enter(source, [source]);
  }

  /** The shared list of `set`, sorted. */
  sourceList(set: ReadonlySet<string>): readonly string[] {
    const list = [...set].sort();
    const key = list.join('\n');
    return this.lists.get(key) ?? this.enter(key, list);
  }

  /** The shared list equal to `refs`, each reference shared too. */
  refList(refs: readonly ReferencedResource[]): readonly ReferencedResource[] {
    if (refs.length === 0) return NO_REFS;
    if (this.refCount >= MAX_SHARED_REFS) {
      this.refs.clear();
      this.refCount = 0;
      this.refLists.clear();
    }
    const list: ReferencedResource[] = [];
    let key = '';
    for (const ref of refs) {
      const found = this.ref(ref);
      list.push(found.ref);
      key += `${found.id},`;
    }
    let shared = this.refLists.get(key);
    if (!shared) {
      if (this.refLists.size >= MAX_SHARED_REFS) this.refLists.clear();
      this.refLists.set(key, (shared = Object.freeze(list.slice())));
    }
    return shared;
  }

  private enter(key: string, list: string[]): readonly string[] {
    if (this.lists.size >= MAX_SHARED_LISTS) this.lists.clear();
    const frozen = Object.freeze(list);
    this.lists.set(key, frozen);
    return frozen;
  }

  private ref(ref: ReferencedResource): SharedRef {
    let byName = this.refs.get(ref.typeUrl);
    if (!byName) this.refs.set(ref.typeUrl, (byName = new Map()));
    let byFrom = byName.get(ref.name);
    if (!byFrom) byName.set(ref.name, (byFrom = new Map()));
    let found = byFrom.get(ref.from);
    if (!found) {
      byFrom.set(ref.from, (found = { ref: Object.freeze({ typeUrl: ref.typeUrl, name: ref.name, from: ref.from }), id: ++this.nextRefId }));
      this.refCount++;
    }
    return found;
  }
}

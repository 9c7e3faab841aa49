/**
 * The maps by type URL a snapshot and a kept config are made of: `TypeMap`, small enough for every
 * connected proxy to hold two, and `MapWith`, one entry replaced over a shared base (an endpoint
 * patch), which `replacedKey` recognises.
 */
import { PUSH_ORDER } from './types.js';

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

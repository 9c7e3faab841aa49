/**
 * The re2-wasm instance meshcp's regex checks run on (src/regex/re2.ts), for tests that must act
 * below those checks: break the engine as a pattern beyond the bounds would, or watch its heap.
 *
 * Reached the way src reaches it: re2-wasm is one WebAssembly instance per process, held by
 * Node's module cache, and src drops it from that cache and requires it again when it restarts
 * the engine. So a `require` here, made after src has loaded, returns the instance src uses now.
 * Tests that use this also check through src's own answers that it is that instance (a broken
 * engine makes src restart it; patterns src keeps grow the heap seen here).
 */
import { createRequire } from 'node:module';
import type { RE2 } from 're2-wasm';
// Loaded first, so that it, not this helper, creates the instance.
import '../../src/regex/re2.js';

const requireCjs = createRequire(import.meta.url);

/** The RE2 class of the engine's current instance: compiling with it bypasses every bound of src. */
export function liveRe2(): typeof RE2 {
  return (requireCjs('re2-wasm') as { RE2: typeof RE2 }).RE2;
}

/**
 * Where the allocator of the engine's current instance puts a fresh 1 MiB block. Compiled
 * patterns that are never freed push it up (each holds a few KiB of the fixed 16 MiB heap);
 * freed ones are reused.
 */
export function re2HeapTop(): number {
  const heap = requireCjs('re2-wasm/build/wasm/re2.js') as { _malloc(size: number): number; _free(pointer: number): void };
  const pointer = heap._malloc(1 << 20);
  heap._free(pointer);
  return pointer;
}

/** Frees what `new (liveRe2())(…)` compiled (re2-wasm's class has no public way to). */
export function freeRe2(re: RE2): void {
  (re as unknown as { wrapper: { delete(): void } }).wrapper.delete();
}

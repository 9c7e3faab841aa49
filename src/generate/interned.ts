/**
 * Resources that are a pure function of a few values (an outbound listener of a port and service,
 * the route configuration of a service) are built once and shared by every proxy that has them:
 * the encoder then finds them by object identity (no JSON digest per proxy), and thousands of
 * proxies hold one object instead of thousands of equal ones ("shared resources are
 * built and encoded once").
 *
 * The objects are never mutated once built (builders return fresh objects, generation only
 * collects them), so sharing is safe. The table is bounded: past the bound it starts over, which
 * costs a rebuild, never a wrong result.
 */
import type { ResourceObject } from '../snapshot/encode.js';

const MAX_ENTRIES = 20_000;
const table = new Map<string, ResourceObject>();

/** The resource built by `build` for `key`; `key` must name every input of `build`. */
export function interned(key: string, build: () => ResourceObject): ResourceObject {
  let found = table.get(key);
  if (!found) {
    if (table.size >= MAX_ENTRIES) table.clear();
    found = build();
    table.set(key, found);
  }
  return found;
}

/**
 * Resources that are a pure function of a few values (an outbound listener of a port and service,
 * the route configuration of a service) are built once and shared by every proxy that has them:
 * the encoder then finds them by object identity (no JSON digest per proxy), and thousands of
 * proxies hold one object instead of thousands of equal ones ("shared resources are
 * built and encoded once").
 *
 * The objects are never mutated once built (builders return fresh objects, generation only
 * collects them), so sharing is safe. They are entries of the dependency cache the caller gives
 * (the control plane's): its size bound evicts the least recently used, which costs a rebuild,
 * never a wrong result. An entry depends on no key: its name holds every input.
 */
import type { DependencyCache } from '../change/dependency-cache.js';
import type { ResourceObject } from '../snapshot/encode.js';

/** The resource built by `build` for `key`; `key` must name every input of `build`. */
export function interned(cache: DependencyCache, key: string, build: () => ResourceObject): ResourceObject {
  return cache.get(`generate:${key}`, build);
}

/**
 * A mesh-scoped resource names a mesh that exists (as Kuma refuses a Dataplane, policy or token
 * for an unknown mesh): a Mesh resource of that name, or `default`, which exists without one (Kuma
 * creates it at start). A typo (`-m defualt`) is refused with the nearest mesh, instead of creating
 * resources in a mesh no proxy will ever share. A Mesh and its resources may come in one apply, and
 * a Mesh that still has resources cannot be deleted alone.
 */
import type { FieldError } from './errors.js';
import { quoteValue } from './quote.js';
import { nearest } from './suggest.js';
import { resourceLabel, type Resource } from './types.js';

/** The mesh that exists without a Mesh resource. */
export const IMPLICIT_MESH = 'default';

/** The meshes `resources` define, `default` included. */
export function knownMeshes(resources: Iterable<Resource>): Set<string> {
  const meshes = new Set([IMPLICIT_MESH]);
  for (const r of resources) if (r.type === 'Mesh') meshes.add(r.name);
  return meshes;
}

/** `mesh "defualt" not found; did you mean "default"? …`: for the API, the CLI and the validator. */
export function unknownMeshMessage(mesh: string, known: Iterable<string>): string {
  const names = [...known].sort();
  const suggestion = nearest(mesh, names);
  const hint = suggestion !== undefined ? `; did you mean "${suggestion}"?` : `; meshes: ${names.join(', ')}`;
  return `mesh ${quoteValue(mesh)} not found${hint} (a mesh other than "${IMPLICIT_MESH}" needs a Mesh resource first: type: Mesh, name: ${mesh}; it may come in the same apply)`;
}

/** The mesh-existence error of each non-Mesh resource in `only` (every one when absent), against the meshes of `resources`. */
export function checkMeshesExist(resources: readonly Resource[], only?: readonly Resource[]): FieldError[] {
  const known = knownMeshes(resources);
  const errors: FieldError[] = [];
  for (const r of only ?? resources) {
    if (r.type === 'Mesh' || known.has(r.mesh)) continue;
    errors.push({ resource: resourceLabel(r), path: 'mesh', message: unknownMeshMessage(r.mesh, known) });
  }
  return errors;
}

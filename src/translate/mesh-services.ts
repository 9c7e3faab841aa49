/**
 * The full translation: every mesh from scratch, on a cache of its own unless one is given. The
 * incremental translator (incremental.ts) runs the same per-mesh code (mesh.ts) on the control
 * plane's cache; this stays as its oracle.
 */
import { ResourceSet } from '../api/resource-set.js';
import { DependencyCache } from '../change/dependency-cache.js';
import type { Resource } from '../api/types.js';
import type { MeshModel, Model } from '../model/model.js';
import { meshModel } from './mesh.js';
import { NONE_OFFLINE, type OfflineDataplanes } from './services.js';

export { NONE_OFFLINE, type OfflineDataplanes } from './services.js';

/** The resources of each mesh, in their original order; `default` always exists. Sorted by mesh name. */
export function resourcesByMesh(resources: readonly Resource[]): Map<string, readonly Resource[]> {
  return new Map([...ResourceSet.fromList(resources).groups].map(([mesh, group]) => [mesh, group.resources]));
}

/** One mesh's model from the resources of that mesh (or any superset: other meshes' are ignored). */
export function translateMesh(meshName: string, resources: readonly Resource[], offline: OfflineDataplanes = NONE_OFFLINE, cache = new DependencyCache(), previous?: MeshModel): MeshModel {
  return meshModel(meshName, resources, { cache, offline, previous });
}

export function translateMeshes(resources: readonly Resource[], cache = new DependencyCache()): Model {
  const meshes = new Map<string, MeshModel>();
  for (const [name, group] of ResourceSet.fromList(resources).groups) meshes.set(name, meshModel(name, group.resources, { cache, offline: NONE_OFFLINE }));
  return { meshes };
}

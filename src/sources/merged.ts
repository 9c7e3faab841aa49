/** The served set before validation: config file resources first, then the store's that no file shadows. */
import { resourceKey, type Resource } from '../api/types.js';

export type Origin = 'config' | 'api';

export interface MergedResources {
  /** Config file resources first, then store resources that no config file shadows. */
  readonly resources: readonly Resource[];
  readonly origins: ReadonlyMap<string, Origin>;
  /** Store resources hidden by a config file resource of the same key. */
  readonly shadowed: readonly Resource[];
}

export function mergeResources(fromFiles: readonly Resource[], fromStore: readonly Resource[]): MergedResources {
  const origins = new Map<string, Origin>();
  const resources: Resource[] = [];
  const shadowed: Resource[] = [];
  for (const r of fromFiles) {
    origins.set(resourceKey(r), 'config');
    resources.push(r);
  }
  for (const r of fromStore) {
    if (origins.has(resourceKey(r))) shadowed.push(r);
    else {
      origins.set(resourceKey(r), 'api');
      resources.push(r);
    }
  }
  return { resources, origins, shadowed };
}

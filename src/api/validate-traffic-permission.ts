/** TrafficPermission: which services may call which, enforced at the destination (SPEC §1). */
import { field, index, readList, readObject, readStringMap, type Issues, type YamlObject } from './fields.js';
import type { TrafficPermissionResource, TrafficPermissionSelector } from './types.js';

function readSelectors(v: unknown, path: string, issues: Issues): TrafficPermissionSelector[] {
  const entries = readList(v, path, issues, { required: true, nonEmpty: true }) ?? [];
  const selectors: TrafficPermissionSelector[] = [];
  entries.forEach((entry, i) => {
    const entryPath = index(path, i);
    const o = readObject(entry, entryPath, issues, ['match']);
    if (!o) return;
    const match = readStringMap(o['match'], field(entryPath, 'match'), issues, { required: true, nonEmpty: true });
    if (match) selectors.push({ match });
  });
  return selectors;
}

export function validateTrafficPermission(o: YamlObject, scope: { name: string; mesh: string }, issues: Issues): TrafficPermissionResource {
  readObject(o, '', issues, ['type', 'name', 'mesh', 'sources', 'destinations']);
  return {
    type: 'TrafficPermission',
    name: scope.name,
    mesh: scope.mesh,
    sources: readSelectors(o['sources'], 'sources', issues),
    destinations: readSelectors(o['destinations'], 'destinations', issues),
  };
}

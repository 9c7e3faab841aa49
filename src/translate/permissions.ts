/** api → model for TrafficPermissions (SPEC §1): plain tag selectors, sorted by name. */
import type { Resource, TrafficPermissionResource } from '../api/types.js';
import type { TrafficPermissionModel } from '../model/model.js';

export function translateTrafficPermissions(resources: readonly Resource[], meshName: string): TrafficPermissionModel[] {
  return resources
    .filter((r): r is TrafficPermissionResource => r.type === 'TrafficPermission' && r.mesh === meshName)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((r) => ({
      name: r.name,
      sources: r.sources.map((s) => ({ ...s.match })),
      destinations: r.destinations.map((d) => ({ ...d.match })),
    }));
}

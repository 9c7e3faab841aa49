/** api → model for TrafficPermissions (SPEC §1): plain tag selectors, sorted by name. */
import type { TrafficPermissionResource } from '../api/types.js';
import type { TrafficPermissionModel } from '../model/model.js';

export function translateTrafficPermissions(permissions: readonly TrafficPermissionResource[]): TrafficPermissionModel[] {
  return [...permissions]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((r) => ({
      name: r.name,
      sources: r.sources.map((s) => ({ ...s.match })),
      destinations: r.destinations.map((d) => ({ ...d.match })),
    }));
}

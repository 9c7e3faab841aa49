/** Resource type names as the API paths and the CLI take them (SPEC §3: singular or plural, case-insensitive). */
import { RESOURCE_KINDS, type ResourceKind } from '../api/types.js';

const PLURALS: Readonly<Record<ResourceKind, string>> = {
  Mesh: 'meshes',
  Dataplane: 'dataplanes',
  Service: 'services',
  Secret: 'secrets',
  Gateway: 'gateways',
  Route: 'routes',
  TrafficPermission: 'trafficpermissions',
};

export function kindPlural(kind: ResourceKind): string {
  return PLURALS[kind];
}

export function knownTypeNames(): string[] {
  return RESOURCE_KINDS.map(kindPlural);
}

/** `routes`, `Route`, `route`, `ROUTES` → `Route`; undefined for an unknown type. */
export function parseKind(text: string): ResourceKind | undefined {
  const lower = text.toLowerCase();
  return RESOURCE_KINDS.find((k) => k.toLowerCase() === lower || PLURALS[k] === lower);
}

/**
 * A resource change as dependency keys (keys.ts): each resource put, replaced or deleted names
 * itself, and a Dataplane names the services its inbounds serve, before and after the change
 * (their endpoints and protocol are collected from it). A put equal to what it replaced names
 * nothing: a file source parses every object again on reload.
 */
import { meshOf, type ResourceChange } from '../api/resource-set.js';
import { SERVICE_TAG } from '../api/tags.js';
import type { Resource } from '../api/types.js';
import { deepEqual } from './equal.js';
import { dependencyKey, type DependencyKey } from './keys.js';

function addResource(r: Resource, out: Set<DependencyKey>): void {
  const mesh = meshOf(r);
  out.add(dependencyKey(r.type, mesh, r.name));
  if (r.type === 'Dataplane') for (const inbound of r.networking.inbound) out.add(dependencyKey('ServiceMembers', mesh, inbound.tags[SERVICE_TAG] ?? ''));
}

/**
 * The keys of `change`, or undefined when anything may have changed: a reset, or a mesh named
 * without a resource put or deleted in it (its resources only moved: the order endpoints are
 * collected in may differ).
 */
export function resourceChangeKeys(change: ResourceChange): Set<DependencyKey> | undefined {
  if (change.reset) return undefined;
  const out = new Set<DependencyKey>();
  const named = new Set<string>();
  change.puts.forEach((r, i) => {
    named.add(meshOf(r));
    const old = change.replaced[i];
    if (old !== undefined && old !== r && deepEqual(old, r)) return;
    addResource(r, out);
    if (old !== undefined) addResource(old, out);
  });
  for (const r of change.deletes) {
    addResource(r, out);
    named.add(meshOf(r));
  }
  for (const mesh of change.meshes) if (!named.has(mesh)) return undefined;
  return out;
}

/** A Dataplane's proxy went offline or came back: the endpoints it serves are unhealthy, or healthy again. */
export function livenessKey(mesh: string, dataplane: string): DependencyKey {
  return dependencyKey('Liveness', mesh, dataplane);
}

/**
 * Workload identities must not collide (SPEC §1 Mesh: `spiffe://<mesh>/<service>`). A Dataplane
 * gets one identity per service its inbounds serve; a Gateway, and a Dataplane without inbounds,
 * take their own name as the service of their identity (identity/resource-index.ts). A Gateway
 * named `db` in a mesh where Dataplanes serve `db` would therefore hold `spiffe://default/db`: it
 * could answer as `db` to every client that verifies `db`, and pass every TrafficPermission
 * written for `db` as a source. As Kuma (where a gateway's identity is its own `kuma.io/service`,
 * distinct from the services behind it), meshcp refuses such a name when it is applied, rather
 * than minting a second holder of the identity: the error is on the resource that takes the name.
 */
import { SERVICE_TAG } from '../api/tags.js';
import type { FieldError } from '../api/errors.js';
import { resourceLabel, type Resource } from '../api/types.js';


/** Whether `r` takes its own name as its identity's service (a Gateway, a Dataplane without inbounds). */
export function takesOwnName(r: Resource | undefined): boolean {
  return r?.type === 'Gateway' || (r?.type === 'Dataplane' && r.networking.inbound.length === 0);
}

/** The identity collisions among `resources`, all of one mesh or of several. */
export function checkIdentityCollisions(resources: readonly Resource[]): FieldError[] {
  const servedBy = new Map<string, Map<string, string>>(); // mesh → service → a Dataplane serving it
  const takers = new Map<string, Map<string, Resource>>(); // mesh → name → first resource taking it
  for (const r of resources) {
    if (r.type !== 'Dataplane') continue;
    for (const inbound of r.networking.inbound) {
      const service = inbound.tags[SERVICE_TAG];
      if (service === undefined) continue;
      let services = servedBy.get(r.mesh);
      if (!services) servedBy.set(r.mesh, (services = new Map()));
      if (!services.has(service)) services.set(service, r.name);
    }
  }
  const errors: FieldError[] = [];
  for (const r of resources) {
    if (!takesOwnName(r) || r.type === 'Mesh') continue;
    const what = r.type === 'Gateway' ? 'a Gateway' : 'a Dataplane without inbounds';
    const identity = `spiffe://${r.mesh}/${r.name}`;
    const server = servedBy.get(r.mesh)?.get(r.name);
    if (server !== undefined) {
      errors.push({
        resource: resourceLabel(r),
        path: 'name',
        message: `${what} takes its name as its identity (${identity}), which is the identity of mesh service "${r.name}" (served by Dataplane/${server}): it would pass as that service; rename it (e.g. "${r.name}-gateway")`,
      });
      continue;
    }
    let names = takers.get(r.mesh);
    if (!names) takers.set(r.mesh, (names = new Map()));
    const first = names.get(r.name);
    if (first) {
      errors.push({ resource: resourceLabel(r), path: 'name', message: `${what} takes its name as its identity (${identity}), as ${resourceLabel(first)} already does: two proxies would share one identity; rename one of them` });
    } else names.set(r.name, r);
  }
  return errors;
}

/** What identity issuance needs from the resource set: Mesh mTLS policies, and who serves what. */
import { SERVICE_TAG } from '../api/tags.js';
import type { MeshResource, MtlsBackend, Resource } from '../api/types.js';
import { spiffeId } from './names.js';


export interface ResourceIndex {
  readonly meshes: ReadonlyMap<string, MeshResource>;
  /** `mesh/name` → services of its inbounds, sorted. */
  readonly dataplanes: ReadonlyMap<string, readonly string[]>;
  /** `mesh/name` of every Gateway. */
  readonly gateways: ReadonlySet<string>;
}

/** The index, kept up to date resource by resource (a change indexes what it touches). */
export class MutableResourceIndex implements ResourceIndex {
  readonly meshes = new Map<string, MeshResource>();
  readonly dataplanes = new Map<string, readonly string[]>();
  readonly gateways = new Set<string>();
  /** Resources indexed (put or removed) since the start (recompute counter). */
  indexed = 0;

  put(r: Resource): void {
    this.indexed++;
    if (r.type === 'Mesh') this.meshes.set(r.name, r);
    else if (r.type === 'Dataplane') {
      const services = new Set<string>();
      for (const inbound of r.networking.inbound) {
        const service = inbound.tags[SERVICE_TAG];
        if (service !== undefined) services.add(service);
      }
      this.dataplanes.set(`${r.mesh}/${r.name}`, [...services].sort());
    } else if (r.type === 'Gateway') this.gateways.add(`${r.mesh}/${r.name}`);
  }

  remove(r: Resource): void {
    this.indexed++;
    if (r.type === 'Mesh') this.meshes.delete(r.name);
    else if (r.type === 'Dataplane') this.dataplanes.delete(`${r.mesh}/${r.name}`);
    else if (r.type === 'Gateway') this.gateways.delete(`${r.mesh}/${r.name}`);
  }
}

export function indexResources(resources: readonly Resource[]): MutableResourceIndex {
  const index = new MutableResourceIndex();
  for (const r of resources) index.put(r);
  return index;
}

/** The enabled backend of a mesh; undefined when mTLS is disabled (or the mesh does not exist). */
export function enabledBackend(index: ResourceIndex, mesh: string): MtlsBackend | undefined {
  const mtls = index.meshes.get(mesh)?.mtls;
  return mtls?.enabledBackend !== undefined ? mtls.backends.find((b) => b.name === mtls.enabledBackend) : undefined;
}

/**
 * The SPIFFE IDs of a proxy: one per service its Dataplane's inbounds serve. A Dataplane with
 * only outbounds is named after itself (it still needs a client identity); a Gateway calls mesh
 * services with its own identity (SPEC §1 Service), named after the Gateway. Undefined for a
 * proxy that is neither (it gets no certificate).
 */
export function spiffeIdsOf(index: ResourceIndex, mesh: string, name: string): readonly string[] | undefined {
  const key = `${mesh}/${name}`;
  const services = index.dataplanes.get(key);
  if (services !== undefined) return spiffeIdList(mesh, services.length > 0 ? services : [name]);
  if (index.gateways.has(key)) return spiffeIdList(mesh, [name]);
  return undefined;
}

/**
 * One frozen list per mesh and services: every proxy of a service holds the same list (in its
 * state, its status and its certificate) rather than a list and strings of its own, and an
 * unchanged list is the same object on the next reconcile (per-proxy memory). Bounded:
 * past the bound the table starts over, which costs new lists, never a wrong one.
 */
const spiffeIdLists = new Map<string, Map<string, readonly string[]>>();
let spiffeIdListCount = 0;
const MAX_SPIFFE_ID_LISTS = 20_000;

function spiffeIdList(mesh: string, services: readonly string[]): readonly string[] {
  const key = JSON.stringify(services);
  let byServices = spiffeIdLists.get(mesh);
  let list = byServices?.get(key);
  if (list === undefined) {
    if (spiffeIdListCount >= MAX_SPIFFE_ID_LISTS) {
      spiffeIdLists.clear();
      spiffeIdListCount = 0;
      byServices = undefined;
    }
    if (!byServices) spiffeIdLists.set(mesh, (byServices = new Map()));
    list = Object.freeze(services.map((s) => flat(spiffeId(mesh, s))));
    byServices.set(key, list);
    spiffeIdListCount++;
  }
  return list;
}

/** `s` as one sequential string: reading it once makes V8 flatten a concatenation in place. */
function flat(s: string): string {
  void s.charCodeAt(0);
  return s;
}

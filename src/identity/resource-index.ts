/** What identity issuance needs from the resource set: Mesh mTLS policies, and who serves what. */
import { SERVICE_TAG } from '../api/tags.js';
import type { MeshResource, MtlsBackend, Resource } from '../api/types.js';
import { spiffeId } from './names.js';

export interface ResourceIndex {
  readonly meshes: ReadonlyMap<string, MeshResource>;
  /** `mesh/name` of every Dataplane → its SPIFFE IDs (see {@link spiffeIdsOf}). */
  readonly dataplanes: ReadonlyMap<string, readonly string[]>;
  /** `mesh/name` of every Gateway → its SPIFFE IDs. */
  readonly gateways: ReadonlyMap<string, readonly string[]>;
}

/**
 * One frozen list per mesh and services: every proxy of a service holds the same list (in its
 * state, its status and its certificate) rather than a list and strings of its own, and an
 * unchanged Dataplane keeps its list object (per-proxy memory). A list is held while a Dataplane or
 * Gateway of the index uses it (counted), so the table is exactly as large as the lists in use.
 */
class SpiffeIdLists {
  /** By the list's IDs joined with newlines (a SPIFFE ID holds none: its service is URI-encoded). */
  private readonly lists = new Map<string, { readonly list: readonly string[]; users: number }>();

  get size(): number {
    return this.lists.size;
  }

  acquire(mesh: string, services: readonly string[]): readonly string[] {
    const ids = services.map((s) => flat(spiffeId(mesh, s)));
    const key = ids.join('\n');
    const found = this.lists.get(key);
    if (found) {
      found.users++;
      return found.list;
    }
    const list = Object.freeze(ids);
    this.lists.set(key, { list, users: 1 });
    return list;
  }

  release(list: readonly string[]): void {
    const key = list.join('\n');
    const found = this.lists.get(key);
    if (found && --found.users === 0) this.lists.delete(key);
  }
}

/** The index, kept up to date resource by resource (a change indexes what it touches). */
export class MutableResourceIndex implements ResourceIndex {
  readonly meshes = new Map<string, MeshResource>();
  readonly dataplanes = new Map<string, readonly string[]>();
  readonly gateways = new Map<string, readonly string[]>();
  /** Resources indexed (put or removed) since the start (recompute counter). */
  indexed = 0;
  private readonly lists = new SpiffeIdLists();

  /** Distinct SPIFFE ID lists held (tests: it follows the Dataplanes and Gateways indexed). */
  get spiffeIdLists(): number {
    return this.lists.size;
  }

  put(r: Resource): void {
    this.indexed++;
    if (r.type === 'Mesh') this.meshes.set(r.name, r);
    else if (r.type === 'Dataplane') {
      const services = new Set<string>();
      for (const inbound of r.networking.inbound) {
        const service = inbound.tags[SERVICE_TAG];
        if (service !== undefined) services.add(service);
      }
      // A Dataplane with only outbounds is named after itself (it still needs a client identity).
      this.hold(this.dataplanes, r.mesh, r.name, services.size > 0 ? [...services].sort() : [r.name]);
    } else if (r.type === 'Gateway') this.hold(this.gateways, r.mesh, r.name, [r.name]);
  }

  remove(r: Resource): void {
    this.indexed++;
    if (r.type === 'Mesh') this.meshes.delete(r.name);
    else if (r.type === 'Dataplane') this.drop(this.dataplanes, `${r.mesh}/${r.name}`);
    else if (r.type === 'Gateway') this.drop(this.gateways, `${r.mesh}/${r.name}`);
  }

  private hold(map: Map<string, readonly string[]>, mesh: string, name: string, services: readonly string[]): void {
    const key = `${mesh}/${name}`;
    const list = this.lists.acquire(mesh, services);
    const previous = map.get(key);
    if (previous) this.lists.release(previous);
    map.set(key, list);
  }

  private drop(map: Map<string, readonly string[]>, key: string): void {
    const previous = map.get(key);
    if (!previous) return;
    this.lists.release(previous);
    map.delete(key);
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
  return index.dataplanes.get(key) ?? index.gateways.get(key);
}

/** `s` as one sequential string: reading it once makes V8 flatten a concatenation in place. */
function flat(s: string): string {
  void s.charCodeAt(0);
  return s;
}

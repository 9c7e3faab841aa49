/** Collects generated resources and the references between them, for the snapshot consistency check. */
import { DependencyCache } from '../change/dependency-cache.js';
import type { ResourceObject } from '../snapshot/encode.js';
import type { GeneratedConfig, ReferencedResource as ResourceRef } from '../snapshot/snapshot.js';

/** Equal source lists are one array for every proxy (bounded; past the bound it starts over). */
const sharedLists = new Map<string, readonly string[]>();
const MAX_SHARED_LISTS = 20_000;

/** The shared list of one source (the usual case): keyed by the source itself, as `join` would key it. */
function sharedOne(source: string): readonly string[] {
  let found = sharedLists.get(source);
  if (!found) {
    if (sharedLists.size >= MAX_SHARED_LISTS) sharedLists.clear();
    sharedLists.set(source, (found = Object.freeze([source])));
  }
  return found;
}

function sharedList(set: ReadonlySet<string>): readonly string[] {
  const list = [...set].sort();
  const key = list.join('\n');
  let found = sharedLists.get(key);
  if (!found) {
    if (sharedLists.size >= MAX_SHARED_LISTS) sharedLists.clear();
    sharedLists.set(key, (found = Object.freeze(list)));
  }
  return found;
}
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, PUSH_ORDER, ROUTE_TYPE, SECRET_TYPE } from '../snapshot/types.js';

/**
 * Equal references are one frozen object, and equal lists of them one frozen array, for every
 * proxy: every connected proxy keeps its config's references (the snapshot consistency check of
 * the next config reuses them), and proxies of one service name the same ones (idle
 * memory). Bounded like the lists above; past the bound it starts over.
 */
const sharedRefs = new Map<string, Map<string, Map<string, { readonly ref: ResourceRef; readonly id: number }>>>();
let sharedRefCount = 0;
const sharedRefLists = new Map<string, readonly ResourceRef[]>();
let nextRefId = 0;
const MAX_SHARED_REFS = 20_000;

/** The shared reference equal to `ref`, by type, name and origin (nested maps: no key string per reference). */
function sharedRef(ref: ResourceRef): { readonly ref: ResourceRef; readonly id: number } {
  let byName = sharedRefs.get(ref.typeUrl);
  if (!byName) sharedRefs.set(ref.typeUrl, (byName = new Map()));
  let byFrom = byName.get(ref.name);
  if (!byFrom) byName.set(ref.name, (byFrom = new Map()));
  let found = byFrom.get(ref.from);
  if (!found) {
    byFrom.set(ref.from, (found = { ref: Object.freeze({ typeUrl: ref.typeUrl, name: ref.name, from: ref.from }), id: ++nextRefId }));
    sharedRefCount++;
  }
  return found;
}

function sharedRefList(refs: readonly ResourceRef[]): readonly ResourceRef[] {
  if (refs.length === 0) return NO_REFS;
  if (sharedRefCount >= MAX_SHARED_REFS) {
    sharedRefs.clear();
    sharedRefCount = 0;
    sharedRefLists.clear();
  }
  const list: ResourceRef[] = [];
  let key = '';
  for (const ref of refs) {
    const found = sharedRef(ref);
    list.push(found.ref);
    key += `${found.id},`;
  }
  let shared = sharedRefLists.get(key);
  if (!shared) {
    if (sharedRefLists.size >= MAX_SHARED_REFS) sharedRefLists.clear();
    sharedRefLists.set(key, (shared = Object.freeze(list.slice())));
  }
  return shared;
}
const NO_REFS: readonly ResourceRef[] = Object.freeze([]);

export class ConfigBuilder {
  private readonly resources = new Map<string, Map<string, ResourceObject>>(PUSH_ORDER.map((t) => [t, new Map()]));
  private readonly refs: ResourceRef[] = [];
  private readonly pending: string[] = [];
  /** Per type and name, its sources: one string while there is one (the usual case), a set from the second on. */
  private readonly sources = new Map<string, Map<string, string | Set<string>>>();

  /**
   * @param owner the user resources every generated resource of this proxy comes from (its
   *   Dataplane or Gateway, as `Kind/name`), so a NACK can be shown on what caused it.
   * @param cache where resources shared between proxies are kept (the control plane's dependency
   *   cache); a fresh one by default, which shares nothing beyond this proxy.
   */
  constructor(
    private readonly owner: readonly string[] = [],
    readonly cache: DependencyCache = new DependencyCache(),
  ) {}

  add(typeUrl: string, name: string, resource: ResourceObject): this {
    this.resources.get(typeUrl)?.set(name, resource);
    return this;
  }

  has(typeUrl: string, name: string): boolean {
    return this.resources.get(typeUrl)?.has(name) ?? false;
  }

  listener(name: string, resource: ResourceObject): this {
    return this.add(LISTENER_TYPE, name, resource);
  }
  cluster(name: string, resource: ResourceObject): this {
    return this.add(CLUSTER_TYPE, name, resource);
  }
  endpoints(name: string, resource: ResourceObject): this {
    return this.add(ENDPOINT_TYPE, name, resource);
  }
  route(name: string, resource: ResourceObject): this {
    return this.add(ROUTE_TYPE, name, resource);
  }
  secret(name: string, resource: ResourceObject): this {
    return this.add(SECRET_TYPE, name, resource);
  }

  /** Records user resources (`Kind/name`) that the generated resource `name` of `typeUrl` came from. */
  from(typeUrl: string, name: string, ...sources: readonly string[]): this {
    let byName = this.sources.get(typeUrl);
    if (!byName) this.sources.set(typeUrl, (byName = new Map()));
    let known = byName.get(name);
    for (const source of sources) {
      if (known === undefined) byName.set(name, (known = source));
      else if (typeof known === 'string') {
        if (known !== source) byName.set(name, (known = new Set([known, source])));
      } else known.add(source);
    }
    return this;
  }

  ref(typeUrl: string, name: string, from: string): this {
    this.refs.push({ typeUrl, name, from });
    return this;
  }

  /** Records material that is being issued: the config is not complete until it is there. */
  awaiting(what: string): this {
    this.pending.push(what);
    return this;
  }

  build(): GeneratedConfig {
    const resources = new Map<string, ResourceObject[]>();
    const extra = new Map<string, Map<string, readonly string[]>>();
    for (const [typeUrl, byName] of this.resources) {
      resources.set(typeUrl, [...byName.values()]);
      const known = this.sources.get(typeUrl);
      if (!known) continue;
      const out = new Map<string, readonly string[]>();
      for (const name of byName.keys()) {
        const set = known.get(name);
        if (typeof set === 'string') out.set(name, sharedOne(set));
        else if (set && set.size > 0) out.set(name, sharedList(set));
      }
      if (out.size > 0) extra.set(typeUrl, out);
    }
    const config: GeneratedConfig = { resources, refs: sharedRefList(this.refs), sources: { owner: this.owner, extra } };
    return this.pending.length > 0 ? { ...config, pending: [...this.pending] } : config;
  }
}

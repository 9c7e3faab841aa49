/** Collects generated resources and the references between them, for the snapshot consistency check. */
import { DependencyCache } from '../change/dependency-cache.js';
import type { ResourceObject } from '../snapshot/encode.js';
import type { GeneratedConfig, ReferencedResource } from '../snapshot/snapshot.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, PUSH_ORDER, ROUTE_TYPE, SECRET_TYPE } from '../snapshot/types.js';
import { generationMemo, type GenerationMemo } from './memo.js';

export class ConfigBuilder {
  private readonly resources = new Map<string, Map<string, ResourceObject>>(PUSH_ORDER.map((t) => [t, new Map()]));
  private readonly refs: ReferencedResource[] = [];
  private readonly pending: string[] = [];
  /** Per type and name, its sources: one string while there is one (the usual case), a set from the second on. */
  private readonly sources = new Map<string, Map<string, string | Set<string>>>();
  /** What generation keeps between proxies by model object, held by `cache`. */
  readonly memo: GenerationMemo;

  /**
   * @param owner the user resources every generated resource of this proxy comes from (its
   *   Dataplane or Gateway, as `Kind/name`), so a NACK can be shown on what caused it.
   * @param cache where resources shared between proxies are kept (the control plane's dependency
   *   cache); a fresh one by default, which shares nothing beyond this proxy.
   */
  constructor(
    private readonly owner: readonly string[] = [],
    readonly cache: DependencyCache = new DependencyCache(),
  ) {
    this.memo = generationMemo(cache);
  }

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
        if (typeof set === 'string') out.set(name, this.memo.references.oneSource(set));
        else if (set && set.size > 0) out.set(name, this.memo.references.sourceList(set));
      }
      if (out.size > 0) extra.set(typeUrl, out);
    }
    const config: GeneratedConfig = { resources, refs: this.memo.references.refList(this.refs), sources: { owner: this.owner, extra } };
    return this.pending.length > 0 ? { ...config, pending: [...this.pending] } : config;
  }
}

/**
 * What generation keeps between proxies that is keyed by model objects rather than by name: the
 * model is immutable and a new revision brings new objects, so these tables are WeakMaps keyed by
 * the objects themselves (a mesh model, a service model, a policy list), and an entry goes when
 * its key does. Name-keyed shared resources are entries of the dependency cache instead
 * (generate/interned.ts).
 *
 * The memo is held by the dependency cache the control plane passes down (`generationMemo`), as
 * one entry that depends on no key: two control planes, or the full-recompute oracle on its fresh
 * cache, never share one. Should the entry go (a reset, the size bound), the next generation
 * starts a new memo: sharing restarts, nothing is wrong (every value is a pure function of its key).
 */
import type { DependencyCache } from '../change/dependency-cache.js';
import { createHash } from 'node:crypto';
import { allowRules, meshHttpRbacFilter, type RbacPolicy } from '../envoy/mesh-rbac.js';
import type { MeshModel, ServiceModel } from '../model/model.js';
import type { ResourceObject } from '../snapshot/encode.js';
import { SharedReferences } from './shared-references.js';

export type TagSet = Readonly<Record<string, string>>;

/** The policy lists of inbounds with one tag set (generate/permissions.ts). */
export interface InboundPolicyLists {
  inbound?: readonly RbacPolicy[];
  plaintext?: readonly RbacPolicy[];
}

/** The cluster to a service and its assignment, for one kind of upstream security (generate/services.ts). */
export interface ServiceResources {
  readonly cluster: ResourceObject;
  /** The ClusterLoadAssignment, or undefined for a cluster that resolves its endpoint by name. */
  readonly endpoints: ResourceObject | undefined;
}

/** What generation derives once from a policy list (generate/envoy-flavor.ts). */
export interface PolicyInfo {
  /** A digest of the list's content: equal content, equal id (across mesh model revisions and caches). */
  readonly id: string;
  /** `TrafficPermission/<name>` of each policy: what a listener built from the list comes from. */
  readonly sources: readonly string[];
  /** The HTTP RBAC filter of the list, one object for every proxy that has it. */
  httpFilter?: Record<string, unknown>;
  /** The RBAC rules of the list's network filter. */
  networkRules?: Record<string, unknown>;
}

export class GenerationMemo {
  /** Interned source lists and references of generated configs. */
  readonly references = new SharedReferences();
  /** Per mesh model: every inbound tag set of each service. */
  readonly tagsByService = new WeakMap<MeshModel, Map<string, TagSet[]>>();
  /** Per mesh model and inbound tag set (by `tagKeys`): its policy lists. */
  readonly policyLists = new WeakMap<MeshModel, Map<string, InboundPolicyLists>>();
  /** Each inbound tag set's key (tag objects live as long as their model). */
  readonly tagKeys = new WeakMap<TagSet, string>();
  /** Per service model, per kind of upstream security: its cluster and assignment. */
  readonly serviceResources = new WeakMap<ServiceModel, Map<string, ServiceResources>>();
  /** Per service model: its ClusterLoadAssignment, whatever the cluster variant. */
  readonly serviceEndpoints = new WeakMap<ServiceModel, ResourceObject>();
  /** Per policy list (shared and frozen by generate/permissions.ts). */
  private readonly policyInfos = new WeakMap<readonly RbacPolicy[], PolicyInfo>();

  /**
   * Once per policy list: lists are shared and frozen (generate/permissions.ts) and new ones come
   * with a new mesh model; equal content has an equal id (a digest of it), so what is keyed by
   * the id (inbound listener templates) survives model revisions.
   */
  policyInfo(policies: readonly RbacPolicy[]): PolicyInfo {
    let info = this.policyInfos.get(policies);
    if (!info) {
      const id = createHash('sha256').update(JSON.stringify(policies)).digest('base64url').slice(0, 22);
      info = { id, sources: policies.map((p) => `TrafficPermission/${p.name}`) };
      this.policyInfos.set(policies, info);
    }
    return info;
  }

  /** The HTTP RBAC filter of a policy list: one object for every proxy that has the list. */
  httpRbacFilter(policies: readonly RbacPolicy[]): Record<string, unknown> {
    const info = this.policyInfo(policies);
    return (info.httpFilter ??= meshHttpRbacFilter(policies));
  }

  /** The rules of a policy list's network RBAC filter: one object for every proxy that has the list. */
  networkRbacRules(policies: readonly RbacPolicy[]): Record<string, unknown> {
    const info = this.policyInfo(policies);
    return (info.networkRules ??= allowRules(policies));
  }
}

/** The generation memo `cache` holds (a new one when it has none). */
export function generationMemo(cache: DependencyCache): GenerationMemo {
  return cache.peek('generate:memo', () => new GenerationMemo());
}

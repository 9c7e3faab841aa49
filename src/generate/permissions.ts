/**
 * Which callers may reach an inbound (SPEC §1 TrafficPermission), as RBAC policies.
 *
 * - A permission applies to an inbound when one of its destinations matches the inbound's tags.
 *   Every permission that applies contributes a policy; they are ORed (an allow list, as Istio's
 *   ALLOW policies), rather than Kuma 1.x's "most specific permission wins".
 * - A caller is known by its certificate alone, which names its services
 *   (`spiffe://<mesh>/<service>`). A source selecting only `kuma.io/service` is that SPIFFE ID,
 *   or with `*` any SPIFFE ID of the mesh. A source with other tags (version, zone...) cannot be
 *   read off a certificate; it is resolved against the Dataplanes: a service is admitted when
 *   every inbound of every Dataplane serving it matches the selector, so an instance that does
 *   not match can never borrow the identity of one that does (fail closed).
 * - Plaintext callers (PERMISSIVE) have no identity: only a permission whose source admits every
 *   caller (`kuma.io/service: '*'` and nothing else) can admit them; see `plaintextPolicies`.
 */
import type { InboundModel, MeshModel, TagSelector } from '../model/model.js';
import type { RbacPolicy, RbacPrincipal } from '../envoy/mesh-rbac.js';
import { spiffeId } from '../identity/names.js';
import { SERVICE_TAG } from '../api/tags.js';
import { GenerationMemo, type InboundPolicyLists, type TagSet } from './memo.js';

const WILDCARD = '*';

export function selectorMatches(selector: TagSelector, tags: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([key, value]) => {
    const actual = tags[key];
    return actual !== undefined && (value === WILDCARD || value === actual);
  });
}

/** A source that admits any caller at all: only the service tag, with `*`. */
function isAnyCaller(source: TagSelector): boolean {
  const keys = Object.keys(source);
  return keys.length === 1 && source[SERVICE_TAG] === WILDCARD;
}

/**
 * Every inbound tag set of each service, across the mesh's Dataplanes: built once per mesh model
 * (the model is immutable and interned per revision), not once per inbound of every proxy.
 */
function inboundTagsByService(memo: GenerationMemo, mesh: MeshModel): Map<string, TagSet[]> {
  const known = memo.tagsByService.get(mesh);
  if (known) return known;
  const byService = new Map<string, TagSet[]>();
  for (const dataplane of mesh.dataplanes.values()) {
    for (const inbound of dataplane.inbound) {
      const list = byService.get(inbound.service) ?? [];
      list.push(inbound.tags);
      byService.set(inbound.service, list);
    }
  }
  memo.tagsByService.set(mesh, byService);
  return byService;
}

function sourcePrincipals(mesh: MeshModel, source: TagSelector, tagsByService: () => Map<string, TagSet[]>): RbacPrincipal[] {
  const service = source[SERVICE_TAG];
  const onlyService = Object.keys(source).length === 1 && service !== undefined;
  if (onlyService) return [service === WILDCARD ? { prefix: spiffeId(mesh.name, '') } : { exact: spiffeId(mesh.name, service) }];
  const admitted: RbacPrincipal[] = [];
  for (const [name, tagSets] of [...tagsByService()].sort(([a], [b]) => a.localeCompare(b))) {
    if (tagSets.length > 0 && tagSets.every((tags) => selectorMatches(source, tags))) admitted.push({ exact: spiffeId(mesh.name, name) });
  }
  return admitted;
}

function dedupe(principals: readonly RbacPrincipal[]): RbacPrincipal[] {
  const seen = new Set<string>();
  return principals.filter((p) => {
    const key = JSON.stringify(p);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Bounded per mesh model: past the bound it starts over (a recomputation, never a wrong result). */
const MAX_TAG_SETS = 10_000;

function tagsKey(memo: GenerationMemo, tags: TagSet): string {
  let key = memo.tagKeys.get(tags);
  if (key === undefined) {
    // Selectors look tags up by key, so the order of the keys does not matter.
    key = JSON.stringify(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    memo.tagKeys.set(tags, key);
  }
  return key;
}

/**
 * The policies of an inbound depend on the mesh model and the inbound's tags only, and every
 * instance of a service has the same tags: they are computed once per mesh model and tag set and
 * the same (frozen) arrays are handed to every proxy, which also lets the RBAC filter built from
 * them be shared (selectorMatches per inbound of every proxy was a cold-start hot spot).
 */
function cached(memo: GenerationMemo, mesh: MeshModel, inbound: InboundModel, kind: keyof InboundPolicyLists, compute: () => RbacPolicy[]): readonly RbacPolicy[] {
  let byTags = memo.policyLists.get(mesh);
  if (!byTags) memo.policyLists.set(mesh, (byTags = new Map()));
  const key = tagsKey(memo, inbound.tags);
  let entry = byTags.get(key);
  if (!entry) {
    if (byTags.size >= MAX_TAG_SETS) byTags.clear();
    byTags.set(key, (entry = {}));
  }
  let policies = entry[kind];
  if (!policies) {
    policies = Object.freeze(compute().map((p) => Object.freeze({ ...p, principals: Object.freeze(p.principals) })));
    entry[kind] = policies;
  }
  return policies;
}

/**
 * Policies for mTLS callers of `inbound`; an empty list denies everything. Shared through `memo`
 * (a fresh one by default, which shares nothing), never to be mutated.
 */
export function inboundPolicies(mesh: MeshModel, inbound: InboundModel, memo = new GenerationMemo()): readonly RbacPolicy[] {
  return cached(memo, mesh, inbound, 'inbound', () => computeInboundPolicies(memo, mesh, inbound));
}

function computeInboundPolicies(memo: GenerationMemo, mesh: MeshModel, inbound: InboundModel): RbacPolicy[] {
  let cached: Map<string, TagSet[]> | undefined;
  const tagsByService = (): Map<string, TagSet[]> => (cached ??= inboundTagsByService(memo, mesh));
  return mesh.trafficPermissions
    .filter((permission) => permission.destinations.some((d) => selectorMatches(d, inbound.tags)))
    .map((permission) => ({ name: permission.name, principals: dedupe(permission.sources.flatMap((s) => sourcePrincipals(mesh, s, tagsByService))) }))
    .filter((policy) => policy.principals.length > 0);
}

/**
 * Policies for plaintext callers of `inbound` (PERMISSIVE): a plaintext connection carries no
 * identity, so it is admitted only by a permission that admits any caller, and a permission
 * naming particular services can never be bypassed by dropping TLS. Shared, never to be mutated.
 */
export function plaintextPolicies(mesh: MeshModel, inbound: InboundModel, memo = new GenerationMemo()): readonly RbacPolicy[] {
  return cached(memo, mesh, inbound, 'plaintext', () =>
    mesh.trafficPermissions
      .filter((permission) => permission.destinations.some((d) => selectorMatches(d, inbound.tags)))
      .filter((permission) => permission.sources.some(isAnyCaller))
      .map((permission) => ({ name: permission.name, principals: [{ any: true } as const] })),
  );
}

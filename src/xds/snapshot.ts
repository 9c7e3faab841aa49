/**
 * A snapshot is everything one proxy should have, per type, encoded. It is checked for
 * consistency before it is published (go-control-plane `Snapshot.Consistent`): every
 * RDS/EDS/SDS name a listener or cluster refers to must be present.
 */
import { contentHash, defaultEncoder, type EncodedResource, type ResourceEncoder, type ResourceObject } from './encode.js';
import { PUSH_ORDER } from './types.js';

export interface ResourceRef {
  readonly typeUrl: string;
  readonly name: string;
  /** Who refers to it, for the error message. */
  readonly from: string;
}

/** What the generate stage hands to the cache for one proxy. */
export interface GeneratedConfig {
  readonly resources: ReadonlyMap<string, readonly ResourceObject[]>;
  readonly refs: readonly ResourceRef[];
  /**
   * Material still being issued (e.g. a gateway server certificate): the config is incomplete
   * and must not be published. An empty LDS/CDS in SotW deletes everything the proxy has, so a
   * partial first response after a restart would be an outage (issue #10).
   */
  readonly pending?: readonly string[];
  /**
   * The user resources (`Kind/name`) each resource was generated from, so a NACK can be shown on
   * the Route, Mesh, Service or Secret that caused it (issue #11). See `sourcesOf`.
   */
  readonly sources?: GeneratedSources;
}

/**
 * `owner`: what every resource of the proxy comes from (its Dataplane or Gateway); `extra`, per
 * type and name, what else a resource comes from. Kept apart, and the extra lists shared between
 * proxies, because every connected proxy holds its config: per-resource copies of the owner
 * would cost memory per proxy for nothing.
 */
export interface GeneratedSources {
  readonly owner: readonly string[];
  readonly extra: ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;
}

/** The user resources the resource `name` of `typeUrl` came from, sorted; empty when unknown. */
export function sourcesOf(sources: GeneratedSources | undefined, typeUrl: string, name: string): string[] {
  if (!sources) return [];
  return [...new Set([...sources.owner, ...(sources.extra.get(typeUrl)?.get(name) ?? [])])].sort();
}

export interface Snapshot {
  /** Hash of every type version. */
  readonly version: string;
  readonly resources: ReadonlyMap<string, ReadonlyMap<string, EncodedResource>>;
  readonly typeVersions: ReadonlyMap<string, string>;
  /** GeneratedConfig.sources of the config it was built from, when known. */
  readonly sources?: GeneratedSources;
}

export type SnapshotResult = { ok: true; snapshot: Snapshot } | { ok: false; errors: string[] };

export interface BuildSnapshotOptions {
  /** Defaults to the process-wide encoder. */
  readonly encoder?: ResourceEncoder;
  /**
   * The proxy's previous config and the snapshot built from it: a type whose resource list is the
   * same array as before (an endpoint-only change patches EDS and shares every other list) keeps
   * its encoded map and version, so only the changed types cost anything.
   */
  readonly previous?: { readonly config: GeneratedConfig; readonly snapshot: Snapshot };
}

function encodeType(typeUrl: string, list: readonly ResourceObject[], encoder: ResourceEncoder, errors: string[]): Map<string, EncodedResource> {
  const byName = new Map<string, EncodedResource>();
  for (const object of list) {
    try {
      const encoded = encoder.encode(typeUrl, object);
      if (byName.has(encoded.name)) errors.push(`duplicate ${typeUrl} name "${encoded.name}"`);
      byName.set(encoded.name, encoded);
    } catch (err) {
      errors.push(`cannot encode ${typeUrl}: ${(err as Error).message}`);
    }
  }
  return byName;
}

/** Whether every type not reused holds exactly the names it held in `previous`. */
function sameNames(resources: ReadonlyMap<string, ReadonlyMap<string, EncodedResource>>, previous: Snapshot, reused: ReadonlySet<string>): boolean {
  for (const [typeUrl, byName] of resources) {
    if (reused.has(typeUrl)) continue;
    const before = previous.resources.get(typeUrl);
    if (!before || before.size !== byName.size) return false;
    for (const name of byName.keys()) if (!before.has(name)) return false;
  }
  return true;
}

export function buildSnapshot(config: GeneratedConfig, options: BuildSnapshotOptions = {}): SnapshotResult {
  const encoder = options.encoder ?? defaultEncoder;
  const previous = options.previous;
  const errors: string[] = [];
  const resources = new Map<string, ReadonlyMap<string, EncodedResource>>();
  const reused = new Set<string>();
  for (const [typeUrl, list] of config.resources) {
    const kept = previous !== undefined && previous.config.resources.get(typeUrl) === list ? previous.snapshot.resources.get(typeUrl) : undefined;
    if (kept) {
      resources.set(typeUrl, kept);
      reused.add(typeUrl);
    } else {
      resources.set(typeUrl, encodeType(typeUrl, list, encoder, errors));
    }
  }
  // The same references over the same names (an EDS patch swaps contents, never names) were checked already.
  const checked = previous !== undefined && config.refs === previous.config.refs && sameNames(resources, previous.snapshot, reused);
  if (!checked) {
    for (const ref of config.refs) {
      if (!resources.get(ref.typeUrl)?.has(ref.name)) {
        errors.push(`${ref.from} refers to missing ${ref.typeUrl} "${ref.name}"`);
      }
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  const typeVersions = new Map<string, string>();
  for (const typeUrl of PUSH_ORDER) {
    const byName = resources.get(typeUrl) ?? new Map<string, EncodedResource>();
    resources.set(typeUrl, byName);
    const keptVersion = reused.has(typeUrl) ? previous?.snapshot.typeVersions.get(typeUrl) : undefined;
    typeVersions.set(typeUrl, keptVersion ?? patchedVersion(typeUrl, byName, previous?.snapshot) ?? versionOf([...byName.values()]));
  }
  return { ok: true, snapshot: new BuiltSnapshot(resources, typeVersions, config.sources) };
}

/** The snapshot version is hashed when asked for (config dumps): comparing snapshots uses the type versions. */
class BuiltSnapshot implements Snapshot {
  private hashed?: string;
  constructor(
    readonly resources: ReadonlyMap<string, ReadonlyMap<string, EncodedResource>>,
    readonly typeVersions: ReadonlyMap<string, string>,
    readonly sources?: GeneratedSources,
  ) {}
  get version(): string {
    return (this.hashed ??= contentHash([...this.typeVersions.values()].join(',')));
  }
}

/**
 * Whether two snapshots carry the same content: equal versions of every type, and the same
 * sources (a regeneration that changes only what a resource came from still replaces the
 * snapshot config dumps and NACK attribution read; sessions then find nothing to send).
 */
export function sameContent(a: Snapshot, b: Snapshot): boolean {
  if (a === b) return true;
  if (a.sources !== b.sources) return false;
  if (a.typeVersions.size !== b.typeVersions.size) return false;
  for (const [typeUrl, version] of a.typeVersions) if (b.typeVersions.get(typeUrl) !== version) return false;
  return true;
}

/**
 * Versions of sets that differ from a known set by a few swapped resources (an EDS patch), by
 * (previous version, swapped names and versions): thousands of proxies holding the same set
 * get its version from one hash, not one each. The value is always the real `versionOf` of the
 * set, so the memo changes no version.
 */
const patchedVersions = new Map<string, string>();
const MAX_PATCHED_VERSIONS = 10_000;

function patchedVersion(typeUrl: string, byName: ReadonlyMap<string, EncodedResource>, previous: Snapshot | undefined): string | undefined {
  const before = previous?.resources.get(typeUrl);
  const beforeVersion = previous?.typeVersions.get(typeUrl);
  if (!before || beforeVersion === undefined || before.size !== byName.size) return undefined;
  let key = `${typeUrl}|${beforeVersion}`;
  for (const [name, resource] of byName) {
    const old = before.get(name);
    if (!old) return undefined;
    if (old !== resource) key += JSON.stringify([name, resource.version]);
  }
  let version = patchedVersions.get(key);
  if (version === undefined) {
    if (patchedVersions.size >= MAX_PATCHED_VERSIONS) patchedVersions.clear();
    version = versionOf([...byName.values()]);
    patchedVersions.set(key, version);
  }
  return version;
}

/** A deterministic version for a set of resources: the same content gives the same version on any replica. */
export function versionOf(resources: readonly EncodedResource[]): string {
  const parts = resources.map((r) => `${r.name}@${r.version}`).sort();
  return contentHash(parts.join('\n'));
}

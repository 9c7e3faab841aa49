/**
 * One resource set from two sources: the `--config` files and the store (what the admin API
 * applied). On a name clash the file wins: files are what an operator deploys with the server
 * (GitOps), so the API must not be able to silently override them. The API copy is shadowed with
 * a warning, and `apply`/`delete` of a file-owned resource is refused (admin/resource-api.ts).
 *
 * The merged set is checked as a whole (references, and the material of new or changed file
 * secrets). An invalid set, e.g. a file change that removes a secret a stored route names, is
 * rejected with a log line per error and the last good set keeps being served (SPEC §3).
 */
import { combineLatest, ReplaySubject, type Observable, type Subscription } from 'rxjs';
import { formatFieldError, type FieldError } from '../api/errors.js';
import { resourceKey, resourceLabel, type Resource } from '../api/types.js';
import { validateResources } from '../ca/providers/check.js';
import type { Store, StoredResource } from '../store/store.js';
import type { Logger } from './logger.js';

/** What ResourceSources needs from FileConfigSource. */
export interface ConfigFiles {
  readonly resources: Observable<readonly Resource[]>;
  current(): readonly Resource[];
  readonly paths: readonly string[];
}

export type Origin = 'config' | 'api';

export interface MergedResources {
  /** Config file resources first, then store resources that no config file shadows. */
  readonly resources: readonly Resource[];
  readonly origins: ReadonlyMap<string, Origin>;
  /** Store resources hidden by a config file resource of the same key. */
  readonly shadowed: readonly Resource[];
}

export function mergeResources(fromFiles: readonly Resource[], fromStore: readonly Resource[]): MergedResources {
  const origins = new Map<string, Origin>();
  const resources: Resource[] = [];
  const shadowed: Resource[] = [];
  for (const r of fromFiles) {
    origins.set(resourceKey(r), 'config');
    resources.push(r);
  }
  for (const r of fromStore) {
    if (origins.has(resourceKey(r))) shadowed.push(r);
    else {
      origins.set(resourceKey(r), 'api');
      resources.push(r);
    }
  }
  return { resources, origins, shadowed };
}

/** Secret material is checked when a secret is applied: for files, when a secret is new or its content changed. */
function secretFingerprint(r: Resource): string | undefined {
  return r.type === 'Secret' ? `${r.secretType}\n${r.cert}\n${r.key ?? ''}` : undefined;
}

/** Options of `ResourceSources.check`. */
export interface CheckOptions {
  /** Secrets whose material is checked besides new or changed config-file secrets (an API batch's). */
  readonly alsoCheckSecret?: (r: Resource) => boolean;
}

/**
 * An extra check of the whole merged set, after validateResources (which includes the mesh CA backends).
 * Its errors reject the change like a reference error; its warnings are logged once each.
 */
export type ResourceCheck = (resources: readonly Resource[], now: Date) => { errors: FieldError[]; warnings: FieldError[] };

export class ResourceSources {
  private readonly subject = new ReplaySubject<readonly Resource[]>(1);
  private subscription?: Subscription;
  private lastGood?: MergedResources;
  private acceptedSecrets = new Map<string, string>();
  private shadowWarned = '';
  private loggedWarnings = new Set<string>();
  /** Errors of the last rejected merge; empty when the desired state is being served. */
  lastErrors: string[] = [];
  /** Incremented after every merge attempt; tests wait on it. */
  merges = 0;

  constructor(
    private readonly files: ConfigFiles,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
    private readonly checks: readonly ResourceCheck[] = [],
  ) {}

  /** The last good merged set; replays it to new subscribers. */
  get resources(): Observable<readonly Resource[]> {
    return this.subject.asObservable();
  }

  /** Starts merging; throws when the initial merged set is invalid (like an invalid initial `--config`). */
  start(): void {
    this.subscription = combineLatest([this.files.resources, this.store.watch()]).subscribe(([fromFiles, fromStore]) => this.merge(fromFiles, fromStore));
    if (!this.lastGood) {
      this.stop();
      throw new Error(`invalid configuration (config files and stored resources together):\n${this.lastErrors.join('\n')}`);
    }
  }

  stop(): void {
    this.subscription?.unsubscribe();
  }

  /** What is being served. */
  served(): MergedResources | undefined {
    return this.lastGood;
  }

  /** What the sources hold now, valid or not: the state an API change is validated against. */
  desired(): MergedResources {
    return mergeResources(this.files.current(), this.storeResources());
  }

  configPaths(): readonly string[] {
    return this.files.paths;
  }

  /** Errors of `candidate` (a would-be merged set), including new or changed config secrets. */
  check(merged: MergedResources, options: CheckOptions = {}): { errors: FieldError[]; warnings: FieldError[] } {
    const now = this.now();
    const changedFileSecret = (r: Resource): boolean => merged.origins.get(resourceKey(r)) === 'config' && this.acceptedSecrets.get(resourceKey(r)) !== secretFingerprint(r);
    // The one validator of validate -f, apply and serve (ca/providers/check.ts).
    const result = validateResources(merged.resources, { now, checkSecret: (r) => changedFileSecret(r) || (options.alsoCheckSecret?.(r) ?? false) });
    const errors = [...result.errors];
    const warnings = [...result.warnings];
    for (const check of this.checks) {
      const result = check(merged.resources, now);
      errors.push(...result.errors);
      warnings.push(...result.warnings);
    }
    return { errors, warnings };
  }

  private storeResources(): Resource[] {
    return this.store.current().map((s: StoredResource) => s.resource);
  }

  private merge(fromFiles: readonly Resource[], fromStore: readonly StoredResource[]): void {
    this.merges++;
    const merged = mergeResources(fromFiles, fromStore.map((s) => s.resource));
    this.warnShadowed(merged.shadowed);
    const { errors, warnings } = this.check(merged);
    // Checks run on every merge; a warning about an unchanged resource is not repeated.
    const lines = new Set(warnings.map(formatFieldError));
    for (const line of lines) if (!this.loggedWarnings.has(line)) this.log.warn(line);
    this.loggedWarnings = lines;
    if (errors.length > 0) {
      this.lastErrors = errors.map(formatFieldError);
      for (const line of this.lastErrors) this.log.error(line);
      this.log.error({ errors: errors.length }, this.lastGood ? 'resource change rejected; still serving the last good set' : 'resources rejected');
      return;
    }
    this.lastErrors = [];
    this.lastGood = merged;
    this.acceptedSecrets = new Map(fromFiles.flatMap((r) => (r.type === 'Secret' ? [[resourceKey(r), secretFingerprint(r) ?? '']] : [])));
    this.subject.next(merged.resources);
  }

  private warnShadowed(shadowed: readonly Resource[]): void {
    const keys = shadowed.map(resourceKey).sort().join(',');
    if (keys === this.shadowWarned) return;
    this.shadowWarned = keys;
    for (const r of shadowed) {
      const where = r.type === 'Mesh' ? '' : ` in mesh "${r.mesh}"`;
      this.log.warn({ resource: resourceKey(r) }, `${resourceLabel(r)}${where} is defined both in a --config file and through the API; the file wins`);
    }
  }
}

/**
 * One resource set from two sources: the `--config` files and the store (what the admin API
 * applied). On a name clash the file wins: files are what an operator deploys with the server
 * (GitOps), so the API must not be able to silently override them. The API copy is shadowed with
 * a warning, and `apply`/`delete` of a file-owned resource is refused (admin/resource-api.ts).
 *
 * The merged set is checked as a whole (references, the material of new or changed file secrets,
 * every mesh CA). Two kinds of error, two outcomes (README "Validation and pinning"):
 * - An error the change brings — in a resource it adds or changes, or in one it breaks (a file
 *   change that removes a secret a stored route names) — rejects the change as a whole, with a log
 *   line per error, and the last good set keeps being served (SPEC §3).
 * - An error in a resource the change did not touch, which the last good set has too when checked
 *   now — its CA `file:` was rewritten on disk into garbage, removed, or its certificate expired —
 *   blocks nothing: that resource is PINNED at its last good version (for a provided CA,
 *   the material last accepted: ca/providers/ca-files.ts), its error is logged once and shown on it
 *   (`get`, the admin API), and the rest of the change is served. The pin lifts on the first merge
 *   where the resource validates again; a change to the pinned resource itself is checked normally.
 * CA files are watched (and polled), so a rotation or a fix on disk is picked up without any other
 * change.
 */
import { isDeepStrictEqual } from 'node:util';
import { concat, defer, map, of, Subject, type Observable, type Subscription } from 'rxjs';
import { listChange, meshOf, resetChange, ResourceSet, type RankedResource, type ResourceChange } from '../api/resource-set.js';
import { formatFieldError, type FieldError } from '../api/errors.js';
import { resourceKey, resourceLabel, type Resource, type SecretResource } from '../api/types.js';
import { CaFileSnapshot, CaFileWatch, caFilesOf, RecordingReader, type CaFileReader, type CaFileWatchOptions } from '../ca/providers/ca-files.js';
import { validateChange, validateResources, type ChangeCheckResult } from './validate.js';
import { quarantineStored, type QuarantinedResource } from './stored-quarantine.js';
import { configFilesChanges, type ConfigFilesChange } from './config-files.js';
import { refKey, type ResourceRef, type Store, type StoredResource, type StoreEvent } from '../store/store.js';
import type { Logger } from '../log/logger.js';
import { mergeResources, type MergedResources, type Origin } from './merged.js';

/** What ResourceSources needs from FileConfigSource. */
export interface ConfigFiles {
  readonly resources: Observable<readonly Resource[]>;
  /** Each load as a change (FileConfigSource); derived from `resources` when absent. */
  readonly changes?: Observable<ConfigFilesChange>;
  current(): readonly Resource[];
  readonly paths: readonly string[];
}

export { mergeResources, type MergedResources, type Origin } from './merged.js';

/** Secret material is checked when a secret is applied: for files, when a secret is new or its content changed. */
function secretFingerprint(r: Resource): string | undefined {
  return r.type === 'Secret' ? `${r.secretType}\n${r.cert}\n${r.key ?? ''}` : undefined;
}

/** Options of `ResourceSources.check`. */
export interface CheckOptions {
  /** Secrets whose material is checked besides new or changed config-file secrets (an API batch's). */
  readonly alsoCheckSecret?: (r: Resource) => boolean;
  /** How provided CA files are read; the disk when absent. */
  readonly readFile?: CaFileReader;
}

/** A resource held at its last good version because it no longer validates for reasons outside the resource set. */
export interface PinnedResource {
  /** `resourceKey`: `Mesh/name`, `Kind/mesh/name`. */
  readonly key: string;
  readonly type: Resource['type'];
  readonly name: string;
  readonly mesh?: string;
  /** Its errors, one line each (`Mesh/a: mtls.backends[0].conf.cert: …`). */
  readonly errors: readonly string[];
  /** ISO 8601: when it was first pinned. */
  readonly since: string;
}

export interface ResourceSourcesOptions {
  /** How CA files named by `file:` are watched; `serve` uses the defaults (directory watch, 60 s poll). */
  readonly caFiles?: CaFileWatchOptions;
  /** What the operator is told about a valid set's generated config (`ResourceSetOptions.warnings`); `serve` gives the gateway warnings. */
  readonly warnings?: (resources: readonly Resource[]) => readonly string[];
}

/**
 * An extra check of the whole merged set, after validateResources (which includes the mesh CA backends).
 * Its errors reject the change like a reference error; its warnings are logged once each.
 */
export type ResourceCheck = (resources: readonly Resource[], now: Date) => { errors: FieldError[]; warnings: FieldError[] };

/** Recompute counters of the sources. */
export interface SourceCounters {
  /** Changes validated by `validateChange` (only what they touch). */
  incrementalChecks: number;
  /** Merges validated as a whole set (the start, a config file reload, a CA file re-check, any change while something is rejected or pinned). */
  fullChecks: number;
  /** Resources `validateChange` checked, summed over changes. */
  resourcesChecked: number;
  /** API batches `checkAlone` checked on what they touch. */
  apiChecksAlone: number;
  /** Runs of `check`, the whole-set check (merges, pins, and API batches that could not be checked alone). */
  wholeSetChecks: number;
}

/**
 * Validity depends on time (an inline CA or a certificate expires) while `validateChange` checks
 * only what a change touches: the whole set is checked again on the first change a minute or more
 * after the last whole check (and on every CA file re-check, watched and polled).
 */
const FULL_CHECK_INTERVAL_MS = 60_000;

/** Config-file resources rank first, in file order; stored ones after them, by key (the order of `mergeResources`). */
function fileRank(index: number): string {
  return `f${String(index).padStart(9, '0')}`;
}

function storeRank(key: string): string {
  return `s${key}`;
}

export class ResourceSources {
  private readonly changeSubject = new Subject<ResourceChange>();
  private subscriptions: Subscription[] = [];
  private started = false;
  /** What is served, as the pipeline passes it on; `lastGood` is its list form, made when asked. */
  private servedSet?: ResourceSet;
  private lastGoodList?: MergedResources;
  /** The config files' resources as last read, and the key of each. */
  private fileResources: readonly Resource[] = [];
  private fileKeys = new Set<string>();
  /** The store's resources by key, kept from its change events. */
  private readonly stored = new Map<string, Resource>();
  /** Whether the served set is the desired one (nothing rejected, nothing pinned): the condition to check a store change alone. */
  private servingDesired = false;
  /** When the whole set was last checked: what depends on time (a CA or certificate that expired) is checked again at least once a minute while changes flow. */
  private lastFullCheck = 0;
  readonly counters: SourceCounters = { incrementalChecks: 0, fullChecks: 0, resourcesChecked: 0, apiChecksAlone: 0, wholeSetChecks: 0 };
  private acceptedSecrets = new Map<string, string>();
  private shadowWarned = '';
  private loggedWarnings = new Set<string>();
  private pins: ReadonlyMap<string, PinnedResource> = new Map();
  /** Stored resources held at their last good version or skipped, because the store brought their errors. */
  private quarantined: ReadonlyMap<string, QuarantinedResource> = new Map();
  private quarantineSince = new Map<string, string>();
  /** The CA file content of the served set; `defaultCaProviders(store, sources.caFileReader)` signs with it. */
  private readonly caFiles = new CaFileSnapshot();
  private readonly caFileWatch: CaFileWatch;
  /** Errors of the last rejected merge; empty when the desired state is being served (pinned resources aside). */
  lastErrors: string[] = [];
  /** Incremented after every merge attempt; tests wait on it. */
  merges = 0;
  /** Incremented after every re-check of the CA files (watch or poll); tests wait on it. */
  caFileRechecks = 0;

  constructor(
    private readonly files: ConfigFiles,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
    private readonly checks: readonly ResourceCheck[] = [],
    options: ResourceSourcesOptions = {},
  ) {
    this.caFileWatch = new CaFileWatch(() => this.recheck(), options.caFiles);
    this.warnings = options.warnings;
  }

  private readonly warnings: ((resources: readonly Resource[]) => readonly string[]) | undefined;

  /**
   * The changes of the served set: first the whole set as a reset, then each change.
   * Unchanged meshes' groups are shared with the previous set.
   */
  get changes(): Observable<ResourceChange> {
    return defer(() => (this.servedSet ? concat(of(resetChange(this.servedSet)), this.changeSubject) : this.changeSubject));
  }

  /** The last good merged set as a list (in `mergeResources` order); replays it to new subscribers. */
  get resources(): Observable<readonly Resource[]> {
    return this.changes.pipe(map(() => this.lastGood?.resources ?? []));
  }

  /** Reads a provided CA's `file:` as the served set holds it: give it to the providers that sign (`defaultCaProviders`). */
  get caFileReader(): CaFileReader {
    return this.caFiles.read;
  }

  /** Starts merging; throws when the initial merged set is invalid (like an invalid initial `--config`). */
  start(): void {
    this.started = true;
    // Both sources replay at once: the store a reset event, the files their list.
    this.subscriptions.push(this.store.changes().subscribe((event) => this.onStoreEvent(event)));
    this.subscriptions.push(
      (this.files.changes ?? configFilesChanges(this.files.resources)).subscribe((change) => {
        this.fileResources = change.resources;
        if (!change.sameOrder) this.fileKeys = new Set(change.resources.map(resourceKey));
        if (!change.sameOrder || !this.filesChangeAlone(change)) this.merge();
      }),
    );
    if (!this.lastGood) {
      this.stop();
      throw new Error(`invalid configuration (${this.describeSources()}):\n${this.lastErrors.join('\n')}`);
    }
  }

  stop(): void {
    this.started = false;
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions = [];
    this.caFileWatch.close();
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

  /**
   * Resources held at their last good version, by `resourceKey`, with their errors: those the
   * merged set pins, and stored records the store cannot read whose last good version it holds.
   */
  pinned(): ReadonlyMap<string, PinnedResource> {
    const held = [...(this.store.problems?.().values() ?? [])].filter((p) => p.held && p.ref !== undefined && !this.pins.has(p.key));
    const quarantinedHeld = [...this.quarantined.values()].filter((q) => q.outcome === 'held' && !this.pins.has(q.key));
    if (held.length === 0 && quarantinedHeld.length === 0) return this.pins;
    const all = new Map(this.pins);
    for (const q of quarantinedHeld) {
      all.set(q.key, { key: q.key, type: q.type, name: q.name, ...(q.mesh !== undefined ? { mesh: q.mesh } : {}), errors: q.errors, since: this.quarantineSince.get(q.key) ?? '' });
    }
    for (const { key, ref, reason, since } of held) {
      if (!ref) continue;
      all.set(key, { key, type: ref.type, name: ref.name, ...(ref.type !== 'Mesh' ? { mesh: ref.mesh } : {}), errors: [`the stored record does not validate: ${reason}`], since });
    }
    return all;
  }

  /** Where the resources come from, for messages: never blames `--config` files that were not given. */
  describeSources(): string {
    if (this.files.paths.length === 0) return 'the stored resources';
    return this.storeResources().length === 0 ? 'the --config files' : 'the --config files and the stored resources together';
  }

  /**
   * Checks the current state again (a CA file changed on disk): a pin lifts when its resource
   * validates again, new material flows, a newly broken CA is pinned. Emits only when what is
   * served changed.
   */
  recheck(): void {
    if (!this.started) return;
    this.caFileRechecks++;
    this.merge({ quiet: true });
  }

  /** Errors of `candidate` (a would-be merged set), including new or changed config secrets. */
  check(merged: MergedResources, options: CheckOptions = {}): { errors: FieldError[]; warnings: FieldError[] } {
    this.counters.wholeSetChecks++;
    const now = this.now();
    const changedFileSecret = (r: Resource): boolean => merged.origins.get(resourceKey(r)) === 'config' && this.acceptedSecrets.get(resourceKey(r)) !== secretFingerprint(r);
    // The one validator of validate -f, apply and serve (sources/validate.ts).
    const result = validateResources(merged.resources, {
      now,
      checkSecret: (r) => changedFileSecret(r) || (options.alsoCheckSecret?.(r) ?? false),
      ...(options.readFile ? { readFile: options.readFile } : {}),
      ...(this.warnings ? { warnings: this.warnings } : {}),
    });
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

  /** The served set as `mergeResources` lists it (files first, then stored resources by key), made once per served set when asked. */
  private get lastGood(): MergedResources | undefined {
    if (!this.lastGoodList && this.servedSet) {
      const ranked: { resource: Resource; rank: string }[] = [];
      for (const group of this.servedSet.groups.values()) group.resources.forEach((resource, i) => ranked.push({ resource, rank: group.ranks[i] ?? '' }));
      ranked.sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0));
      const origins = new Map<string, Origin>();
      for (const { resource } of ranked) origins.set(resourceKey(resource), this.fileKeys.has(resourceKey(resource)) ? 'config' : 'api');
      const shadowed = [...this.stored].filter(([key]) => this.fileKeys.has(key)).map(([, r]) => r);
      this.lastGoodList = { resources: ranked.map((r) => r.resource), origins, shadowed };
    }
    return this.lastGoodList;
  }

  private set lastGood(value: MergedResources | undefined) {
    this.lastGoodList = value;
  }

  /** A store batch: checked alone when it can be (`changeAlone`), else merged and checked as a whole set. */
  private onStoreEvent(event: StoreEvent): void {
    if (event.reset) {
      this.stored.clear();
      for (const s of event.reset) this.stored.set(resourceKey(s.resource), s.resource);
      // The first event comes before the files' list: start() merges then.
      if (this.started && this.lastGood) this.merge();
      return;
    }
    const before = new Map<string, Resource | undefined>();
    for (const s of event.puts) {
      const key = resourceKey(s.resource);
      if (!before.has(key)) before.set(key, this.stored.get(key));
      this.stored.set(key, s.resource);
    }
    for (const ref of event.deletes) {
      const key = refKey(ref);
      if (!before.has(key)) before.set(key, this.stored.get(key));
      this.stored.delete(key);
    }
    if (!this.changeAlone(before)) this.merge();
  }

  /**
   * The hot path: a store change to a served set that is exactly the desired one is
   * checked by `validateChange`, which looks only at what the change touches, and passed on as a
   * change. Anything else (a key a config file owns, an error, a pin, the first set) takes the
   * whole-set path of `merge`, which places errors and pins. Returns whether it handled the change.
   */
  private changeAlone(before: ReadonlyMap<string, Resource | undefined>): boolean {
    const now = this.now();
    const change = this.storeChange(before, (key) => this.stored.get(key), now);
    // Stored secrets were checked when applied (SPEC §1); only config-file secrets are checked here, and none is in this change.
    return change !== undefined && this.acceptAlone(change, now, () => false);
  }

  /**
   * A config file reload that kept every resource in its place (an edit of values): checked on
   * what it touches, like a store change, with its new or changed secrets' material checked.
   */
  private filesChangeAlone(files: ConfigFilesChange): boolean {
    const now = this.now();
    const index = new Map(files.resources.map((r, i) => [resourceKey(r), i]));
    const entries = files.puts.map((r, i) => ({ key: resourceKey(r), old: files.replaced[i], next: r as Resource | undefined, rank: fileRank(index.get(resourceKey(r)) ?? 0) }));
    const change = this.changeOf(entries, now);
    const puts = new Set(files.puts);
    if (!change || !this.acceptAlone(change, now, (r) => puts.has(r))) return false;
    for (const r of files.puts) if (r.type === 'Secret') this.acceptedSecrets.set(resourceKey(r), secretFingerprint(r) ?? '');
    return true;
  }

  /** Checks a change alone and, when it has no error, serves it; false leaves it to the whole-set check. */
  private acceptAlone(change: ResourceChange, now: Date, checkSecret: (r: SecretResource) => boolean): boolean {
    // Nothing changed (a file saved as it was): nothing to check or pass on.
    if (change.puts.length === 0 && change.deletes.length === 0) return true;
    const set = change.set;
    const reads = new RecordingReader();
    const result = validateChange(change, { now, checkSecret, readFile: reads.read, ...(this.warnings ? { warnings: this.warnings } : {}) });
    const errors = [...result.errors];
    const warnings = [...result.warnings];
    for (const check of this.checks) {
      const extra = check(set.list(), now);
      errors.push(...extra.errors);
      warnings.push(...extra.warnings);
    }
    if (errors.length > 0) {
      // Placed by the whole-set check (which resource, blocking or pinned).
      return false;
    }
    this.merges++;
    this.counters.incrementalChecks++;
    this.counters.resourcesChecked += result.checked;
    for (const line of new Set(warnings.map(formatFieldError))) {
      if (this.loggedWarnings.has(line)) continue;
      this.log.warn(line);
      this.loggedWarnings.add(line);
    }
    const materialChanged = this.caFiles.acceptMeshes(result.caMeshes, reads, (mesh) => set.group(mesh)?.resources.some((r) => r.type === 'Mesh') ?? false);
    if (change.puts.some((r) => r.type === 'Mesh') || change.deletes.some((r) => r.type === 'Mesh')) {
      this.caFileWatch.update(set.list().filter((r) => r.type === 'Mesh').flatMap(caFilesOf));
    }
    this.servedSet = set;
    this.lastGoodList = undefined;
    this.emit(materialChanged.size === 0 ? change : withMaterialOf(change, materialChanged));
    return true;
  }

  /**
   * The change that takes the served set from `before` (old versions by key) to `after`, when it
   * may be checked alone: the served set is the desired one, a whole check ran within the last
   * minute, and no key belongs to a config file. Undefined otherwise.
   */
  private storeChange(before: ReadonlyMap<string, Resource | undefined>, after: (key: string) => Resource | undefined, now: Date): ResourceChange | undefined {
    const entries: { key: string; old: Resource | undefined; next: Resource | undefined; rank: string }[] = [];
    for (const [key, old] of before) {
      if (this.fileKeys.has(key)) return undefined;
      entries.push({ key, old, next: after(key), rank: storeRank(key) });
    }
    return this.changeOf(entries, now);
  }

  /** The change of the served set that replaces each entry's `old` with its `next` at its rank, when it may be checked alone (see `storeChange`). */
  private changeOf(entries: readonly { key: string; old: Resource | undefined; next: Resource | undefined; rank: string }[], now: Date): ResourceChange | undefined {
    const served = this.servedSet;
    const sinceFullCheck = now.getTime() - this.lastFullCheck;
    if (!served || !this.servingDesired || sinceFullCheck < 0 || sinceFullCheck >= FULL_CHECK_INTERVAL_MS) return undefined;
    const puts: RankedResource[] = [];
    const replaced: (Resource | undefined)[] = [];
    const deletes: Resource[] = [];
    const removals: { mesh: string; rank: string }[] = [];
    for (const { old, next, rank } of entries) {
      if (next === old) continue;
      if (next) {
        puts.push({ resource: next, rank });
        replaced.push(old);
      } else if (old) {
        deletes.push(old);
        removals.push({ mesh: meshOf(old), rank });
      }
    }
    const set = served.apply(puts, removals);
    const meshes = new Set([...puts.map((p) => meshOf(p.resource)), ...deletes.map(meshOf)]);
    return { set, puts: puts.map((p) => p.resource), replaced, deletes, meshes, reset: false };
  }

  /**
   * An API batch (puts, or a delete) checked on what it touches, as a store change
   * to the served set would be: the errors and warnings `validateChange` finds, or undefined when
   * the whole-set check must decide (something is rejected or pinned, a key belongs to a config
   * file, or the last whole check is a minute old). `checkSecret`: the batch's secrets (SPEC §1).
   */
  checkAlone(puts: readonly Resource[], deletes: readonly ResourceRef[], checkSecret: (r: SecretResource) => boolean): ChangeCheckResult | undefined {
    if (!this.started || this.checks.length > 0) return undefined;
    const now = this.now();
    const before = new Map<string, Resource | undefined>();
    const after = new Map<string, Resource | undefined>();
    for (const r of puts) {
      before.set(resourceKey(r), this.stored.get(resourceKey(r)));
      after.set(resourceKey(r), r);
    }
    for (const ref of deletes) {
      before.set(refKey(ref), this.stored.get(refKey(ref)));
      after.set(refKey(ref), undefined);
    }
    const change = this.storeChange(before, (key) => after.get(key), now);
    if (!change) return undefined;
    this.counters.apiChecksAlone++;
    // Only validated, never accepted: a RecordingReader keeps what it reads to itself.
    return validateChange(change, { now, checkSecret, readFile: new RecordingReader().read, ...(this.warnings ? { warnings: this.warnings } : {}) });
  }

  private emit(change: ResourceChange): void {
    this.changeSubject.next(change);
  }

  private merge(options: { quiet?: boolean } = {}): void {
    this.counters.fullChecks++;
    this.lastFullCheck = this.now().getTime();
    this.merges++;
    const fromFiles = this.fileResources;
    const desired = mergeResources(fromFiles, [...this.stored].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r));
    this.warnShadowed(desired.shadowed);
    // What the CA files hold is read once, for the check; what is accepted is what was checked.
    const reads = new RecordingReader();
    const evaluate = (candidate: MergedResources): { warnings: FieldError[]; pins: Map<string, PinnedResource>; blocking: FieldError[] } => {
      const { errors, warnings } = this.check(candidate, { readFile: reads.read });
      return { warnings, ...this.classify(candidate, errors) };
    };
    let merged = desired;
    let evaluation = evaluate(desired);
    // Watch what the desired set names, also when it is rejected: fixing a file retries the change.
    this.caFileWatch.update(desired.resources.flatMap(caFilesOf));
    // Errors the store brought hold or skip the stored resources behind them (stored-quarantine.ts);
    // the rest is served. Errors a --config change brings still reject it whole.
    const quarantine = evaluation.blocking.length > 0 ? quarantineStored(desired, evaluation, this.lastGood, evaluate) : undefined;
    if (quarantine && quarantine.evaluation.blocking.length === 0) {
      merged = quarantine.merged;
      evaluation = quarantine.evaluation;
    }
    // Checks run on every merge; a warning about an unchanged resource is not repeated.
    const lines = new Set(evaluation.warnings.map(formatFieldError));
    for (const line of lines) if (!this.loggedWarnings.has(line)) this.log.warn(line);
    this.loggedWarnings = lines;
    const { pins, blocking } = evaluation;
    this.servingDesired = false;
    if (blocking.length > 0) {
      this.lastErrors = blocking.map(formatFieldError);
      for (const line of this.lastErrors) this.log.error(line);
      this.log.error({ errors: blocking.length }, this.lastGood ? 'resource change rejected; still serving the last good set' : 'resources rejected');
      // Nothing new is served: the pins held stay, and a resource newly broken from outside is pinned too.
      this.setPins(new Map([...this.pins, ...pins]), this.lastGood ?? merged);
      return;
    }
    const served = pins.size === 0 ? merged : this.withLastGoodOf(merged, pins);
    const pinnedMeshes = new Set([...pins.values()].filter((p) => p.type === 'Mesh').map((p) => p.name));
    const meshes = served.resources.filter((r) => r.type === 'Mesh').map((r) => r.name);
    const materialChanged = this.caFiles.accept(meshes, reads, pinnedMeshes);
    this.setQuarantined(merged === desired ? new Map() : (quarantine?.quarantined ?? new Map()));
    const quarantineErrors = [...this.quarantined.values()].flatMap((q) => q.errors);
    const unchanged = options.quiet === true && !materialChanged && this.lastErrors.join('\n') === quarantineErrors.join('\n') && sameResources(this.lastGood, served);
    this.setPins(pins, served);
    this.lastErrors = quarantineErrors;
    this.lastGood = served;
    this.servingDesired = pins.size === 0 && this.quarantined.size === 0;
    this.acceptedSecrets = new Map(fromFiles.flatMap((r) => (r.type === 'Secret' ? [[resourceKey(r), secretFingerprint(r) ?? '']] : [])));
    if (unchanged) return;
    const previous = this.servedSet;
    this.servedSet = rankedSet(served, fromFiles);
    let change = listChange(previous, this.servedSet);
    this.servedSet = change.set;
    // New CA file content reaches the identities as a put of the (same) Mesh resource.
    if (materialChanged && !change.reset) change = withMaterialOf(change, new Set(meshes.filter((m) => !pinnedMeshes.has(m))));
    this.emit(change);
  }

  /**
   * Splits the errors of a merged set: those of resources to pin (unchanged since the last good
   * set, which has the very same error when checked now: the cause is outside the resource set),
   * and those that block the change. Before a first good set there is nothing to pin at.
   */
  private classify(merged: MergedResources, errors: readonly FieldError[]): { pins: Map<string, PinnedResource>; blocking: FieldError[] } {
    const pins = new Map<string, PinnedResource>();
    if (errors.length === 0) return { pins, blocking: [] };
    const lastGood = this.lastGood;
    if (!lastGood) return { pins, blocking: [...errors] };
    const previous = new Map(lastGood.resources.map((r) => [resourceKey(r), r]));
    const external = new Set(this.check(lastGood).errors.map(formatFieldError));
    const byLabel = new Map<string, Resource[]>();
    for (const r of merged.resources) byLabel.set(resourceLabel(r), [...(byLabel.get(resourceLabel(r)) ?? []), r]);
    const since = this.now().toISOString();
    const blocking: FieldError[] = [];
    for (const e of errors) {
      const line = formatFieldError(e);
      const owners = e.resource !== undefined ? (byLabel.get(e.resource) ?? []) : [];
      const untouched = owners.length > 0 && owners.every((r) => isDeepStrictEqual(previous.get(resourceKey(r)), r));
      if (!external.has(line) || !untouched) {
        blocking.push(e);
        continue;
      }
      for (const r of owners) {
        const key = resourceKey(r);
        const pin = pins.get(key);
        pins.set(key, { key, type: r.type, name: r.name, ...(r.type !== 'Mesh' ? { mesh: r.mesh } : {}), errors: [...(pin?.errors ?? []), line], since });
      }
    }
    return { pins, blocking };
  }

  /** The merged set with each pinned resource as the last good set has it. */
  private withLastGoodOf(merged: MergedResources, pins: ReadonlyMap<string, PinnedResource>): MergedResources {
    const previous = new Map((this.lastGood?.resources ?? []).map((r) => [resourceKey(r), r]));
    return { ...merged, resources: merged.resources.map((r) => (pins.has(resourceKey(r)) ? (previous.get(resourceKey(r)) ?? r) : r)) };
  }

  /** Logs a pin once (again only when its errors change), and its lifting. */
  private setPins(next: ReadonlyMap<string, PinnedResource>, served: MergedResources): void {
    const result = new Map<string, PinnedResource>();
    for (const [key, pin] of next) {
      const held = this.pins.get(key);
      result.set(key, held ? { ...pin, since: held.since } : pin);
      if (held && held.errors.join('\n') === pin.errors.join('\n')) continue;
      const label = `${pin.type}/${pin.name}${pin.mesh !== undefined ? ` in mesh "${pin.mesh}"` : ''}`;
      for (const line of pin.errors) this.log.error({ resource: key, pinned: true }, line);
      this.log.warn({ resource: key }, `${label} no longer validates although it did not change; it is pinned at its last good version (${pin.type === 'Mesh' ? 'its proxies keep the CA material last accepted' : 'it is served as last accepted'}) until it validates again; every other change keeps being served`);
    }
    const servedKeys = new Set(served.resources.map(resourceKey));
    for (const [key, held] of this.pins) {
      if (result.has(key)) continue;
      const label = `${held.type}/${held.name}${held.mesh !== undefined ? ` in mesh "${held.mesh}"` : ''}`;
      this.log.info({ resource: key }, servedKeys.has(key) ? `${label} validates again: its pin is lifted and its current version is served` : `${label} was removed: its pin is lifted`);
    }
    this.pins = result;
  }

  /** Logs each stored resource held or skipped once (again when its errors change), and when it is served as stored again. */
  private setQuarantined(next: ReadonlyMap<string, QuarantinedResource>): void {
    for (const [key, q] of next) {
      const known = this.quarantined.get(key);
      if (known && known.outcome === q.outcome && known.errors.join('\n') === q.errors.join('\n')) continue;
      for (const line of q.errors) this.log.error({ resource: key, stored: true }, line);
      const label = `${q.type}/${q.name}${q.mesh !== undefined ? ` in mesh "${q.mesh}"` : ''}`;
      this.log.warn(
        { resource: key },
        q.outcome === 'held'
          ? `the stored ${label} does not validate; its last good version keeps being served (fix it with \`meshcp apply\`); every other resource keeps being served`
          : `the stored ${label} does not validate and had no good version; it is skipped (fix it with \`meshcp apply\`, or delete it); every other resource keeps being served`,
      );
    }
    for (const [key, q] of this.quarantined) {
      if (!next.has(key)) this.log.info({ resource: key }, `the stored ${q.type}/${q.name} validates again (or was removed): it is served as stored`);
    }
    const since = this.now().toISOString();
    this.quarantineSince = new Map([...next.keys()].map((key) => [key, this.quarantineSince.get(key) ?? since]));
    this.quarantined = next;
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

/** The served set with ranks: config-file resources in file order, then stored ones by key. */
function rankedSet(served: MergedResources, fromFiles: readonly Resource[]): ResourceSet {
  const fileIndex = new Map(fromFiles.map((r, i) => [resourceKey(r), i]));
  return ResourceSet.fromRanked(
    served.resources.map((r) => {
      const key = resourceKey(r);
      const index = served.origins.get(key) === 'config' ? fileIndex.get(key) : undefined;
      return { resource: r, rank: index !== undefined ? fileRank(index) : storeRank(key) };
    }),
  );
}

/** `change` with the Mesh resources of `meshes` put again: their CA files' content changed (the objects did not). */
function withMaterialOf(change: ResourceChange, meshes: ReadonlySet<string>): ResourceChange {
  const puts = [...change.puts];
  const replaced = [...change.replaced];
  for (const mesh of meshes) {
    const resource = change.set.resourcesOf(mesh).find((r) => r.type === 'Mesh');
    if (!resource || puts.includes(resource)) continue;
    puts.push(resource);
    replaced.push(undefined);
  }
  return { ...change, puts, replaced, meshes: new Set([...change.meshes, ...meshes]) };
}

/** The same resources, object for object (a re-check that found nothing new). */
function sameResources(a: MergedResources | undefined, b: MergedResources): boolean {
  return a !== undefined && a.resources.length === b.resources.length && a.resources.every((r, i) => r === b.resources[i]);
}

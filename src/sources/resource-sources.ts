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
 *   now, blocks nothing: that resource is PINNED at its last good version (pins.ts; for a provided
 *   CA, the material last accepted: ca/providers/ca-files.ts) and the rest of the change is served.
 * CA files are watched (and polled), so a rotation or a fix on disk is picked up without any other
 * change. A store change or a config edit that keeps every resource in place is checked on what it
 * touches (set-checks.ts) and passed on as a change of the served set (served-set.ts).
 */
import { concat, defer, map, of, Subject, type Observable, type Subscription } from 'rxjs';
import { listChange, resetChange, type ResourceChange, type ResourceSet } from '../api/resource-set.js';
import { formatFieldError, type FieldError } from '../api/errors.js';
import { resourceKey, type Resource, type SecretResource } from '../api/types.js';
import { CaFileSnapshot, CaFileWatch, caFilesOf, RecordingReader, type CaFileReader } from '../ca/providers/ca-files.js';
import type { ChangeCheckResult } from './validate.js';
import { quarantineStored } from './stored-quarantine.js';
import { configFilesChanges, type ConfigFilesChange } from './config-files.js';
import type { CheckOptions, ConfigFiles, ResourceSourcesOptions, SourceCounters } from './source-types.js';
import { refKey, type ResourceRef, type Store, type StoredResource, type StoreEvent } from '../store/store.js';
import type { Logger } from '../log/logger.js';
import { mergeResources, type MergedResources } from './merged.js';
import { classifyErrors, HeldResources, withLastGoodOf, type PinnedResource } from './pins.js';
import { SetChecks, type ResourceCheck } from './set-checks.js';
import { SourceWarnings } from './source-warnings.js';
import { changeOfEntries, fileRank, listOfServed, rankedSet, sameResources, secretFingerprint, storeRank, withMaterialOf, type ChangeEntry } from './served-set.js';

// What its callers name in its signatures and counters, from the module they use.
export type { CheckOptions, ConfigFiles, ResourceSourcesOptions, SourceCounters } from './source-types.js';
export type { PinnedResource } from './pins.js';
export type { ResourceCheck } from './set-checks.js';

/**
 * Validity depends on time (an inline CA or a certificate expires) while `validateChange` checks
 * only what a change touches: the whole set is checked again on the first change a minute or more
 * after the last whole check (and on every CA file re-check, watched and polled).
 */
const FULL_CHECK_INTERVAL_MS = 60_000;

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
  private readonly warn: SourceWarnings;
  /** Pinned resources, and stored ones held or skipped. */
  private readonly held: HeldResources;
  private readonly setChecks: SetChecks;
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
    checks: readonly ResourceCheck[] = [],
    options: ResourceSourcesOptions = {},
  ) {
    this.caFileWatch = new CaFileWatch(() => this.recheck(), options.caFiles);
    this.held = new HeldResources(log, now);
    this.warn = new SourceWarnings(log);
    this.setChecks = new SetChecks(checks, options.warnings);
  }

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
    return this.held.pinned(this.store.problems?.().values() ?? []);
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
    return this.setChecks.wholeSet(merged.resources, now, (r) => changedFileSecret(r) || (options.alsoCheckSecret?.(r) ?? false), options.readFile);
  }

  private storeResources(): Resource[] {
    return this.store.current().map((s: StoredResource) => s.resource);
  }

  /** The served set as `mergeResources` lists it (files first, then stored resources by key), made once per served set when asked. */
  private get lastGood(): MergedResources | undefined {
    if (!this.lastGoodList && this.servedSet) this.lastGoodList = listOfServed(this.servedSet, this.fileKeys, this.stored);
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
    const result = this.setChecks.change(change, now, checkSecret, reads.read, true);
    if (result.errors.length > 0) {
      // Placed by the whole-set check (which resource, blocking or pinned).
      return false;
    }
    this.merges++;
    this.counters.incrementalChecks++;
    this.counters.resourcesChecked += result.checked;
    this.warn.ofChange(result.warnings);
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
    const entries: ChangeEntry[] = [];
    for (const [key, old] of before) {
      if (this.fileKeys.has(key)) return undefined;
      entries.push({ key, old, next: after(key), rank: storeRank(key) });
    }
    return this.changeOf(entries, now);
  }

  /** The change of the served set that replaces each entry's `old` with its `next` at its rank, when it may be checked alone (see `storeChange`). */
  private changeOf(entries: readonly ChangeEntry[], now: Date): ResourceChange | undefined {
    const served = this.servedSet;
    const sinceFullCheck = now.getTime() - this.lastFullCheck;
    if (!served || !this.servingDesired || sinceFullCheck < 0 || sinceFullCheck >= FULL_CHECK_INTERVAL_MS) return undefined;
    return changeOfEntries(served, entries);
  }

  /**
   * An API batch (puts, or a delete) checked on what it touches, as a store change
   * to the served set would be: the errors and warnings `validateChange` finds, or undefined when
   * the whole-set check must decide (something is rejected or pinned, a key belongs to a config
   * file, or the last whole check is a minute old). `checkSecret`: the batch's secrets (SPEC §1).
   */
  checkAlone(puts: readonly Resource[], deletes: readonly ResourceRef[], checkSecret: (r: SecretResource) => boolean): ChangeCheckResult | undefined {
    if (!this.started || this.setChecks.hasExtra) return undefined;
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
    return this.setChecks.change(change, now, checkSecret, new RecordingReader().read, false);
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
    this.warn.shadowed(desired.shadowed);
    // What the CA files hold is read once, for the check; what is accepted is what was checked.
    const reads = new RecordingReader();
    const evaluate = (candidate: MergedResources): { warnings: FieldError[]; pins: Map<string, PinnedResource>; blocking: FieldError[] } => {
      const { errors, warnings } = this.check(candidate, { readFile: reads.read });
      return { warnings, ...classifyErrors(candidate, errors, this.lastGood, (lastGood) => this.check(lastGood).errors, this.now) };
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
    this.warn.ofWholeSet(evaluation.warnings);
    const { pins, blocking } = evaluation;
    this.servingDesired = false;
    if (blocking.length > 0) {
      this.lastErrors = blocking.map(formatFieldError);
      for (const line of this.lastErrors) this.log.error(line);
      this.log.error({ errors: blocking.length }, this.lastGood ? 'resource change rejected; still serving the last good set' : 'resources rejected');
      // Nothing new is served: the pins held stay, and a resource newly broken from outside is pinned too.
      this.held.setPins(new Map([...this.held.pins, ...pins]), this.lastGood ?? merged);
      return;
    }
    const served = pins.size === 0 ? merged : withLastGoodOf(merged, pins, this.lastGood);
    const pinnedMeshes = new Set([...pins.values()].filter((p) => p.type === 'Mesh').map((p) => p.name));
    const meshes = served.resources.filter((r) => r.type === 'Mesh').map((r) => r.name);
    const materialChanged = this.caFiles.accept(meshes, reads, pinnedMeshes);
    this.held.setQuarantined(merged === desired ? new Map() : (quarantine?.quarantined ?? new Map()));
    const quarantineErrors = [...this.held.quarantined.values()].flatMap((q) => q.errors);
    const unchanged = options.quiet === true && !materialChanged && this.lastErrors.join('\n') === quarantineErrors.join('\n') && sameResources(this.lastGood, served);
    this.held.setPins(pins, served);
    this.lastErrors = quarantineErrors;
    this.lastGood = served;
    this.servingDesired = this.held.none;
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
}

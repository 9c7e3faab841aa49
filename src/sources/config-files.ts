/**
 * The last good set of resources from the `--config` paths. A change is loaded as a whole;
 * an invalid change is logged with every error and the last good config keeps being served.
 * Each reload is also emitted as a change (`changes`): what it put and deleted, compared with the
 * previous load resource by resource, so a file edit reaches the sources as the resources it
 * changed.
 */
import { isDeepStrictEqual } from 'node:util';
import { BehaviorSubject, map, scan, type Observable } from 'rxjs';
import { formatFieldError, singleLine } from '../api/errors.js';
import { loadConfigPaths, watchConfigPaths } from '../api/load-files.js';
import { resourceKey, type Resource } from '../api/types.js';
import type { Logger } from '../log/logger.js';

/** One load of the config files as a change of the previous load. */
export interface ConfigFilesChange {
  readonly resources: readonly Resource[];
  /** Resources that are new or whose content changed. */
  readonly puts: readonly Resource[];
  /** For each of `puts`, the version it replaced (undefined: new). */
  readonly replaced: readonly (Resource | undefined)[];
  readonly deletes: readonly Resource[];
  /** The same keys in the same order as the previous load: every resource keeps its place (its rank in the merged set). */
  readonly sameOrder: boolean;
}

/** `next` compared with `previous` (undefined: the first load), key by key; equal content is not a put. */
export function configFilesChange(previous: readonly Resource[] | undefined, next: readonly Resource[]): ConfigFilesChange {
  const before = new Map((previous ?? []).map((r) => [resourceKey(r), r]));
  const puts: Resource[] = [];
  const replaced: (Resource | undefined)[] = [];
  const sameOrder = previous !== undefined && previous.length === next.length && next.every((r, i) => resourceKey(r) === resourceKey(previous[i]!));
  for (const r of next) {
    const key = resourceKey(r);
    const old = before.get(key);
    before.delete(key);
    if (old !== undefined && (old === r || isDeepStrictEqual(old, r))) continue;
    puts.push(r);
    replaced.push(old);
  }
  return { resources: next, puts, replaced, deletes: [...before.values()], sameOrder };
}

/** Whole lists as the changes between them (the first compared with nothing). */
export function configFilesChanges(lists: Observable<readonly Resource[]>): Observable<ConfigFilesChange> {
  return lists.pipe(
    scan((last: ConfigFilesChange | undefined, list: readonly Resource[]) => configFilesChange(last?.resources, list), undefined),
    map((change) => change as ConfigFilesChange),
  );
}

export class FileConfigSource {
  private readonly subject = new BehaviorSubject<readonly Resource[]>([]);
  private watcher?: { close(): void };
  private loading: Promise<void> = Promise.resolve();
  /** Incremented after each load attempt (good or bad); tests wait on it. */
  loads = 0;
  lastErrors: string[] = [];

  constructor(
    readonly paths: readonly string[],
    private readonly log: Logger,
  ) {}

  get resources(): Observable<readonly Resource[]> {
    return this.subject.asObservable();
  }

  /** Each load as a change of the previous one. */
  get changes(): Observable<ConfigFilesChange> {
    return configFilesChanges(this.resources);
  }

  current(): readonly Resource[] {
    return this.subject.value;
  }

  /** Loads once; rejects when the initial config is invalid. */
  async start(options: { watch: boolean } = { watch: true }): Promise<void> {
    const ok = await this.reload();
    if (!ok) throw new Error(`invalid configuration:\n${this.lastErrors.join('\n')}`);
    if (options.watch && this.paths.length > 0) {
      this.watcher = watchConfigPaths([...this.paths], () => {
        // A reload that throws must not become an unhandled rejection (it would end the process):
        // the last good configuration keeps being served, as for any rejected change.
        this.loading = this.loading.then(() =>
          this.reload().then(
            () => undefined,
            (err: unknown) => this.log.error({ error: singleLine(err instanceof Error ? err.message : String(err)) }, 'configuration reload failed; still serving the last good configuration'),
          ),
        );
      });
    }
  }

  stop(): void {
    this.watcher?.close();
  }

  async reload(): Promise<boolean> {
    if (this.paths.length === 0) {
      this.loads++;
      return true;
    }
    const result = await loadConfigPaths([...this.paths]);
    this.loads++;
    for (const warning of result.warnings) this.log.warn(formatFieldError(warning));
    if (!result.ok) {
      this.lastErrors = result.errors.map(formatFieldError);
      for (const line of this.lastErrors) this.log.error(line);
      this.log.error({ errors: result.errors.length }, 'configuration change rejected; still serving the last good configuration');
      return false;
    }
    this.lastErrors = [];
    this.subject.next(result.value);
    this.log.info({ resources: result.value.length }, 'configuration loaded');
    return true;
  }
}

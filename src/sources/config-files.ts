/**
 * The last good set of resources from the `--config` paths. A change is loaded as a whole;
 * an invalid change is logged with every error and the last good config keeps being served.
 */
import { BehaviorSubject, type Observable } from 'rxjs';
import { formatFieldError, singleLine } from '../api/errors.js';
import { loadConfigPaths, watchConfigPaths } from '../api/load-files.js';
import type { Resource } from '../api/types.js';
import type { Logger } from '../log/logger.js';

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

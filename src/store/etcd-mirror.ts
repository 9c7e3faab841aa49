/**
 * The in-memory copy of the etcd store's resources, fed by a watch on the resources prefix: one
 * emission per etcd revision batch (a transaction's events arrive in one watch response), so a
 * batch becomes visible together. When etcd is unreachable the copy stays as it was (the last good
 * config keeps being served); when it returns the watch resumes from the last revision seen, or
 * lists everything again when that history has been compacted (etcd answers a watch on a
 * compacted revision with a cancel, https://etcd.io/docs/v3.4/learning/api/#watch-streams).
 *
 * A record that does not decode never stops a replica: it is skipped, or held at its last good
 * version, logged once, and listed by `problems`.
 */
import type { Etcd3, IWatchResponse, Watcher } from 'etcd3';
import type { Logger } from '../log/logger.js';
import { oneLine, pause, type EtcdCalls } from './etcd-call.js';
import type { Entry, Listing, RecordCodec } from './etcd-records.js';
import { refKey, refOf, type ResourceRef, type StoreEvent, type StoredResource, type StoreProblem } from './store.js';

export class ResourceMirror {
  readonly entries = new Map<string, Entry>();
  /** Records that do not decode (by etcd key): reported once each, and on the resource they would be. */
  readonly problems = new Map<string, StoreProblem>();
  /** Highest revision of an event (or listing) applied to `entries`. */
  seenRevision = 0;
  /** Why the watch is disconnected, while it is. */
  watchDown: string | undefined;
  private watcher: Watcher | undefined;
  private readonly revisionWaiters = new Set<{ readonly revision: number; readonly resolve: () => void }>();
  private resyncing = false;
  private closed = false;
  /** Records being sealed in place (etcd key → the mod_revision read), so one is written once. */
  private readonly sealing = new Map<string, number>();

  constructor(
    private readonly client: Etcd3,
    private readonly codec: RecordCodec,
    private readonly calls: EtcdCalls,
    private readonly emit: (event: StoreEvent) => void,
    private readonly options: { readonly log?: Logger; readonly callTimeoutMs?: number },
  ) {}

  private get name(): string {
    return this.calls.name;
  }

  /** Replaces the copy with a listing and watches from the revision after it. */
  start(listing: Listing): void {
    this.replaceAll(listing);
    this.startWatch(listing.revision + 1);
  }

  sorted(): readonly StoredResource[] {
    return [...this.entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v.stored);
  }

  /** Resolves once the copy holds `revision` (read-your-writes), or after the call timeout: the write is committed either way. */
  caughtUp(revision: number): Promise<void> {
    if (this.seenRevision >= revision || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = { revision, resolve: () => resolve() };
      this.revisionWaiters.add(waiter);
      setTimeout(() => {
        if (this.revisionWaiters.delete(waiter)) resolve();
      }, this.options.callTimeoutMs ?? 5000).unref();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const watcher = this.watcher;
    this.watcher = undefined;
    for (const waiter of this.revisionWaiters) waiter.resolve();
    this.revisionWaiters.clear();
    if (watcher) {
      // Cancelling needs etcd; when it is gone, closing the client ends the stream anyway.
      await Promise.race([watcher.cancel().catch(() => undefined), pause(1000)]);
    }
  }

  private startWatch(fromRevision: number): void {
    const watcher = this.client.watch().prefix(this.codec.resourcesPrefix).startRevision(String(fromRevision)).watcher();
    this.watcher = watcher;
    watcher.on('data', (response: IWatchResponse) => this.onWatchData(watcher, response));
    watcher.on('connected', () => {
      if (watcher !== this.watcher) return;
      if (this.watchDown !== undefined) this.options.log?.info({ store: this.name, revision: this.seenRevision }, 'store reachable again; catching up from the last revision seen');
      this.watchDown = undefined;
      this.calls.down = undefined;
    });
    watcher.on('disconnected', (err: Error) => {
      if (watcher !== this.watcher || this.closed) return;
      if (this.watchDown === undefined) this.options.log?.warn({ store: this.name, reason: oneLine(err) }, 'store unreachable; serving the last good configuration, writes fail until it returns');
      this.watchDown = oneLine(err);
      // etcd3 resumes from the revision of the last message, which may be a "created" header past
      // events not yet delivered; resume after the last event actually applied instead.
      watcher.request.start_revision = String(this.seenRevision + 1);
    });
    watcher.on('error', (err: Error) => {
      if (watcher !== this.watcher || this.closed) return;
      void this.resync(oneLine(err));
    });
  }

  private onWatchData(watcher: Watcher, response: IWatchResponse): void {
    if (watcher !== this.watcher || this.closed) return;
    const puts = new Map<string, StoredResource>();
    const deletes = new Map<string, ResourceRef>();
    // Events up to what a listing already covered are skipped; one transaction's events share a revision.
    const covered = this.seenRevision;
    for (const event of response.events) {
      const key = event.kv.key.toString('utf8');
      const revision = Number(event.kv.mod_revision);
      if (revision <= covered) continue;
      if (event.type === 'Delete') {
        this.problems.delete(key);
        const gone = this.entries.get(key);
        if (gone) {
          this.entries.delete(key);
          puts.delete(key);
          deletes.set(key, refOf(gone.stored.resource));
        }
      } else {
        try {
          const entry = this.codec.decode(key, event.kv);
          this.entries.set(key, entry);
          this.recordReadable(key, entry);
          deletes.delete(key);
          puts.set(key, entry.stored);
        } catch (err) {
          // Keep the previous value: an unreadable record must not take a served resource away.
          this.recordProblem(key, oneLine(err));
        }
      }
      this.seenRevision = Math.max(this.seenRevision, revision);
    }
    if (puts.size > 0 || deletes.size > 0) this.emit({ puts: [...puts.values()], deletes: [...deletes.values()] });
    this.releaseWaiters();
  }

  /** The watch was cancelled (compacted history, or another refusal): list everything again and watch from there. */
  private async resync(reason: string): Promise<void> {
    if (this.resyncing || this.closed) return;
    this.resyncing = true;
    this.options.log?.warn({ store: this.name, reason }, 'store watch lost (e.g. its history was compacted); listing the store again');
    // etcd already cancelled that watch (that is what 'error' reports): nothing to cancel here,
    // and etcd3's cancel() would wait for an acknowledgement that never comes.
    this.watcher?.removeAllListeners();
    this.watcher = undefined;
    let delay = 100;
    while (!this.closed) {
      try {
        const listing = await this.calls.call('listing the resources', () => this.codec.list(this.client));
        this.start(listing);
        this.watchDown = undefined;
        break;
      } catch (err) {
        this.watchDown = oneLine(err);
        await pause(delay);
        delay = Math.min(delay * 2, 2000);
      }
    }
    this.resyncing = false;
  }

  private replaceAll(listing: Listing): void {
    const next = new Map(listing.entries);
    const problemKeys = new Set(listing.problems.map((p) => p.key));
    for (const key of this.problems.keys()) if (!problemKeys.has(key)) this.problems.delete(key);
    // A record that became unreadable keeps its last good value (same rule as a watch event).
    for (const { key, reason } of listing.problems) {
      const previous = this.entries.get(key);
      if (previous) next.set(key, previous);
      this.recordProblem(key, reason);
    }
    for (const [key, entry] of listing.entries) this.recordReadable(key, entry);
    this.entries.clear();
    for (const [k, v] of next) this.entries.set(k, v);
    this.seenRevision = Math.max(this.seenRevision, listing.revision);
    this.emit({ puts: [], deletes: [], reset: [...this.entries.values()].map((e) => e.stored) });
    this.releaseWaiters();
  }

  private releaseWaiters(): void {
    for (const waiter of this.revisionWaiters) {
      if (waiter.revision <= this.seenRevision) {
        this.revisionWaiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /** A record that does not decode: logged once (again only when the reason changes), kept for `problems`. */
  private recordProblem(key: string, reason: string): void {
    const known = this.problems.get(key);
    if (known?.reason === reason) return;
    const ref = this.codec.refOfKey(key);
    const held = this.entries.has(key);
    this.problems.set(key, { key: ref ? refKey(ref) : key, ...(ref ? { ref } : {}), reason, since: known?.since ?? new Date().toISOString(), held });
    this.options.log?.error(
      { store: this.name, record: key, reason },
      held ? 'a stored record does not validate; its last good version keeps being served' : 'a stored record does not validate; it is skipped (rewrite it with `meshcp apply`, or delete the key)',
    );
  }

  /** A record that decodes: its problem (if any) is gone, and a private key found in clear is sealed in place. */
  private recordReadable(key: string, entry: Entry): void {
    if (this.problems.delete(key)) this.options.log?.info({ store: this.name, record: key }, 'a stored record validates again');
    if (entry.inClear && this.sealing.get(key) !== entry.modRevision) {
      this.sealing.set(key, entry.modRevision);
      void this.sealInClearKeys(key, entry);
    }
  }

  /**
   * Rewrites a record whose private keys were stored in clear (by an earlier meshcp, which kept a
   * provided CA's inline key so, or by hand) with every key sealed, content unchanged. Only if the
   * record is still the one read (compare mod_revision): of several replicas doing this, one writes.
   */
  private async sealInClearKeys(key: string, entry: Entry): Promise<void> {
    try {
      const result = await this.client.if(key, 'Mod', '==', String(entry.modRevision)).then(this.client.put(key).value(this.codec.encode(key, entry.stored))).commit();
      if (result.succeeded) this.options.log?.warn({ store: this.name, record: key, fields: entry.inClear }, 'a private key was stored in clear; sealed it in place with the store encryption key');
    } catch (err) {
      this.options.log?.warn({ store: this.name, record: key, reason: oneLine(err) }, 'a private key is stored in clear and could not be sealed yet; it is sealed on its next write');
    } finally {
      if (this.sealing.get(key) === entry.modRevision) this.sealing.delete(key);
    }
  }
}

/**
 * The store for several replicas (SPEC §5 "etcd"), through the `etcd3` client.
 *
 *   <prefix>resources/<Kind>/<mesh>/<name>   one JSON record per resource (Mesh: resources/Mesh/<name>)
 *   <prefix>blobs/<name>                     internal material (CA keys, signing key), sealed
 *   <prefix>status/<replica>/<mesh>/<proxy>  proxy status a replica publishes under its lease
 *
 * The prefix is `/meshcp/` unless the URL has a path (`etcd://h:2379/team-a` → `/team-a/`).
 *
 * Writes are etcd transactions: a batch compares every key's mod_revision with the one read and
 * writes all or nothing, so concurrent `apply` through different replicas never half-apply and
 * never lose a document; a caller's `expectedRevision` turns that into optimistic concurrency for
 * read-modify-write. One-time material uses create-if-absent (compare create_revision == 0).
 *
 * Reads come from an in-memory copy fed by a watch on the resources prefix: one emission per
 * etcd revision batch (a transaction's events arrive in one watch response), so a batch becomes
 * visible together. When etcd is unreachable the copy stays as it was (the last good config keeps
 * being served) and writes fail with an error naming the store; when it returns the watch resumes
 * from the last revision seen, or lists everything again when that history has been compacted
 * (etcd answers a watch on a compacted revision with a cancel, https://etcd.io/docs/v3.4/learning/api/#watch-streams).
 *
 * Secrets at rest: every blob and every private key inside a resource document (a Secret's `key`,
 * a provided CA's `conf.key.inline`: private-keys.ts) are sealed with AES-256-GCM (secret-box.ts)
 * under a key that is not in etcd. A key found in clear (an earlier meshcp kept a provided CA's
 * inline key so) is read and sealed in place. The rest (resource documents, certificates) is
 * readable by whoever can read etcd.
 *
 * A record that does not decode or validate (written by hand, or by an older meshcp) never stops
 * a replica: it is skipped, or held at its last good version, logged once, and listed by
 * `problems()`. Stored documents hold content: a file reference in one is refused, never read.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import { BehaviorSubject, Observable } from 'rxjs';
import type { Etcd3, IKeyValue, IWatchResponse, Lease, Watcher } from 'etcd3';
import { createEtcdClient, parseEtcdUrl, type EtcdLocation, type EtcdTls } from './etcd-client.js';
import { RESOURCE_KINDS, type Resource, type ResourceKind } from '../api/types.js';
import type { Logger } from '../log/logger.js';
import { documentToResource, resourceToDocument, sameContent } from './document.js';
import { mapPrivateKeys } from './private-keys.js';
import { CONFLICT_ATTEMPTS, conflictBackoffMs, sleep } from './retry.js';
import { SecretBox, WrongStoreKeyError } from './secret-box.js';
import {
  applyOne,
  checkBlobName,
  refKey,
  refOf,
  FeedStore,
  StoreConflictError,
  StoreUnavailableError,
  type AppliedChange,
  type PutBlobOptions,
  type ResourceRef,
  type Store,
  type StoreChange,
  type StoredResource,
  type StoreProblem,
} from './store.js';

const RECORD_FORMAT = 1;
/** Reads of a batch go in transactions of this many ranges, under etcd's default --max-txn-ops (128). */
const READ_CHUNK = 64;
const MAX_APPLY_ATTEMPTS = CONFLICT_ATTEMPTS;

export { parseEtcdUrl, type EtcdLocation, type EtcdTls } from './etcd-client.js';

export interface EtcdStoreOptions {
  /** AES-256 key sealing private keys (`--store-encryption-key-file`). */
  readonly encryptionKey: Buffer;
  readonly tls?: EtcdTls;
  readonly log?: Logger;
  readonly now?: () => Date;
  /** Deadline of each etcd call, so a write fails fast when etcd is unreachable. Default 5000. */
  readonly callTimeoutMs?: number;
  /** TTL of the lease a replica publishes proxy status under: how long a dead replica's proxies stay Online elsewhere. Default 10. */
  readonly statusLeaseSeconds?: number;
  /** How often etcd is probed, so /readyz says a replica is cut off even while nothing writes. Default 2000. */
  readonly probeIntervalMs?: number;
}

interface Entry {
  readonly stored: StoredResource;
  readonly modRevision: number;
  /** Private key fields found in clear, to be sealed in place. */
  readonly inClear?: readonly string[];
}

interface Listing {
  readonly entries: Map<string, Entry>;
  readonly revision: number;
  readonly problems: readonly { readonly key: string; readonly reason: string; readonly wrongKey: boolean }[];
  /** Sealed values the store key opened. */
  readonly opened: number;
}

/**
 * The additional authenticated data of a sealed key: the etcd key, plus the field for keys other
 * than a Secret's `key` (sealed with the etcd key alone since the first format), so a sealed value
 * moved to another record or field does not open.
 */
function sealContext(key: string, field: string): string {
  return field === 'key' ? key : `${key}#${field}`;
}

function isResourceKind(value: string | undefined): value is ResourceKind {
  return RESOURCE_KINDS.some((k) => k === value);
}

function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]?.trim() ?? '';
}

/** Errors meaning "cannot reach etcd right now" rather than "etcd refused this". */
function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return ['GRPCUnavailableError', 'GRPCDeadlineExceededError', 'BrokenCircuitError', 'GRPCCancelledError', 'ClientClosedError', 'TaskCancelledError'].includes(err.constructor.name) || /unavailable|deadline|ECONNREFUSED|No connection established/i.test(err.message);
}

export class EtcdStore extends FeedStore implements Store {
  private readonly box: SecretBox;
  private readonly resourcesPrefix: string;
  private readonly blobsPrefix: string;
  private watcher: Watcher | undefined;
  /** Highest revision of an event (or listing) applied to `entries`. */
  private seenRevision = 0;
  private readonly revisionWaiters = new Set<{ readonly revision: number; readonly resolve: () => void }>();
  private watchDown: string | undefined;
  private callDown: string | undefined;
  private resyncing = false;
  private closed = false;
  /** Names this process among the replicas (the status keys it publishes). */
  readonly replicaId = `${os.hostname()}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  private readonly statusPrefix: string;
  private lease: Lease | undefined;
  /** What this replica published (relative status key → value), re-published under a new lease after the old one was lost. */
  private readonly published = new Map<string, string>();
  private republishNeeded = false;
  private republishTimer: NodeJS.Timeout | undefined;
  private readonly statusSubject = new BehaviorSubject<ReadonlyMap<string, string>>(new Map());
  private statusWatcher: Watcher | undefined;
  private statusWatchStarted = false;
  /** Records that do not decode (by etcd key): reported once each, and on the resource they would be. */
  private readonly problemRecords = new Map<string, StoreProblem>();
  private probeTimer: NodeJS.Timeout | undefined;
  /** Blob watches to stop on close. */
  private readonly blobWatchStops = new Set<() => void>();
  /** Sealed values opened so far (a listing compares before and after). */
  private sealedOpened = 0;
  /** Records being sealed in place (etcd key → the mod_revision read), so one is written once. */
  private readonly sealing = new Map<string, number>();

  private constructor(
    private readonly location: EtcdLocation,
    private readonly client: Etcd3,
    private readonly entries: Map<string, Entry>,
    private readonly options: EtcdStoreOptions,
  ) {
    super();
    this.box = new SecretBox(options.encryptionKey);
    this.resourcesPrefix = `${location.prefix}resources/`;
    this.blobsPrefix = `${location.prefix}blobs/`;
    this.statusPrefix = `${location.prefix}status/`;
  }

  /** Connects, lists every resource and starts watching; rejects (naming the store) when etcd is unreachable. */
  static async open(url: string, options: EtcdStoreOptions): Promise<EtcdStore> {
    const location = parseEtcdUrl(url);
    const client = createEtcdClient(location, options);
    const store = new EtcdStore(location, client, new Map(), options);
    try {
      const listing = await store.call('listing the resources', () => store.list());
      // An unreadable record is reported and skipped: it must not stop this replica (or any other)
      // from starting. A store key that opens nothing while sealed values exist is this replica's
      // flag being wrong, not a bad record: that is refused, or every secret would go missing.
      const wrongKey = listing.problems.find((p) => p.wrongKey);
      if (wrongKey && listing.opened === 0 && !(await store.opensAnyBlob())) throw new Error(`${location.name}: cannot load the store: ${wrongKey.key}: ${wrongKey.reason}`);
      store.replaceAll(listing);
      store.startWatch(listing.revision + 1);
      store.startProbe();
    } catch (err) {
      store.closed = true;
      client.close();
      throw err;
    }
    options.log?.info({ store: location.name, resources: store.entries.size, revision: store.seenRevision }, 'store opened');
    return store;
  }

  /** How errors and logs name this store, e.g. `etcd://127.0.0.1:2379`. */
  get name(): string {
    return this.location.name;
  }

  async get(ref: ResourceRef): Promise<StoredResource | undefined> {
    return this.entries.get(this.resourceKey(ref))?.stored;
  }

  put(resource: Resource): Promise<AppliedChange> {
    return applyOne(this, { op: 'put', resource });
  }

  delete(ref: ResourceRef): Promise<AppliedChange> {
    return applyOne(this, { op: 'delete', ref });
  }

  async apply(changes: readonly StoreChange[]): Promise<AppliedChange[]> {
    this.checkOpen();
    const keyed = changes.map((change) => {
      const ref = change.op === 'put' ? refOf(change.resource) : change.ref;
      return { change, ref, key: this.resourceKey(ref) };
    });
    const seen = new Set<string>();
    for (const { ref, key } of keyed) {
      if (seen.has(key)) throw new Error(`${refKey(ref)} appears twice in one batch`);
      seen.add(key);
    }
    if (keyed.length === 0) return [];
    for (let attempt = 1; ; attempt++) {
      const current = await this.call('reading before a write', () => this.readKeys(keyed.map((k) => k.key)));
      const now = (this.options.now?.() ?? new Date()).toISOString();
      const outcomes: AppliedChange[] = [];
      const compares: [string, string][] = [];
      const writes: { key: string; value?: string }[] = [];
      for (const { change, ref, key } of keyed) {
        const kv = current.get(key);
        const revision = kv?.mod_revision ?? '0';
        if (change.expectedRevision !== undefined && change.expectedRevision !== revision) {
          // Let this replica's view catch up to the record first (its watch event carries that
          // mod_revision), so the caller's next read sees what it lost to.
          if (kv) await this.caughtUp(Number(kv.mod_revision));
          throw new StoreConflictError(
            `${this.name}: ${refKey(ref)} changed since it was read (expected revision ${change.expectedRevision}, now ${revision === '0' ? 'absent' : revision}); read it again and retry`,
            ref,
          );
        }
        compares.push([key, revision]);
        if (change.op === 'delete') {
          outcomes.push({ ref, outcome: kv ? 'deleted' : 'absent' });
          if (kv) writes.push({ key });
          continue;
        }
        // A record that no longer decodes (e.g. sealed with another key) is simply replaced.
        const existing = kv ? this.tryDecode(key, kv) : undefined;
        if (existing && sameContent(existing.stored.resource, change.resource)) {
          outcomes.push({ ref, outcome: 'unchanged' });
          continue;
        }
        const stored: StoredResource = { resource: change.resource, creationTime: existing?.stored.creationTime ?? now, modificationTime: now };
        writes.push({ key, value: this.encode(key, stored) });
        outcomes.push({ ref, outcome: kv ? 'updated' : 'created' });
      }
      if (writes.length === 0) return outcomes;
      const result = await this.call('writing', () => {
        const [first, ...rest] = compares;
        if (!first) throw new Error('internal: empty batch');
        const txn = this.client.if(first[0], 'Mod', '==', first[1]);
        for (const [key, revision] of rest) txn.and(key, 'Mod', '==', revision);
        return txn.then(...writes.map((w) => (w.value === undefined ? this.client.delete().key(w.key) : this.client.put(w.key).value(w.value)))).commit();
      });
      if (result.succeeded) {
        // Read-your-writes: the caller (e.g. the admin API answering `apply`) sees its change in current().
        await this.caughtUp(Number(result.header.revision));
        return outcomes;
      }
      // Another replica wrote one of these keys between our read and our write: read again, after
      // a short jittered pause so racing writers spread out (store/retry.ts).
      if (attempt >= MAX_APPLY_ATTEMPTS) {
        throw new StoreConflictError(
          `${this.name}: ${keyed.map((k) => refKey(k.ref)).slice(0, 3).join(', ')}${keyed.length > 3 ? ', …' : ''} kept changing under this write: ${attempt} attempts each lost the race to a concurrent write of the same resources; nothing was written, retry it`,
          keyed[0]!.ref,
        );
      }
      await sleep(conflictBackoffMs(attempt));
    }
  }

  async putBlob(name: string, data: string | Uint8Array, options: PutBlobOptions = {}): Promise<boolean> {
    checkBlobName(name);
    this.checkOpen();
    const key = this.blobsPrefix + name;
    const value = this.box.seal(Buffer.from(data), key);
    if (!options.ifAbsent) {
      await this.call(`writing blob ${name}`, () => this.client.put(key).value(value).exec());
      return true;
    }
    // create_revision is 0 only for a key that does not exist: exactly one of racing replicas wins.
    const result = await this.call(`creating blob ${name}`, () => this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(value)).commit());
    return result.succeeded;
  }

  async getBlob(name: string): Promise<Buffer | undefined> {
    checkBlobName(name);
    this.checkOpen();
    const key = this.blobsPrefix + name;
    const value = await this.call(`reading blob ${name}`, () => this.client.get(key).string());
    return value === null ? undefined : this.box.open(value, key);
  }

  async deleteBlob(name: string): Promise<boolean> {
    checkBlobName(name);
    this.checkOpen();
    const result = await this.call(`deleting blob ${name}`, () => this.client.delete().key(this.blobsPrefix + name).exec());
    return Number(result.deleted) > 0;
  }

  async listBlobs(prefix: string): Promise<string[]> {
    const folder = prefix.replace(/\/+$/, '');
    checkBlobName(folder);
    this.checkOpen();
    const keys = await this.call(`listing blobs ${folder}/`, () => this.client.getAll().prefix(`${this.blobsPrefix}${folder}/`).keys());
    return keys.map((k) => k.slice(this.blobsPrefix.length)).sort();
  }

  /**
   * An etcd watch on the blobs under `prefix`, one per subscription: emits on every change by any
   * replica, and once each time the watch (re)connects, so a reader that missed changes while etcd
   * was unreachable lists again.
   */
  blobChanges(prefix: string): Observable<void> {
    const folder = prefix.replace(/\/+$/, '');
    checkBlobName(folder);
    return new Observable<void>((subscriber) => {
      if (this.closed) {
        subscriber.complete();
        return undefined;
      }
      let watcher: Watcher | undefined;
      let cancelled = false;
      const start = (): void => {
        const w = this.client.watch().prefix(`${this.blobsPrefix}${folder}/`).watcher();
        watcher = w;
        w.on('data', () => subscriber.next());
        w.on('connected', () => subscriber.next());
        // A cancelled watch (compaction): start a new one, which lists nothing missed by itself; the reader lists on its 'connected'.
        w.on('error', () => {
          w.removeAllListeners();
          if (!cancelled && !this.closed) start();
        });
      };
      start();
      const stop = (): void => {
        cancelled = true;
        const w = watcher;
        w?.removeAllListeners();
        void w?.cancel().catch(() => undefined);
      };
      this.blobWatchStops.add(stop);
      return () => {
        this.blobWatchStops.delete(stop);
        stop();
      };
    });
  }

  problems(): ReadonlyMap<string, StoreProblem> {
    return this.problemRecords;
  }

  unavailable(): string | undefined {
    const reason = this.callDown ?? this.watchDown;
    return reason === undefined ? undefined : `${this.name}: unavailable (${reason})`;
  }

  /**
   * Publishes (or with `undefined` removes) one status record of this replica under its lease:
   * when the replica dies, etcd drops its records once the lease expires. Best
   * effort: while etcd is unreachable the records are re-published when it returns.
   */
  async publishStatus(key: string, value: string | undefined): Promise<void> {
    if (this.closed) return;
    if (value === undefined) this.published.delete(key);
    else this.published.set(key, value);
    if (this.republishNeeded) return;
    try {
      if (value === undefined) await this.client.delete().key(this.statusKey(key)).exec();
      else await this.currentLease().put(this.statusKey(key)).value(value).exec();
    } catch (err) {
      this.statusLost(oneLine(err));
    }
  }

  /** Every replica's status records (`<replica>/<…key>` → value), kept current by a watch. */
  statusRecords(): Observable<ReadonlyMap<string, string>> {
    if (!this.statusWatchStarted && !this.closed) {
      this.statusWatchStarted = true;
      void this.relistStatus();
    }
    return this.statusSubject.asObservable();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.probeTimer) clearInterval(this.probeTimer);
    for (const stop of this.blobWatchStops) stop();
    this.blobWatchStops.clear();
    if (this.republishTimer) clearInterval(this.republishTimer);
    this.statusWatcher?.removeAllListeners();
    void this.statusWatcher?.cancel().catch(() => undefined);
    this.statusSubject.complete();
    // A replica that stops cleanly takes its proxies' status with it at once.
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await Promise.race([lease.revoke().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    const watcher = this.watcher;
    this.watcher = undefined;
    for (const waiter of this.revisionWaiters) waiter.resolve();
    this.revisionWaiters.clear();
    if (watcher) {
      // Cancelling needs etcd; when it is gone, closing the client ends the stream anyway.
      await Promise.race([watcher.cancel().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    }
    this.client.close();
    this.feed.complete();
  }

  /**
   * A silent partition (a cut link drops packets; no reset arrives) leaves the watch stream open
   * and quiet: only a call with a deadline notices it. A read every probe interval keeps
   * `unavailable()` (/readyz) true to what etcd answers now, and says when it changes.
   */
  private startProbe(): void {
    const interval = this.options.probeIntervalMs ?? 2000;
    let probing = false;
    this.probeTimer = setInterval(() => {
      if (probing || this.closed) return;
      probing = true;
      const wasDown = this.callDown !== undefined;
      this.call('probing the store', () => this.client.get(`${this.location.prefix}probe`).exec())
        .then(
          () => {
            if (wasDown) this.options.log?.info({ store: this.name }, 'store reachable again');
          },
          (err: unknown) => {
            if (!wasDown && !this.closed) this.options.log?.warn({ store: this.name, reason: oneLine(err) }, 'store unreachable; serving the last good configuration, writes fail until it returns');
          },
        )
        .finally(() => {
          probing = false;
        });
    }, interval);
    this.probeTimer.unref();
  }

  private statusKey(key: string): string {
    return `${this.statusPrefix}${this.replicaId}/${key}`;
  }

  private currentLease(): Lease {
    if (!this.lease) {
      const lease = this.client.lease(this.options.statusLeaseSeconds ?? 10);
      lease.on('lost', (err: Error) => {
        if (lease === this.lease) this.statusLost(oneLine(err));
      });
      this.lease = lease;
    }
    return this.lease;
  }

  /** The lease is gone or a write failed: drop it, and re-publish everything under a new one when etcd answers. */
  private statusLost(reason: string): void {
    if (this.closed) return;
    this.options.log?.debug({ store: this.name, reason }, 'proxy status not published; retrying');
    this.lease?.release();
    this.lease = undefined;
    this.republishNeeded = true;
    if (this.republishTimer) return;
    const period = Math.max(500, ((this.options.statusLeaseSeconds ?? 10) * 1000) / 4);
    this.republishTimer = setInterval(() => void this.republishAll(), period);
    this.republishTimer.unref();
  }

  private async republishAll(): Promise<void> {
    if (this.closed || !this.republishNeeded) return;
    try {
      const lease = this.currentLease();
      for (const [key, value] of this.published) await lease.put(this.statusKey(key)).value(value).exec();
      this.republishNeeded = false;
      if (this.republishTimer) clearInterval(this.republishTimer);
      this.republishTimer = undefined;
    } catch (err) {
      this.lease?.release();
      this.lease = undefined;
      this.options.log?.debug({ store: this.name, reason: oneLine(err) }, 'proxy status not re-published yet');
    }
  }

  /** Lists every status record, then watches them; a cancelled watch (compaction) lists again. */
  private async relistStatus(): Promise<void> {
    let delay = 100;
    while (!this.closed) {
      try {
        const response = await this.client.getAll().prefix(this.statusPrefix).exec();
        const records = new Map<string, string>();
        for (const kv of response.kvs) records.set(kv.key.toString('utf8').slice(this.statusPrefix.length), kv.value.toString('utf8'));
        this.statusSubject.next(records);
        const watcher = this.client.watch().prefix(this.statusPrefix).startRevision(String(Number(response.header.revision) + 1)).watcher();
        this.statusWatcher = watcher;
        watcher.on('data', (res: IWatchResponse) => {
          if (watcher !== this.statusWatcher || this.closed) return;
          const next = new Map(this.statusSubject.value);
          for (const event of res.events) {
            const key = event.kv.key.toString('utf8').slice(this.statusPrefix.length);
            if (event.type === 'Delete') next.delete(key);
            else next.set(key, event.kv.value.toString('utf8'));
          }
          this.statusSubject.next(next);
        });
        watcher.on('error', () => {
          if (watcher !== this.statusWatcher || this.closed) return;
          watcher.removeAllListeners();
          this.statusWatcher = undefined;
          void this.relistStatus();
        });
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  private resourceKey(ref: ResourceRef): string {
    return this.resourcesPrefix + refKey(ref);
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`${this.name}: store is closed`);
  }

  /** Runs one etcd call; failures become one-line errors naming the store, so an operator sees at once which store failed and why. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      this.callDown = undefined;
      return result;
    } catch (err) {
      if (err instanceof StoreConflictError) throw err;
      if (isUnavailable(err)) {
        this.callDown = oneLine(err);
        const advice = /^(reading blob|listing)/.test(what) ? 'check that etcd is running and reachable with the --store-* TLS files' : 'nothing was written, retry when etcd is reachable';
        throw new StoreUnavailableError(`${this.name}: unavailable: ${what} failed (${oneLine(err)}); ${advice}`);
      }
      if (/too many operations in txn/i.test(oneLine(err))) {
        throw new Error(`${this.name}: ${what} failed: the batch is larger than etcd's --max-txn-ops; raise it on etcd (e.g. --max-txn-ops 10000) or apply in smaller batches`);
      }
      if (/request is too large/i.test(oneLine(err))) {
        throw new Error(`${this.name}: ${what} failed: the batch is larger than etcd's --max-request-bytes; raise it on etcd or apply in smaller batches`);
      }
      throw new Error(`${this.name}: ${what} failed: ${oneLine(err)}`);
    }
  }

  private async list(): Promise<Listing> {
    const response = await this.client.getAll().prefix(this.resourcesPrefix).exec();
    const entries = new Map<string, Entry>();
    const problems: { key: string; reason: string; wrongKey: boolean }[] = [];
    const openedBefore = this.sealedOpened;
    for (const kv of response.kvs) {
      const key = kv.key.toString('utf8');
      try {
        entries.set(key, this.decode(key, kv));
      } catch (err) {
        problems.push({ key, reason: oneLine(err), wrongKey: err instanceof WrongStoreKeyError });
      }
    }
    return { entries, revision: Number(response.header.revision), problems, opened: this.sealedOpened - openedBefore };
  }

  /** Whether some blob (they are all sealed) opens with this replica's store key; false for a store without blobs. */
  private async opensAnyBlob(): Promise<boolean> {
    const blobs = await this.call('listing the blobs', () => this.client.getAll().prefix(this.blobsPrefix).limit(16).exec());
    return blobs.kvs.some((kv) => {
      try {
        this.box.open(kv.value.toString('utf8'), kv.key.toString('utf8'));
        return true;
      } catch {
        return false;
      }
    });
  }

  /** The current records of these keys, read in a few consistent transactions. */
  private async readKeys(keys: readonly string[]): Promise<Map<string, IKeyValue>> {
    const found = new Map<string, IKeyValue>();
    for (let i = 0; i < keys.length; i += READ_CHUNK) {
      const chunk = keys.slice(i, i + READ_CHUNK);
      const first = chunk[0];
      if (first === undefined) continue;
      // A compare that always holds (every key, even an absent one, has version >= 0) makes a read-only transaction.
      const result = await this.client
        .if(first, 'Version', '>', -1)
        .then(...chunk.map((k) => this.client.get(k)))
        .commit();
      for (const response of result.responses) {
        for (const kv of response.response_range?.kvs ?? []) found.set(kv.key.toString('utf8'), kv);
      }
    }
    return found;
  }

  private encode(key: string, stored: StoredResource): string {
    // Every private key of the document is sealed (private-keys.ts), bound to its etcd key and field.
    const doc = mapPrivateKeys(resourceToDocument(stored.resource), (value, field) => this.box.seal(value, sealContext(key, field)));
    return JSON.stringify({ format: RECORD_FORMAT, creationTime: stored.creationTime, modificationTime: stored.modificationTime, resource: doc });
  }

  private decode(key: string, kv: IKeyValue): Entry {
    let record: unknown;
    try {
      record = JSON.parse(kv.value.toString('utf8'));
    } catch {
      throw new Error('not a meshcp store record (not JSON)');
    }
    const r = (typeof record === 'object' && record !== null ? record : {}) as Record<string, unknown>;
    if (r['format'] !== RECORD_FORMAT) throw new Error(`unsupported record format ${JSON.stringify(r['format'])} (this meshcp reads format ${RECORD_FORMAT})`);
    const raw = (typeof r['resource'] === 'object' && r['resource'] !== null && !Array.isArray(r['resource']) ? (r['resource'] as Record<string, unknown>) : undefined) ?? {};
    const inClear: string[] = [];
    const doc = mapPrivateKeys(raw, (value, field) => {
      if (SecretBox.isSealed(value)) {
        const opened = this.box.open(value, sealContext(key, field)).toString('utf8');
        this.sealedOpened++;
        return opened;
      }
      // Written in clear by an earlier meshcp (a provided CA's inline key) or by hand: read it,
      // and seal it in place (sealInClearKeys).
      inClear.push(field);
      return value;
    });
    // A stored document holds content, never a path: it may not make the server read a file.
    const resource = documentToResource(doc, key);
    const expected = this.resourcesPrefix + refKey(refOf(resource));
    if (expected !== key) throw new Error(`holds ${refKey(refOf(resource))}, but its key says otherwise`);
    const creationTime = typeof r['creationTime'] === 'string' ? r['creationTime'] : new Date(0).toISOString();
    const modificationTime = typeof r['modificationTime'] === 'string' ? r['modificationTime'] : creationTime;
    return { stored: { resource, creationTime, modificationTime, revision: kv.mod_revision }, modRevision: Number(kv.mod_revision), ...(inClear.length > 0 ? { inClear } : {}) };
  }

  /** A record that does not decode: logged once (again only when the reason changes), kept for `problems()`. */
  private recordProblem(key: string, reason: string): void {
    const known = this.problemRecords.get(key);
    if (known?.reason === reason) return;
    const ref = this.refOfKey(key);
    const held = this.entries.has(key);
    this.problemRecords.set(key, { key: ref ? refKey(ref) : key, ...(ref ? { ref } : {}), reason, since: known?.since ?? new Date().toISOString(), held });
    this.options.log?.error(
      { store: this.name, record: key, reason },
      held ? 'a stored record does not validate; its last good version keeps being served' : 'a stored record does not validate; it is skipped (rewrite it with `meshcp apply`, or delete the key)',
    );
  }

  /** A record that decodes: its problem (if any) is gone, and a private key found in clear is sealed in place. */
  private recordReadable(key: string, entry: Entry): void {
    if (this.problemRecords.delete(key)) this.options.log?.info({ store: this.name, record: key }, 'a stored record validates again');
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
      const result = await this.client.if(key, 'Mod', '==', String(entry.modRevision)).then(this.client.put(key).value(this.encode(key, entry.stored))).commit();
      if (result.succeeded) this.options.log?.warn({ store: this.name, record: key, fields: entry.inClear }, 'a private key was stored in clear; sealed it in place with the store encryption key');
    } catch (err) {
      this.options.log?.warn({ store: this.name, record: key, reason: oneLine(err) }, 'a private key is stored in clear and could not be sealed yet; it is sealed on its next write');
    } finally {
      if (this.sealing.get(key) === entry.modRevision) this.sealing.delete(key);
    }
  }

  /** `resources/<Kind>/<mesh>/<name>` (a Mesh: `resources/Mesh/<name>`) back to the ref, when it has that shape. */
  private refOfKey(key: string): ResourceRef | undefined {
    if (!key.startsWith(this.resourcesPrefix)) return undefined;
    const parts = key.slice(this.resourcesPrefix.length).split('/');
    const [type, a, b] = parts;
    if (!isResourceKind(type)) return undefined;
    if (type === 'Mesh') return parts.length === 2 && a ? { type, mesh: '', name: a } : undefined;
    return parts.length === 3 && a && b ? { type, mesh: a, name: b } : undefined;
  }

  private tryDecode(key: string, kv: IKeyValue): Entry | undefined {
    try {
      return this.decode(key, kv);
    } catch {
      return undefined;
    }
  }

  private startWatch(fromRevision: number): void {
    const watcher = this.client.watch().prefix(this.resourcesPrefix).startRevision(String(fromRevision)).watcher();
    this.watcher = watcher;
    watcher.on('data', (response: IWatchResponse) => this.onWatchData(watcher, response));
    watcher.on('connected', () => {
      if (watcher !== this.watcher) return;
      if (this.watchDown !== undefined) this.options.log?.info({ store: this.name, revision: this.seenRevision }, 'store reachable again; catching up from the last revision seen');
      this.watchDown = undefined;
      this.callDown = undefined;
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
        this.problemRecords.delete(key);
        const gone = this.entries.get(key);
        if (gone) {
          this.entries.delete(key);
          puts.delete(key);
          deletes.set(key, refOf(gone.stored.resource));
        }
      } else {
        try {
          const entry = this.decode(key, event.kv);
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
    if (puts.size > 0 || deletes.size > 0) this.feed.emit({ puts: [...puts.values()], deletes: [...deletes.values()] });
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
        const listing = await this.call('listing the resources', () => this.list());
        this.replaceAll(listing);
        this.startWatch(listing.revision + 1);
        this.watchDown = undefined;
        break;
      } catch (err) {
        this.watchDown = oneLine(err);
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
    this.resyncing = false;
  }

  private replaceAll(listing: Listing): void {
    const next = new Map(listing.entries);
    const problemKeys = new Set(listing.problems.map((p) => p.key));
    for (const key of this.problemRecords.keys()) if (!problemKeys.has(key)) this.problemRecords.delete(key);
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
    this.feed.emit({ puts: [], deletes: [], reset: [...this.entries.values()].map((e) => e.stored) });
    this.releaseWaiters();
  }

  private caughtUp(revision: number): Promise<void> {
    if (this.seenRevision >= revision || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = { revision, resolve: () => resolve() };
      this.revisionWaiters.add(waiter);
      // The write is committed either way; do not hold the caller forever on a slow watch.
      setTimeout(() => {
        if (this.revisionWaiters.delete(waiter)) resolve();
      }, this.options.callTimeoutMs ?? 5000).unref();
    });
  }

  private releaseWaiters(): void {
    for (const waiter of this.revisionWaiters) {
      if (waiter.revision <= this.seenRevision) {
        this.revisionWaiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  protected sorted(): readonly StoredResource[] {
    return [...this.entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v.stored);
  }
}

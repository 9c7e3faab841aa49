/**
 * The store for several replicas (SPEC §5 "etcd"), through the `etcd3` client.
 *
 *   <prefix>resources/<Kind>/<mesh>/<name>   one JSON record per resource (Mesh: resources/Mesh/<name>): etcd-records.ts
 *   <prefix>blobs/<name>                     internal material (CA keys, signing key), sealed: etcd-blobs.ts
 *   <prefix>status/<replica>/<mesh>/<proxy>  proxy status a replica publishes under its lease: etcd-status.ts
 *
 * The prefix is `/meshcp/` unless the URL has a path (`etcd://h:2379/team-a` → `/team-a/`).
 *
 * Writes are etcd transactions comparing every key's mod_revision (etcd-writes.ts); reads come
 * from an in-memory copy fed by a watch (etcd-mirror.ts). When etcd is unreachable the copy stays
 * as it was (the last good config keeps being served) and writes fail with an error naming the
 * store (etcd-call.ts).
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
import type { Observable } from 'rxjs';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient, parseEtcdUrl, type EtcdLocation, type EtcdTls } from './etcd-client.js';
import type { Resource } from '../api/types.js';
import type { Logger } from '../log/logger.js';
import { EtcdBlobs } from './etcd-blobs.js';
import { EtcdCalls, oneLine } from './etcd-call.js';
import { ResourceMirror } from './etcd-mirror.js';
import { RecordCodec } from './etcd-records.js';
import { LeasedStatus, type StatusWriteCounts, type StatusWriteOptions } from './etcd-status.js';
import { applyBatch } from './etcd-writes.js';
import { SecretBox } from './secret-box.js';
import {
  applyOne,
  FeedStore,
  type AppliedChange,
  type PutBlobOptions,
  type ResourceRef,
  type Store,
  type StoreChange,
  type StoredResource,
  type StoreProblem,
} from './store.js';

export { parseEtcdUrl, type EtcdLocation, type EtcdTls } from './etcd-client.js';
export type { StatusWriteCounts } from './etcd-status.js';

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
  /** Proxy status is written at most once per this many ms, in one transaction (etcd-status.ts). Default 250. */
  readonly statusFlushIntervalMs?: number;
  /** Proxy status rows per transaction, at most. Default 128. */
  readonly statusMaxRowsPerTxn?: number;
  /** How often etcd is probed, so /readyz says a replica is cut off even while nothing writes. Default 2000. */
  readonly probeIntervalMs?: number;
}

export class EtcdStore extends FeedStore implements Store {
  private readonly calls: EtcdCalls;
  private readonly codec: RecordCodec;
  private readonly mirror: ResourceMirror;
  private readonly blobs: EtcdBlobs;
  private readonly status: LeasedStatus;
  private closed = false;
  private probeTimer: NodeJS.Timeout | undefined;
  /** Names this process among the replicas (the status keys it publishes). */
  readonly replicaId = `${os.hostname()}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;

  private constructor(
    private readonly location: EtcdLocation,
    private readonly client: Etcd3,
    private readonly options: EtcdStoreOptions,
  ) {
    super();
    const box = new SecretBox(options.encryptionKey);
    this.calls = new EtcdCalls(location.name);
    this.codec = new RecordCodec(box, `${location.prefix}resources/`);
    this.mirror = new ResourceMirror(client, this.codec, this.calls, (event) => this.feed.emit(event), options);
    this.blobs = new EtcdBlobs(client, box, this.calls, `${location.prefix}blobs/`);
    const statusOptions: StatusWriteOptions = {
      ...(options.statusLeaseSeconds !== undefined ? { leaseSeconds: options.statusLeaseSeconds } : {}),
      ...(options.statusFlushIntervalMs !== undefined ? { flushIntervalMs: options.statusFlushIntervalMs } : {}),
      ...(options.statusMaxRowsPerTxn !== undefined ? { maxRowsPerTxn: options.statusMaxRowsPerTxn } : {}),
    };
    this.status = new LeasedStatus(client, `${location.prefix}status/`, this.replicaId, location.name, { ...statusOptions, ...(options.log ? { log: options.log } : {}) });
  }

  /** Connects, lists every resource and starts watching; rejects (naming the store) when etcd is unreachable. */
  static async open(url: string, options: EtcdStoreOptions): Promise<EtcdStore> {
    const location = parseEtcdUrl(url);
    const client = createEtcdClient(location, options);
    const store = new EtcdStore(location, client, options);
    try {
      const listing = await store.calls.call('listing the resources', () => store.codec.list(client));
      // An unreadable record is reported and skipped: it must not stop this replica (or any other)
      // from starting. A store key that opens nothing while sealed values exist is this replica's
      // flag being wrong, not a bad record: that is refused, or every secret would go missing.
      const wrongKey = listing.problems.find((p) => p.wrongKey);
      if (wrongKey && listing.opened === 0 && !(await store.blobs.opensAny())) throw new Error(`${location.name}: cannot load the store: ${wrongKey.key}: ${wrongKey.reason}`);
      store.mirror.start(listing);
      store.startProbe();
    } catch (err) {
      store.closed = true;
      await store.mirror.close();
      client.close();
      throw err;
    }
    options.log?.info({ store: location.name, resources: store.mirror.entries.size, revision: store.mirror.seenRevision }, 'store opened');
    return store;
  }

  /** How errors and logs name this store, e.g. `etcd://127.0.0.1:2379`. */
  get name(): string {
    return this.location.name;
  }

  async get(ref: ResourceRef): Promise<StoredResource | undefined> {
    return this.mirror.entries.get(this.codec.keyOf(ref))?.stored;
  }

  put(resource: Resource): Promise<AppliedChange> {
    return applyOne(this, { op: 'put', resource });
  }

  delete(ref: ResourceRef): Promise<AppliedChange> {
    return applyOne(this, { op: 'delete', ref });
  }

  apply(changes: readonly StoreChange[]): Promise<AppliedChange[]> {
    this.checkOpen();
    return applyBatch({ client: this.client, codec: this.codec, calls: this.calls, mirror: this.mirror, now: () => this.options.now?.() ?? new Date() }, changes);
  }

  putBlob(name: string, data: string | Uint8Array, options: PutBlobOptions = {}): Promise<boolean> {
    this.checkOpen();
    return this.blobs.put(name, data, options);
  }

  getBlob(name: string): Promise<Buffer | undefined> {
    this.checkOpen();
    return this.blobs.get(name);
  }

  deleteBlob(name: string): Promise<boolean> {
    this.checkOpen();
    return this.blobs.delete(name);
  }

  listBlobs(prefix: string): Promise<string[]> {
    this.checkOpen();
    return this.blobs.list(prefix);
  }

  /** Emits on every change of a blob under `prefix` by any replica, and each time its watch (re)connects. */
  blobChanges(prefix: string): Observable<void> {
    return this.blobs.changes(prefix);
  }

  problems(): ReadonlyMap<string, StoreProblem> {
    return this.mirror.problems;
  }

  unavailable(): string | undefined {
    const reason = this.calls.down ?? this.mirror.watchDown;
    return reason === undefined ? undefined : `${this.name}: unavailable (${reason})`;
  }

  /**
   * Publishes (or with `undefined` removes) one status record of this replica under its lease,
   * coalesced with the other rows changed in the same flush interval (etcd-status.ts). Best
   * effort: while etcd is unreachable the records are re-published when it returns.
   */
  publishStatus(key: string, value: string | undefined): void {
    this.status.publish(key, value);
  }

  /** Every replica's status records (`<replica>/<…key>` → value), kept current by a watch. */
  statusRecords(): Observable<ReadonlyMap<string, string>> {
    return this.status.allRecords();
  }

  /** The etcd writes proxy status made so far. */
  statusWrites(): StatusWriteCounts {
    return this.status.writes();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.blobs.close();
    // A replica that stops cleanly takes its proxies' status with it at once (the lease is revoked).
    await Promise.all([this.status.close(), this.mirror.close()]);
    this.client.close();
    this.feed.complete();
  }

  protected sorted(): readonly StoredResource[] {
    return this.mirror.sorted();
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
      const wasDown = this.calls.down !== undefined;
      this.calls
        .call('probing the store', () => this.client.get(`${this.location.prefix}probe`).exec())
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

  private checkOpen(): void {
    if (this.closed) throw new Error(`${this.name}: store is closed`);
  }
}

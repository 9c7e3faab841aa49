/**
 * The resource store (DESIGN.md: store → resources). The embedded default is a data directory
 * (FileStore); etcd is the store for several replicas. Validation happens above the store: a
 * store keeps whatever batch it is given, atomically.
 */
import { defer, filter, map, startWith, Subject, type Observable } from 'rxjs';
import type { Resource, ResourceKind } from '../api/types.js';

/** Identifies one resource; `mesh` is '' for a Mesh (SPEC §1: Meshes are not mesh-scoped). */
export interface ResourceRef {
  readonly type: ResourceKind;
  readonly mesh: string;
  readonly name: string;
}

export interface StoredResource {
  readonly resource: Resource;
  /** ISO 8601, set when the resource is first created through the store. */
  readonly creationTime: string;
  /** ISO 8601, changed only when the content changes. */
  readonly modificationTime: string;
  /**
   * Opaque version of this record for compare-and-swap (etcd: the key's mod_revision, SPEC §5);
   * undefined when the store does not track one.
   */
  readonly revision?: string;
}

/**
 * `expectedRevision`: apply the batch only if the record still has that `revision` (`'0'`: only
 * if it does not exist); otherwise the whole batch fails with a StoreConflictError, so a
 * read-modify-write (e.g. `route update`) never overwrites a change it did not see.
 */
export type StoreChange =
  | { readonly op: 'put'; readonly resource: Resource; readonly expectedRevision?: string }
  | { readonly op: 'delete'; readonly ref: ResourceRef; readonly expectedRevision?: string };

/** The store cannot be reached (e.g. etcd is down): nothing was written; the message names the store. */
export class StoreUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

/** A batch whose expected revision no longer matches: nothing was written; re-read and retry. */
export class StoreConflictError extends Error {
  constructor(
    message: string,
    readonly ref: ResourceRef,
  ) {
    super(message);
    this.name = 'StoreConflictError';
  }
}

export type ChangeOutcome = 'created' | 'updated' | 'unchanged' | 'deleted' | 'absent';

export interface AppliedChange {
  readonly ref: ResourceRef;
  readonly outcome: ChangeOutcome;
}

export interface PutBlobOptions {
  /** Write only when no blob of that name exists (e.g. a builtin CA generated once, even with several replicas). */
  readonly ifAbsent?: boolean;
}

/**
 * One committed batch as the store emits it (the store emits changes, not whole
 * lists). A batch's puts and deletes become visible together.
 */
export interface StoreEvent {
  /** New or changed resources. */
  readonly puts: readonly StoredResource[];
  readonly deletes: readonly ResourceRef[];
  /** Set on the first event of a subscription, and when the store re-lists (etcd after its history was compacted): everything it holds now, replacing what was known. */
  readonly reset?: readonly StoredResource[];
}

/**
 * A stored record the store cannot use (it does not parse or validate, e.g. written by hand): it is
 * skipped, or, when it replaced a good version, that version is held (SPEC §3 serve). Never fatal.
 */
export interface StoreProblem {
  /** `refKey` of the resource the record is stored as, or the store's own key when it names none. */
  readonly key: string;
  readonly ref?: ResourceRef;
  /** One line, never key material. */
  readonly reason: string;
  /** ISO 8601: when it was first seen. */
  readonly since: string;
  /** Whether a last good version of the resource keeps being served. */
  readonly held: boolean;
}

export interface Store {
  /** Every committed batch; replays the whole content as a `reset` event on subscribe. */
  changes(): Observable<StoreEvent>;
  /** The committed resources, sorted by key; replays the current list on subscribe and emits once per committed batch. */
  watch(): Observable<readonly StoredResource[]>;
  /** The committed resources right now (the value `watch()` last emitted). */
  current(): readonly StoredResource[];
  get(ref: ResourceRef): Promise<StoredResource | undefined>;
  /** All changes become visible together or not at all, also across a crash. */
  apply(changes: readonly StoreChange[]): Promise<AppliedChange[]>;
  put(resource: Resource): Promise<AppliedChange>;
  delete(ref: ResourceRef): Promise<AppliedChange>;
  /** Internal material, e.g. builtin CA certificates and keys; stored readable by the owner only. Returns false when `ifAbsent` and it exists. */
  putBlob(name: string, data: string | Uint8Array, options?: PutBlobOptions): Promise<boolean>;
  getBlob(name: string): Promise<Buffer | undefined>;
  deleteBlob(name: string): Promise<boolean>;
  /** Names of the blobs under `prefix` (a folder: `auth/revoked/`), sorted. */
  listBlobs(prefix: string): Promise<string[]>;
  /**
   * Emits when a blob under `prefix` may have changed: written through this store, or (etcd) by
   * another replica, and after the store was unreachable. Readers list again.
   */
  blobChanges(prefix: string): Observable<void>;
  /** Records that are skipped or held at their last good version, by the store's key. */
  problems?(): ReadonlyMap<string, StoreProblem>;
  /** Why the store cannot take writes right now (e.g. `etcd://…: unavailable`), or undefined when it can; for /readyz. */
  unavailable?(): string | undefined;
  close(): Promise<void>;
}

export function refOf(r: Resource): ResourceRef {
  return { type: r.type, mesh: r.type === 'Mesh' ? '' : r.mesh, name: r.name };
}

/** The same string as `resourceKey` of the resource the ref names. */
export function refKey(ref: ResourceRef): string {
  return ref.type === 'Mesh' ? `Mesh/${ref.name}` : `${ref.type}/${ref.mesh}/${ref.name}`;
}

/**
 * The change feed both stores share: `changes()` as a reset then every batch, `current()` sorted
 * only when asked (not once per change), and `watch()` derived from both.
 */
export class StoreFeed {
  private readonly subject = new Subject<StoreEvent>();
  private sortedCache: readonly StoredResource[] | undefined;

  /** `sorted`: the committed resources sorted by key, computed when `current()` is asked after a change. */
  constructor(private readonly sorted: () => readonly StoredResource[]) {}

  current(): readonly StoredResource[] {
    this.sortedCache ??= this.sorted();
    return this.sortedCache;
  }

  changes(): Observable<StoreEvent> {
    return defer(() => this.subject.pipe(startWith<StoreEvent>({ puts: [], deletes: [], reset: this.current() })));
  }

  watch(): Observable<readonly StoredResource[]> {
    return this.changes().pipe(map(() => this.current()));
  }

  /** After the entries changed. */
  emit(event: StoreEvent): void {
    this.sortedCache = undefined;
    this.subject.next(event);
  }

  complete(): void {
    this.subject.complete();
  }
}

/**
 * What every store shares: the change feed over its committed resources (`sorted`: them sorted
 * by key, asked for only when `current()` is read after a change).
 */
export abstract class FeedStore {
  protected readonly feed = new StoreFeed(() => this.sorted());

  protected abstract sorted(): readonly StoredResource[];

  changes(): Observable<StoreEvent> {
    return this.feed.changes();
  }

  watch(): Observable<readonly StoredResource[]> {
    return this.feed.watch();
  }

  current(): readonly StoredResource[] {
    return this.feed.current();
  }
}

/** Emits for every blob written or deleted through a store, by name; `blobChanges` filters it by prefix. */
export class BlobFeed {
  private readonly subject = new Subject<string>();

  changed(name: string): void {
    this.subject.next(name);
  }

  changes(prefix: string): Observable<void> {
    return this.subject.pipe(
      filter((name) => name.startsWith(prefix)),
      map(() => undefined),
    );
  }

  complete(): void {
    this.subject.complete();
  }
}

/** Blob names are relative paths of safe segments: `ca/default/ca-1.key`. */
const BLOB_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function checkBlobName(name: string): void {
  const segments = name.split('/');
  if (name.length > 512 || segments.some((s) => !BLOB_SEGMENT.test(s))) {
    throw new Error(`invalid blob name ${JSON.stringify(name)}: use segments of letters, digits, '.', '_' and '-' separated by '/'`);
  }
}

/** `put` and `delete` are one-change batches: every store implements them through its `apply`. */
export async function applyOne(store: Pick<Store, 'apply'>, change: StoreChange): Promise<AppliedChange> {
  const [outcome] = await store.apply([change]);
  if (!outcome) throw new Error(`internal: no outcome for ${change.op}`);
  return outcome;
}

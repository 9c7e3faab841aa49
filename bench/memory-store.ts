/**
 * The bench's store: the `Store` interface in memory, so a change reaches meshcp the way an
 * `apply` does (the store emits the batch, `ResourceSources` checks it and passes it on as a
 * change, the control plane takes it) without the data directory's disk writes, which the
 * baseline does not have either. It emits synchronously inside `apply`.
 */
import { NEVER, type Observable } from 'rxjs';
import type { Resource } from '../src/api/types.js';
import { MemoryBlobStore } from '../src/ca/providers/builtin.js';
import { FeedStore, refKey, refOf, type AppliedChange, type ResourceRef, type Store, type StoreChange, type StoredResource } from '../src/store/store.js';

export class MemoryStore extends FeedStore implements Store {
  private readonly entries = new Map<string, StoredResource>();
  private readonly blobs = new MemoryBlobStore();

  constructor(resources: readonly Resource[] = []) {
    super();
    const now = new Date().toISOString();
    for (const resource of resources) this.entries.set(refKey(refOf(resource)), { resource, creationTime: now, modificationTime: now });
  }

  protected sorted(): readonly StoredResource[] {
    return [...this.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  }

  async get(ref: ResourceRef): Promise<StoredResource | undefined> {
    return this.entries.get(refKey(ref));
  }

  /** Synchronous inside: the event is emitted before the promise is returned. */
  apply(changes: readonly StoreChange[]): Promise<AppliedChange[]> {
    const now = new Date().toISOString();
    const puts: StoredResource[] = [];
    const deletes: ResourceRef[] = [];
    const outcomes: AppliedChange[] = [];
    for (const change of changes) {
      const ref = change.op === 'put' ? refOf(change.resource) : change.ref;
      const key = refKey(ref);
      const existing = this.entries.get(key);
      if (change.op === 'delete') {
        outcomes.push({ ref, outcome: existing ? 'deleted' : 'absent' });
        if (existing) {
          this.entries.delete(key);
          deletes.push(ref);
        }
        continue;
      }
      const stored = { resource: change.resource, creationTime: existing?.creationTime ?? now, modificationTime: now };
      this.entries.set(key, stored);
      puts.push(stored);
      outcomes.push({ ref, outcome: existing ? 'updated' : 'created' });
    }
    if (puts.length > 0 || deletes.length > 0) this.feed.emit({ puts, deletes });
    return Promise.resolve(outcomes);
  }

  put(resource: Resource): Promise<AppliedChange> {
    return this.apply([{ op: 'put', resource }]).then(([outcome]) => outcome!);
  }

  delete(ref: ResourceRef): Promise<AppliedChange> {
    return this.apply([{ op: 'delete', ref }]).then(([outcome]) => outcome!);
  }

  putBlob(name: string, data: string | Uint8Array, options: { ifAbsent?: boolean } = {}): Promise<boolean> {
    return this.blobs.putBlob(name, data, options);
  }

  getBlob(name: string): Promise<Buffer | undefined> {
    return this.blobs.getBlob(name);
  }

  async deleteBlob(): Promise<boolean> {
    throw new Error('the bench store deletes no blob');
  }

  /** The bench runs with --auth none: no keyring lists blobs. */
  async listBlobs(): Promise<string[]> {
    return [];
  }

  blobChanges(): Observable<void> {
    return NEVER;
  }

  async close(): Promise<void> {
    this.feed.complete();
  }
}

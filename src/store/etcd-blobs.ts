/**
 * Blobs of the etcd store (`<prefix>blobs/<name>`): internal material (CA keys, the token signing
 * key), every one sealed with the store key (secret-box.ts) and bound to its etcd key. One-time
 * material uses create-if-absent (compare create_revision == 0).
 */
import { Observable } from 'rxjs';
import type { Etcd3, Watcher } from 'etcd3';
import type { EtcdCalls } from './etcd-call.js';
import type { SecretBox } from './secret-box.js';
import { checkBlobName, type PutBlobOptions } from './store.js';

export class EtcdBlobs {
  /** Blob watches to stop on close. */
  private readonly watchStops = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly client: Etcd3,
    private readonly box: SecretBox,
    private readonly calls: EtcdCalls,
    private readonly prefix: string,
  ) {}

  async put(name: string, data: string | Uint8Array, options: PutBlobOptions = {}): Promise<boolean> {
    checkBlobName(name);
    const key = this.prefix + name;
    const value = this.box.seal(Buffer.from(data), key);
    if (!options.ifAbsent) {
      await this.calls.call(`writing blob ${name}`, () => this.client.put(key).value(value).exec());
      return true;
    }
    // create_revision is 0 only for a key that does not exist: exactly one of racing replicas wins.
    const result = await this.calls.call(`creating blob ${name}`, () => this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(value)).commit());
    return result.succeeded;
  }

  async get(name: string): Promise<Buffer | undefined> {
    checkBlobName(name);
    const key = this.prefix + name;
    const value = await this.calls.call(`reading blob ${name}`, () => this.client.get(key).string());
    return value === null ? undefined : this.box.open(value, key);
  }

  async delete(name: string): Promise<boolean> {
    checkBlobName(name);
    const result = await this.calls.call(`deleting blob ${name}`, () => this.client.delete().key(this.prefix + name).exec());
    return Number(result.deleted) > 0;
  }

  async list(prefix: string): Promise<string[]> {
    const folder = prefix.replace(/\/+$/, '');
    checkBlobName(folder);
    const keys = await this.calls.call(`listing blobs ${folder}/`, () => this.client.getAll().prefix(`${this.prefix}${folder}/`).keys());
    return keys.map((k) => k.slice(this.prefix.length)).sort();
  }

  /** Whether some blob (they are all sealed) opens with this replica's store key; false for a store without blobs. */
  async opensAny(): Promise<boolean> {
    const blobs = await this.calls.call('listing the blobs', () => this.client.getAll().prefix(this.prefix).limit(16).exec());
    return blobs.kvs.some((kv) => {
      try {
        this.box.open(kv.value.toString('utf8'), kv.key.toString('utf8'));
        return true;
      } catch {
        return false;
      }
    });
  }

  /**
   * An etcd watch on the blobs under `prefix`, one per subscription: emits on every change by any
   * replica, and once each time the watch (re)connects, so a reader that missed changes while etcd
   * was unreachable lists again.
   */
  changes(prefix: string): Observable<void> {
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
        const w = this.client.watch().prefix(`${this.prefix}${folder}/`).watcher();
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
      this.watchStops.add(stop);
      return () => {
        this.watchStops.delete(stop);
        stop();
      };
    });
  }

  close(): void {
    this.closed = true;
    for (const stop of this.watchStops) stop();
    this.watchStops.clear();
  }
}

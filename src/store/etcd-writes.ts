/**
 * Compare-and-swap writes of the etcd store. A batch compares every key's mod_revision with the one
 * read and writes all or nothing, so concurrent `apply` through different replicas never
 * half-apply and never lose a document; a caller's `expectedRevision` turns that into optimistic
 * concurrency for read-modify-write.
 */
import type { Etcd3, IKeyValue } from 'etcd3';
import type { EtcdCalls } from './etcd-call.js';
import type { ResourceMirror } from './etcd-mirror.js';
import type { RecordCodec } from './etcd-records.js';
import { sameContent } from './document.js';
import { CONFLICT_ATTEMPTS, conflictBackoffMs, sleep } from './retry.js';
import { refKey, refOf, StoreConflictError, type AppliedChange, type StoreChange, type StoredResource } from './store.js';

/** Reads of a batch go in transactions of this many ranges, under etcd's default --max-txn-ops (128). */
const READ_CHUNK = 64;
const MAX_APPLY_ATTEMPTS = CONFLICT_ATTEMPTS;

export interface WriteContext {
  readonly client: Etcd3;
  readonly codec: RecordCodec;
  readonly calls: EtcdCalls;
  readonly mirror: ResourceMirror;
  readonly now: () => Date;
}

export async function applyBatch(ctx: WriteContext, changes: readonly StoreChange[]): Promise<AppliedChange[]> {
  const { client, codec, calls, mirror } = ctx;
  const keyed = changes.map((change) => {
    const ref = change.op === 'put' ? refOf(change.resource) : change.ref;
    return { change, ref, key: codec.keyOf(ref) };
  });
  const seen = new Set<string>();
  for (const { ref, key } of keyed) {
    if (seen.has(key)) throw new Error(`${refKey(ref)} appears twice in one batch`);
    seen.add(key);
  }
  if (keyed.length === 0) return [];
  for (let attempt = 1; ; attempt++) {
    const current = await calls.call('reading before a write', () => readKeys(client, keyed.map((k) => k.key)));
    const now = ctx.now().toISOString();
    const outcomes: AppliedChange[] = [];
    const compares: [string, string][] = [];
    const writes: { key: string; value?: string }[] = [];
    for (const { change, ref, key } of keyed) {
      const kv = current.get(key);
      const revision = kv?.mod_revision ?? '0';
      if (change.expectedRevision !== undefined && change.expectedRevision !== revision) {
        // Let this replica's view catch up to the record first (its watch event carries that
        // mod_revision), so the caller's next read sees what it lost to.
        if (kv) await mirror.caughtUp(Number(kv.mod_revision));
        throw new StoreConflictError(
          `${calls.name}: ${refKey(ref)} changed since it was read (expected revision ${change.expectedRevision}, now ${revision === '0' ? 'absent' : revision}); read it again and retry`,
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
      const existing = kv ? codec.tryDecode(key, kv) : undefined;
      if (existing && sameContent(existing.stored.resource, change.resource)) {
        outcomes.push({ ref, outcome: 'unchanged' });
        continue;
      }
      const stored: StoredResource = { resource: change.resource, creationTime: existing?.stored.creationTime ?? now, modificationTime: now };
      writes.push({ key, value: codec.encode(key, stored) });
      outcomes.push({ ref, outcome: kv ? 'updated' : 'created' });
    }
    if (writes.length === 0) return outcomes;
    const result = await calls.call('writing', () => {
      const [first, ...rest] = compares;
      if (!first) throw new Error('internal: empty batch');
      const txn = client.if(first[0], 'Mod', '==', first[1]);
      for (const [key, revision] of rest) txn.and(key, 'Mod', '==', revision);
      return txn.then(...writes.map((w) => (w.value === undefined ? client.delete().key(w.key) : client.put(w.key).value(w.value)))).commit();
    });
    if (result.succeeded) {
      // Read-your-writes: the caller (e.g. the admin API answering `apply`) sees its change in current().
      await mirror.caughtUp(Number(result.header.revision));
      return outcomes;
    }
    // Another replica wrote one of these keys between our read and our write: read again, after
    // a short jittered pause so racing writers spread out (store/retry.ts).
    if (attempt >= MAX_APPLY_ATTEMPTS) {
      throw new StoreConflictError(
        `${calls.name}: ${keyed.map((k) => refKey(k.ref)).slice(0, 3).join(', ')}${keyed.length > 3 ? ', …' : ''} kept changing under this write: ${attempt} attempts each lost the race to a concurrent write of the same resources; nothing was written, retry it`,
        keyed[0]!.ref,
      );
    }
    await sleep(conflictBackoffMs(attempt));
  }
}

/** The current records of these keys, read in a few consistent transactions. */
async function readKeys(client: Etcd3, keys: readonly string[]): Promise<Map<string, IKeyValue>> {
  const found = new Map<string, IKeyValue>();
  for (let i = 0; i < keys.length; i += READ_CHUNK) {
    const chunk = keys.slice(i, i + READ_CHUNK);
    const first = chunk[0];
    if (first === undefined) continue;
    // A compare that always holds (every key, even an absent one, has version >= 0) makes a read-only transaction.
    const result = await client
      .if(first, 'Version', '>', -1)
      .then(...chunk.map((k) => client.get(k)))
      .commit();
    for (const response of result.responses) {
      for (const kv of response.response_range?.kvs ?? []) found.set(kv.key.toString('utf8'), kv);
    }
  }
  return found;
}

/**
 * The embedded default store (SPEC §5): a data directory, one file per resource.
 *
 *   <dataDir>/store.yaml                                  format marker
 *   <dataDir>/meshes/<name>.yaml                          Mesh resources
 *   <dataDir>/resources/<mesh>/<kind plural>/<name>.yaml  mesh-scoped resources
 *   <dataDir>/blobs/<name>                                internal material (builtin CA keys)
 *   <dataDir>/journal.yaml                                a committed batch still being written
 *
 * File names. `{name}` above is the name itself when it is at most
 * 232 characters: the longest the first layout could write, since its temporary file
 * `.tmp-{name}.yaml.{12 hex}` must fit in a 255-byte file name; so every existing data directory
 * keeps its paths. A longer name (up to 253, SPEC §1) is stored as `{first 150 characters}~{hash}`:
 * `~` is never part of a name, so the two forms cannot clash. The name inside the document is
 * what counts; loading checks that each document sits at the path its name gives.
 *
 * One file per resource keeps writes small and lets an operator read (and back up) the state
 * with ordinary tools. Every file is written atomically (atomic.ts) with mode 0600: secrets and
 * CA keys live here, so the whole directory is private to its owner.
 *
 * Batches. A multi-document apply must be all-or-nothing, also across a crash: per-file atomic
 * writes alone could leave, say, a Route without the Secret it names. A partially written batch
 * is in general not a valid state, so a batch of more than one file goes through a redo journal:
 * the complete batch (the exact bytes of every file) is written atomically to journal.yaml first.
 * That rename is the commit point. The files are then written one by one and the journal
 * removed. Opening the store replays a journal left by a crash (replaying is idempotent), so a
 * batch is either entirely absent (crash before the commit) or entirely present. A single-file
 * change needs no journal: its own rename is its commit point. In the process, readers only see
 * the in-memory state, which changes once per committed batch.
 *
 * One process owns a data directory (`serve.lock`), and it is trusted only if no other user owns
 * or may write it (data-dir.ts); several replicas share state through etcd instead.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { Resource, ResourceKind } from '../api/types.js';
import type { Logger } from '../log/logger.js';
import { createFileAtomic, ensureDirectory, isCode, readFileIfExists, removeFileDurable, removeTemporaryFiles, writeFileAtomic, type FaultHooks } from './atomic.js';
import { checkDataDirTrust, DataDirLock } from './data-dir.js';
import { documentToResource, resourceToDocument, sameContent } from './document.js';
import type { Observable } from 'rxjs';
import { applyOne, BlobFeed, checkBlobName, refKey, refOf, FeedStore, type AppliedChange, type PutBlobOptions, type ResourceRef, type Store, type StoreChange, type StoredResource, type StoreProblem } from './store.js';

const FORMAT = 1;
const FILE_MODE = 0o600;
const JOURNAL = 'journal.yaml';

const KIND_DIRECTORIES: Readonly<Record<Exclude<ResourceKind, 'Mesh'>, string>> = {
  Dataplane: 'dataplanes',
  Service: 'services',
  Secret: 'secrets',
  Gateway: 'gateways',
  Route: 'routes',
  TrafficPermission: 'trafficpermissions',
};

export interface FileStoreOptions {
  readonly log?: Logger;
  readonly now?: () => Date;
  /** Tests only: throw from a hook to simulate a crash at that point. */
  readonly hooks?: FaultHooks;
}

/** One file to write (content) or remove (content undefined), relative to the data directory. */
interface FileWrite {
  readonly path: string;
  readonly content?: string;
}

export class FileStore extends FeedStore implements Store {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly blobFeed = new BlobFeed();
  private journalPending = false;
  private closed = false;

  private constructor(
    readonly dataDir: string,
    private readonly entries: Map<string, StoredResource>,
    /** Files that did not load, by path relative to the data directory; one goes when its resource is written or deleted. */
    private readonly skipped: Map<string, StoreProblem>,
    private readonly lock: DataDirLock,
    private readonly options: FileStoreOptions,
  ) {
    super();
  }

  /** Opens (creating if needed) a data directory: removes temporary files, replays an unfinished batch, loads every resource. */
  static async open(dataDir: string, options: FileStoreOptions = {}): Promise<FileStore> {
    const root = path.resolve(dataDir);
    await ensureDirectory(root);
    // Nothing in it is read before it is trusted (StrictModes), and one server owns it (data-dir.ts).
    checkDataDirTrust(root);
    const lock = new DataDirLock(root);
    lock.acquire();
    try {
      return await FileStore.load(root, lock, options);
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  private static async load(root: string, lock: DataDirLock, options: FileStoreOptions): Promise<FileStore> {
    await checkFormat(root);
    const removed = await removeTemporaryFiles(root);
    if (removed > 0) options.log?.warn({ dataDir: root, removed }, 'removed temporary files left by an interrupted write');
    if (await replayJournal(root)) options.log?.warn({ dataDir: root }, 'completed a batch interrupted by a crash');
    const { entries, problems } = await loadAll(root);
    // A record that does not load is reported and skipped, never fatal (SPEC §3 serve); a later
    // apply of that resource replaces the file.
    for (const problem of problems.values()) {
      options.log?.error({ dataDir: root, file: problem.file, reason: problem.problem.reason }, 'a stored record does not validate; it is skipped (rewrite it with `meshcp apply`, or remove the file)');
    }
    options.log?.info({ dataDir: root, resources: entries.size, skipped: problems.size }, 'store opened');
    return new FileStore(root, entries, new Map([...problems].map(([k, p]) => [k, p.problem])), lock, options);
  }

  problems(): ReadonlyMap<string, StoreProblem> {
    return this.skipped;
  }

  async get(ref: ResourceRef): Promise<StoredResource | undefined> {
    return this.entries.get(refKey(ref));
  }

  put(resource: Resource): Promise<AppliedChange> {
    return applyOne(this, { op: 'put', resource });
  }

  delete(ref: ResourceRef): Promise<AppliedChange> {
    return applyOne(this, { op: 'delete', ref });
  }

  apply(changes: readonly StoreChange[]): Promise<AppliedChange[]> {
    return this.exclusive(() => this.applyNow(changes));
  }

  async putBlob(name: string, data: string | Uint8Array, options: PutBlobOptions = {}): Promise<boolean> {
    checkBlobName(name);
    const file = path.join(this.dataDir, 'blobs', ...name.split('/'));
    const written = await this.exclusive(async () => {
      if (options.ifAbsent) return createFileAtomic(file, data, { mode: FILE_MODE });
      await writeFileAtomic(file, data, { mode: FILE_MODE, hooks: this.options.hooks });
      return true;
    });
    if (written) this.blobFeed.changed(name);
    return written;
  }

  async listBlobs(prefix: string): Promise<string[]> {
    return listBlobFiles(this.dataDir, prefix);
  }

  blobChanges(prefix: string): Observable<void> {
    return this.blobFeed.changes(prefix);
  }

  async getBlob(name: string): Promise<Buffer | undefined> {
    checkBlobName(name);
    return readFileIfExists(path.join(this.dataDir, 'blobs', ...name.split('/')));
  }

  async deleteBlob(name: string): Promise<boolean> {
    checkBlobName(name);
    const deleted = await this.exclusive(() => removeFileDurable(path.join(this.dataDir, 'blobs', ...name.split('/'))));
    if (deleted) this.blobFeed.changed(name);
    return deleted;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail.catch(() => undefined);
    this.lock.release();
    this.feed.complete();
    this.blobFeed.complete();
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async applyNow(changes: readonly StoreChange[]): Promise<AppliedChange[]> {
    if (this.journalPending) await this.finishJournal();
    const now = (this.options.now?.() ?? new Date()).toISOString();
    const next = new Map(this.entries);
    const outcomes: AppliedChange[] = [];
    const writes: FileWrite[] = [];
    const puts: StoredResource[] = [];
    const deletes: ResourceRef[] = [];
    for (const change of changes) {
      const ref = change.op === 'put' ? refOf(change.resource) : change.ref;
      const key = refKey(ref);
      if (outcomes.some((o) => refKey(o.ref) === key)) throw new Error(`${key} appears twice in one batch`);
      const existing = next.get(key);
      const file = relativePath(ref);
      if (change.op === 'delete') {
        outcomes.push({ ref, outcome: existing ? 'deleted' : 'absent' });
        if (!existing) continue;
        next.delete(key);
        writes.push({ path: file });
        deletes.push(ref);
        continue;
      }
      if (existing && sameContent(existing.resource, change.resource)) {
        outcomes.push({ ref, outcome: 'unchanged' });
        continue;
      }
      const stored: StoredResource = { resource: change.resource, creationTime: existing?.creationTime ?? now, modificationTime: now };
      next.set(key, stored);
      puts.push(stored);
      writes.push({ path: file, content: serialize(stored) });
      outcomes.push({ ref, outcome: existing ? 'updated' : 'created' });
    }
    if (writes.length === 1 && writes[0]) {
      await writeOne(this.dataDir, writes[0], this.options.hooks);
    } else if (writes.length > 1) {
      await writeFileAtomic(path.join(this.dataDir, JOURNAL), YAML.stringify({ writes }), { mode: FILE_MODE, hooks: this.options.hooks });
      // Committed: from here on the batch exists, whatever happens to the individual writes.
      this.journalPending = true;
      try {
        this.options.hooks?.afterJournal?.();
        await this.finishJournal();
      } catch (err) {
        this.options.log?.error({ err, dataDir: this.dataDir }, 'a committed batch could not be written out yet; it is retried before the next write and when the store opens');
      }
    }
    for (const write of writes) this.skipped.delete(write.path);
    if (writes.length > 0) {
      this.entries.clear();
      for (const [k, v] of next) this.entries.set(k, v);
      this.feed.emit({ puts, deletes });
    }
    return outcomes;
  }

  private async finishJournal(): Promise<void> {
    await replayJournal(this.dataDir, this.options.hooks);
    this.journalPending = false;
  }

  protected sorted(): readonly StoredResource[] {
    return [...this.entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  }
}

/**
 * Blob names under `prefix` in a data directory's `blobs/` (a folder, `auth/revoked/`), sorted;
 * temporary files left by a crash are not blobs. Also read without opening the store (the offline
 * `meshcp token generate --data-dir` while `serve` holds the directory).
 */
export async function listBlobFiles(dataDir: string, prefix: string): Promise<string[]> {
  const folder = prefix.replace(/\/+$/, '');
  checkBlobName(folder);
  const names = await visibleEntries(path.join(dataDir, 'blobs', ...folder.split('/')));
  return names.map((n) => `${folder}/${n}`);
}

/** See the file comment: the longest name kept as is; longer ones are shortened and hashed. */
const MAX_PLAIN_NAME = 232;
const HASHED_PREFIX = 150;

export function fileStem(name: string): string {
  if (name.length <= MAX_PLAIN_NAME) return name;
  const digest = crypto.createHash('sha256').update(name).digest('hex').slice(0, 32);
  return `${name.slice(0, HASHED_PREFIX)}~${digest}`;
}

export function relativePath(ref: ResourceRef): string {
  if (ref.type === 'Mesh') return path.join('meshes', `${fileStem(ref.name)}.yaml`);
  return path.join('resources', fileStem(ref.mesh), KIND_DIRECTORIES[ref.type], `${fileStem(ref.name)}.yaml`);
}

function serialize(stored: StoredResource): string {
  const header = '# meshcp store: change resources with `meshcp apply` / `meshcp delete`, not by editing this file\n';
  return header + YAML.stringify({ creationTime: stored.creationTime, modificationTime: stored.modificationTime, resource: resourceToDocument(stored.resource) });
}

async function writeOne(root: string, write: FileWrite, hooks?: FaultHooks): Promise<void> {
  const target = path.join(root, write.path);
  if (write.content === undefined) await removeFileDurable(target);
  else await writeFileAtomic(target, write.content, { mode: FILE_MODE, hooks });
}

/** Writes out a committed batch and removes its journal; returns whether there was one. */
async function replayJournal(root: string, hooks?: FaultHooks): Promise<boolean> {
  const journalFile = path.join(root, JOURNAL);
  const text = await readFileIfExists(journalFile);
  if (text === undefined) return false;
  const writes = parseJournal(text.toString('utf8'), journalFile);
  for (const write of writes) await writeOne(root, write, hooks);
  await removeFileDurable(journalFile);
  return true;
}

function parseJournal(text: string, file: string): FileWrite[] {
  const doc: unknown = YAML.parse(text);
  const writes = typeof doc === 'object' && doc !== null && 'writes' in doc ? doc.writes : undefined;
  if (!Array.isArray(writes)) throw new Error(`${file}: not a meshcp batch journal`);
  return writes.map((w: unknown): FileWrite => {
    const p = typeof w === 'object' && w !== null && 'path' in w && typeof w.path === 'string' ? w.path : undefined;
    const content = typeof w === 'object' && w !== null && 'content' in w && typeof w.content === 'string' ? w.content : undefined;
    // The journal is ours, but a path escaping the data directory is never written.
    if (p === undefined || path.isAbsolute(p) || p.split(/[\\/]/).includes('..')) throw new Error(`${file}: invalid entry ${JSON.stringify(w)}`);
    return content === undefined ? { path: p } : { path: p, content };
  });
}

async function checkFormat(root: string): Promise<void> {
  const marker = path.join(root, 'store.yaml');
  const text = await readFileIfExists(marker);
  if (text === undefined) {
    await writeFileAtomic(marker, YAML.stringify({ format: FORMAT }), { mode: FILE_MODE });
    return;
  }
  const doc: unknown = YAML.parse(text.toString('utf8'));
  const format = typeof doc === 'object' && doc !== null && 'format' in doc ? doc.format : undefined;
  if (format !== FORMAT) throw new Error(`${marker}: unsupported store format ${JSON.stringify(format)} (this meshcp reads format ${FORMAT})`);
}

interface Skipped {
  readonly file: string;
  readonly problem: StoreProblem;
}

async function loadAll(root: string): Promise<{ entries: Map<string, StoredResource>; problems: Map<string, Skipped> }> {
  const entries = new Map<string, StoredResource>();
  const problems = new Map<string, Skipped>();
  const since = new Date().toISOString();
  const load = async (file: string, type: ResourceKind): Promise<void> => {
    try {
      const stored = parseStored(await fs.promises.readFile(file, 'utf8'), file);
      const actual = refOf(stored.resource);
      const expected = path.join(root, relativePath(actual));
      if (actual.type !== type || expected !== file) throw new Error(`holds ${refKey(actual)}, which belongs at ${expected}`);
      entries.set(refKey(actual), stored);
    } catch (err) {
      const relative = path.relative(root, file);
      const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
      const ref = refOfPath(relative, type);
      problems.set(relative, { file, problem: { key: ref ? refKey(ref) : relative, ...(ref ? { ref } : {}), reason, since, held: false } });
    }
  };
  for (const name of await visibleEntries(path.join(root, 'meshes'))) {
    if (name.endsWith('.yaml')) await load(path.join(root, 'meshes', name), 'Mesh');
  }
  const resourcesDir = path.join(root, 'resources');
  for (const mesh of await visibleEntries(resourcesDir)) {
    for (const [kind, dir] of Object.entries(KIND_DIRECTORIES) as [Exclude<ResourceKind, 'Mesh'>, string][]) {
      const kindDir = path.join(resourcesDir, mesh, dir);
      for (const name of await visibleEntries(kindDir)) {
        if (name.endsWith('.yaml')) await load(path.join(kindDir, name), kind);
      }
    }
  }
  return { entries, problems };
}

/** The resource a file's path names (`relativePath` backwards), unless its name was hashed. */
function refOfPath(relative: string, type: ResourceKind): ResourceRef | undefined {
  const parts = relative.split(path.sep);
  const stem = parts[parts.length - 1]?.replace(/\.yaml$/, '') ?? '';
  if (stem.includes('~') || stem === '') return undefined;
  if (type === 'Mesh') return parts.length === 2 ? { type, mesh: '', name: stem } : undefined;
  return parts.length === 4 && parts[1] && !parts[1].includes('~') ? { type, mesh: parts[1], name: stem } : undefined;
}

function parseStored(text: string, file: string): StoredResource {
  const doc: unknown = YAML.parse(text);
  if (typeof doc !== 'object' || doc === null || !('resource' in doc)) throw new Error('not a meshcp store record');
  const creationTime = 'creationTime' in doc && typeof doc.creationTime === 'string' ? doc.creationTime : new Date(0).toISOString();
  const modificationTime = 'modificationTime' in doc && typeof doc.modificationTime === 'string' ? doc.modificationTime : creationTime;
  return { resource: documentToResource(doc.resource, file), creationTime, modificationTime };
}

/** Directory entries, without dot files (temporary files) ; none when the directory does not exist. */
async function visibleEntries(dir: string): Promise<string[]> {
  try {
    return (await fs.promises.readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  } catch (err) {
    if (isCode(err, 'ENOENT')) return [];
    throw err;
  }
}

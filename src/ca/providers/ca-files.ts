/**
 * A provided CA's `file:` sources (SPEC §1 Mesh, `conf.cert.file` / `conf.key.file`) live outside
 * the resource set: the Mesh names a path, and what the path holds can change without any
 * resource changing (a rotation by cert-manager, or an operator's mistake). A file
 * that turns invalid must not block anything else, and the proxies of that mesh keep the CA
 * material last accepted — not the new bad file.
 *
 * So the material is read in one place and pinned with the set it was validated with:
 * - `CaFileSnapshot` holds, per mesh, the content of each CA file as of the last accepted set.
 *   The serving providers (`defaultCaProviders(store, snapshot.read)`) read through it, so the
 *   identity manager signs with exactly what was validated, whatever is on disk now.
 * - `RecordingReader` reads the disk for a validation and remembers what it read, so what is
 *   accepted is what was checked (no second read racing a writer).
 * - `CaFileWatch` notices a change on disk: a directory watch (as for `--config`, which survives
 *   an editor's atomic save) plus a slow poll of the files' content, for the mounts a directory
 *   watch misses (a Kubernetes Secret volume swaps a `..data` symlink). Bounded: a few small files
 *   read once a minute by default, and a change re-checks the set once (debounced).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Resource } from '../../api/types.js';
import { watchConfigPaths } from '../../api/load-files.js';

/** Reads a CA file for `mesh`; throws (an errno error) like `fs.readFileSync` when it cannot. */
export type CaFileReader = (file: string, mesh: string) => string;

export const readCaFileFromDisk: CaFileReader = (file) => fs.readFileSync(file, 'utf8');

/** The `file:` paths of a Mesh's provided backends (every backend: each is validated, enabled or not). */
export function caFilesOf(r: Resource): string[] {
  if (r.type !== 'Mesh' || !r.mtls) return [];
  const files: string[] = [];
  for (const backend of r.mtls.backends) {
    if (backend.type !== 'provided') continue;
    for (const source of [backend.conf.cert, backend.conf.key]) if ('file' in source && !files.includes(source.file)) files.push(source.file);
  }
  return files;
}

type MeshFiles = ReadonlyMap<string, ReadonlyMap<string, string>>;

/** Reads the disk and remembers every successful read, per mesh. */
export class RecordingReader {
  private readonly reads = new Map<string, Map<string, string>>();

  readonly read: CaFileReader = (file, mesh) => {
    const content = readCaFileFromDisk(file, mesh);
    let files = this.reads.get(mesh);
    if (!files) {
      files = new Map();
      this.reads.set(mesh, files);
    }
    files.set(file, content);
    return content;
  };

  /** What was read for `mesh`. */
  of(mesh: string): ReadonlyMap<string, string> | undefined {
    return this.reads.get(mesh);
  }
}

/** The CA file content of the last accepted set, per mesh; the serving providers read through it. */
export class CaFileSnapshot {
  private files: MeshFiles = new Map();
  private digest = '';

  /**
   * The accepted content for (mesh, file). A file the snapshot does not hold (a provider used
   * before the first accepted set) is read from disk.
   */
  readonly read: CaFileReader = (file, mesh) => this.files.get(mesh)?.get(file) ?? readCaFileFromDisk(file, mesh);

  /**
   * Takes the content `reads` recorded for each mesh in `meshes`, except the `pinned` ones, which
   * keep what they had. Returns whether any content changed (proxies then need the new material).
   */
  /**
   * For a change that validated only some meshes' CAs (sources/validate.ts validateChange): takes
   * what `reads` recorded for those meshes, keeps every other mesh's content, and drops meshes no
   * longer `present`. Returns the meshes whose content changed.
   */
  acceptMeshes(meshes: Iterable<string>, reads: RecordingReader, present: (mesh: string) => boolean): Set<string> {
    const next = new Map<string, ReadonlyMap<string, string>>();
    for (const [mesh, files] of this.files) if (present(mesh)) next.set(mesh, files);
    const changed = new Set<string>();
    for (const mesh of meshes) {
      const files = reads.of(mesh);
      const before = this.files.get(mesh);
      if (files && files.size > 0) next.set(mesh, new Map(files));
      else next.delete(mesh);
      const after = next.get(mesh);
      if (digestOf(new Map(before ? [[mesh, before]] : [])) !== digestOf(new Map(after ? [[mesh, after]] : []))) changed.add(mesh);
    }
    this.files = next;
    this.digest = digestOf(next);
    return changed;
  }

  accept(meshes: Iterable<string>, reads: RecordingReader, pinned: ReadonlySet<string>): boolean {
    const next = new Map<string, ReadonlyMap<string, string>>();
    for (const mesh of meshes) {
      const files = pinned.has(mesh) ? this.files.get(mesh) : reads.of(mesh);
      if (files && files.size > 0) next.set(mesh, new Map(files));
    }
    const digest = digestOf(next);
    const changed = digest !== this.digest;
    this.files = next;
    this.digest = digest;
    return changed;
  }
}

function digestOf(files: MeshFiles): string {
  const hash = crypto.createHash('sha256');
  for (const mesh of [...files.keys()].sort()) {
    const entries = files.get(mesh) ?? new Map<string, string>();
    for (const file of [...entries.keys()].sort()) hash.update(`${mesh}\0${file}\0${entries.get(file) ?? ''}\0`);
  }
  return hash.digest('hex');
}

export interface CaFileWatchOptions {
  /** Content poll interval; 0 turns the poll off. Default 60 s. */
  readonly pollMs?: number;
  /** Directory watches (fs.watch); default on. */
  readonly watch?: boolean;
}

/** What a CA file holds now, for the poll: a digest of its bytes, or why it cannot be read. */
function fileState(file: string): string {
  try {
    return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  } catch (err) {
    return err instanceof Error && 'code' in err ? String(err.code) : 'unreadable';
  }
}

/**
 * Watches the CA files a set of Meshes names and calls `onChange` when one of them changes.
 * `update(paths)` replaces the watched set (a no-op when it is the same).
 */
export class CaFileWatch {
  private paths: readonly string[] = [];
  private watcher?: { close(): void };
  private poll?: NodeJS.Timeout;
  private states = new Map<string, string>();
  private closed = false;

  constructor(
    private readonly onChange: () => void,
    private readonly options: CaFileWatchOptions = {},
  ) {}

  update(paths: readonly string[]): void {
    if (this.closed) return;
    const sorted = [...new Set(paths)].sort();
    if (sorted.join('\0') === this.paths.join('\0')) return;
    this.stopWatching();
    this.paths = sorted;
    if (sorted.length === 0) return;
    if (this.options.watch ?? true) this.watcher = watchConfigPaths([...sorted], () => this.changed());
    const pollMs = this.options.pollMs ?? 60_000;
    if (pollMs > 0) {
      this.states = new Map(sorted.map((p) => [p, fileState(p)]));
      this.poll = setInterval(() => this.pollOnce(), pollMs);
      this.poll.unref();
    }
  }

  close(): void {
    this.closed = true;
    this.stopWatching();
  }

  private pollOnce(): void {
    let changed = false;
    for (const p of this.paths) {
      const state = fileState(p);
      if (this.states.get(p) !== state) changed = true;
      this.states.set(p, state);
    }
    if (changed) this.changed();
  }

  private changed(): void {
    if (this.closed) return;
    // What the re-check is about to read is the new baseline of the poll (no second re-check).
    if (this.poll) for (const p of this.paths) this.states.set(p, fileState(p));
    this.onChange();
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.poll) clearInterval(this.poll);
    this.poll = undefined;
  }
}

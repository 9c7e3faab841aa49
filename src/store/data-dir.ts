/**
 * Trusting a data directory (SPEC §3 serve), before anything in it is read:
 *
 * - **Ownership and modes, as ssh's StrictModes** (sshd_config(5)): the directory, everything in
 *   it, and each directory above it must belong to this process's user (or root, for the ones
 *   above), and be writable by nobody else (a directory above may be world-writable only with the
 *   sticky bit, as /tmp). Key files (the token-signing key, every blob) must not be readable by
 *   anyone else either. Otherwise another user could have planted the signing key or a CA, or
 *   could swap them later: meshcp refuses to start and says how to fix it. Symbolic links inside
 *   the directory are refused for the same reason.
 * - **One server per directory**: `<dir>/serve.lock` holds the pid, host and start time of the
 *   server using it (as PostgreSQL's postmaster.pid). A second server refuses with the holder's
 *   pid. A lock whose process is gone (same host, no such pid) is stale and taken over; a
 *   takeover is itself guarded by an exclusive `serve.lock.takeover`, so of two servers starting
 *   on one stale lock exactly one wins. Several replicas share state through etcd instead.
 *
 * POSIX only: where the platform has no uids (Windows), the checks are skipped.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isCode } from './atomic.js';

export const LOCK_FILE = 'serve.lock';
const TAKEOVER_FILE = 'serve.lock.takeover';

/** A data directory (or a file in it) another user could have written: refused, with how to fix it. */
export class UntrustedDataDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UntrustedDataDirError';
  }
}

/** The data directory is used by another running server. */
export class DataDirLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirLockedError';
  }
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

function ownerProblem(file: string, stat: fs.Stats, uid: number, allowRoot: boolean): string | undefined {
  if (stat.uid === uid || (allowRoot && stat.uid === 0)) return undefined;
  return `${file} is owned by uid ${stat.uid}, not by the user meshcp runs as (uid ${uid}): another user could have planted or changed it. Check what it holds, then \`chown ${uid} ${file}\` (or remove it), or run meshcp as its owner`;
}

/** Whether `file` holds key material: the token-signing key, CA keys (every blob), any `*.key`. */
function isKeyFile(relative: string): boolean {
  return relative === 'token-signing.key' || relative.startsWith(`blobs${path.sep}`) || relative.endsWith('.key');
}

/** Checks the directories above `dir`: owned by root or this user, not writable by others unless sticky. */
function checkAncestors(dir: string, uid: number): void {
  let current = path.dirname(dir);
  for (;;) {
    const stat = fs.statSync(current);
    const owner = ownerProblem(current, stat, uid, true);
    if (owner) throw new UntrustedDataDirError(`data directory ${dir}: ${owner}`);
    const sticky = (stat.mode & 0o1000) !== 0;
    if ((stat.mode & 0o022) !== 0 && !sticky) {
      throw new UntrustedDataDirError(
        `data directory ${dir}: ${current} above it is writable by ${stat.mode & 0o002 ? 'other users' : 'its group'} (mode ${octal(stat.mode)}), so they could replace the data directory; fix it with \`chmod go-w ${current}\`, or put the data directory elsewhere`,
      );
    }
    const parent = path.dirname(current);
    if (parent === current) return;
    current = parent;
  }
}

/** Refuses a data directory or file that another user owns or may write (StrictModes); see the file comment. */
export function checkDataDirTrust(dir: string): void {
  const uid = process.geteuid?.();
  if (uid === undefined) return;
  const root = path.resolve(dir);
  checkAncestors(root, uid);
  const walk = (current: string): void => {
    const stat = fs.lstatSync(current);
    const relative = path.relative(root, current);
    const shown = current;
    if (stat.isSymbolicLink()) {
      throw new UntrustedDataDirError(`data directory ${root}: ${shown} is a symbolic link; meshcp writes only regular files and directories there, so it refuses to follow one. Remove it`);
    }
    const owner = ownerProblem(shown, stat, uid, false);
    if (owner) throw new UntrustedDataDirError(`data directory ${root}: ${owner}`);
    if ((stat.mode & 0o022) !== 0) {
      throw new UntrustedDataDirError(
        `data directory ${root}: ${shown} is writable by ${stat.mode & 0o002 ? 'other users' : 'its group'} (mode ${octal(stat.mode)}); fix it with \`chmod go-w ${shown}\` (meshcp creates it 0${stat.isDirectory() ? '700' : '600'})`,
      );
    }
    if (stat.isFile() && isKeyFile(relative) && (stat.mode & 0o077) !== 0) {
      throw new UntrustedDataDirError(`data directory ${root}: key file ${shown} is accessible by other users (mode ${octal(stat.mode)}); fix it with \`chmod 600 ${shown}\``);
    }
    if (stat.isDirectory()) for (const name of fs.readdirSync(current)) walk(path.join(current, name));
  };
  walk(root);
}

/** Refuses a key file another user owns or may read or write (`meshcp token generate --data-dir` reads it outside a store). */
export function checkKeyFileTrust(file: string): void {
  const uid = process.geteuid?.();
  if (uid === undefined) return;
  const stat = fs.lstatSync(file);
  if (stat.isSymbolicLink()) throw new UntrustedDataDirError(`${file} is a symbolic link; give the key file itself`);
  const owner = ownerProblem(file, stat, uid, false);
  if (owner) throw new UntrustedDataDirError(owner);
  if ((stat.mode & 0o077) !== 0) throw new UntrustedDataDirError(`key file ${file} is accessible by other users (mode ${octal(stat.mode)}); fix it with \`chmod 600 ${file}\``);
}

interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
}

function readHolder(file: string): { holder?: LockHolder; text: string } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (isCode(err, 'ENOENT')) return undefined;
    throw err;
  }
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (typeof value.pid === 'number' && Number.isSafeInteger(value.pid) && value.pid > 0 && typeof value.host === 'string') {
      return { holder: { pid: value.pid, host: value.host, since: String(value.since ?? '') }, text };
    }
  } catch {
    // A lock being written right now, or damaged: treated as held once, then as stale.
  }
  return { text };
}

/** Whether the process that wrote the lock still runs (on another host: assumed so, it cannot be checked). */
function alive(holder: LockHolder): boolean {
  if (holder.host !== os.hostname()) return true;
  // The same pid: this process (a second server in it), or an earlier process that had the same
  // pid, as a container's pid 1 after a restart; only a lock written since this process started is ours.
  if (holder.pid === process.pid) return Date.parse(holder.since) >= Date.now() - process.uptime() * 1000 - 1000;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return isCode(err, 'EPERM');
  }
}

function createExclusive(file: string, content: string): boolean {
  try {
    fs.writeFileSync(file, content, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (err) {
    if (isCode(err, 'EEXIST')) return false;
    throw err;
  }
}

/** The lock of one data directory, held from `acquire` to `release`. */
export class DataDirLock {
  private readonly file: string;
  private readonly content: string;
  private held = false;

  constructor(private readonly dir: string) {
    this.file = path.join(dir, LOCK_FILE);
    this.content = `${JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() })}\n`;
  }

  acquire(): void {
    for (let attempt = 0; attempt < 4; attempt++) {
      if (createExclusive(this.file, this.content)) {
        this.held = true;
        return;
      }
      const found = readHolder(this.file);
      if (!found) continue;
      if (found.holder && alive(found.holder)) throw this.lockedError(found.holder);
      if (!found.holder && attempt === 0) continue; // being written: look again
      this.takeOver(found.text);
    }
    throw new DataDirLockedError(`data directory ${this.dir}: could not take its lock ${this.file}; another meshcp seems to be starting on it`);
  }

  /** Removes the lock if it is still this server's. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    try {
      if (fs.readFileSync(this.file, 'utf8') === this.content) fs.unlinkSync(this.file);
    } catch {
      // Gone already: nothing to release.
    }
  }

  /** Removes a stale lock, unless another server replaced it meanwhile; one takeover at a time. */
  private takeOver(staleText: string): void {
    const takeover = path.join(this.dir, TAKEOVER_FILE);
    if (!createExclusive(takeover, this.content)) {
      const other = readHolder(takeover);
      if (other?.holder && alive(other.holder)) throw this.lockedError(other.holder);
      fs.rmSync(takeover, { force: true });
      return;
    }
    try {
      if (readHolder(this.file)?.text === staleText) fs.rmSync(this.file, { force: true });
    } finally {
      fs.rmSync(takeover, { force: true });
    }
  }

  private lockedError(holder: LockHolder): DataDirLockedError {
    const where = holder.host === os.hostname() ? `pid ${holder.pid}` : `pid ${holder.pid} on host ${holder.host}`;
    return new DataDirLockedError(
      `data directory ${this.dir} is in use by another meshcp serve (${where}${holder.since !== '' ? `, since ${holder.since}` : ''}); stop it first, or give this one another --data-dir (replicas share state through --store etcd://…). If no meshcp runs there, remove ${this.file}`,
    );
  }
}

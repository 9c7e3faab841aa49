/**
 * Token signing keys and revocations (SPEC §2 "Token lifecycle", as Kuma's signing key rotation
 * and revocation list): one object per control plane, over the store's blobs, so every replica
 * sees the same keys and revocations and picks up a change without a restart (the store's
 * `blobChanges`: an etcd watch; the data directory's own writes).
 *
 *   auth/signing-keys/<kid>   {created, retireAt?, removed?, key?}   (the store seals blobs at rest)
 *   auth/revoked/r-<hash>     {id, revokedAt, expiresAt?}
 *
 * - The **initial key** is the one earlier versions made (the data directory's token-signing.key,
 *   or etcd's auth/token-signing.key, created once): its material stays there, so nothing that
 *   reads it changes; its record under signing-keys/ carries only its retirement or removal.
 * - **Rotation** adds a key, which signs from then on (the newest key that is neither retired nor
 *   removed); the older keys keep verifying until `retireAt` (the grace period), or until removed.
 *   Tokens name their key (`kid`); a token without one (earlier versions) was signed by the
 *   initial key.
 * - **Revocation** lists a token's `jti` (or a hash of a token without one) until the token would
 *   have expired anyway; a revoked token is refused, and streams that presented it end.
 *
 * Streams register the token they presented (`watch`): on every change each is checked again, and
 * one that no longer verifies is ended with the reason; one whose key got a retirement date ends at
 * that date. A change costs one HMAC per open stream.
 */
import crypto from 'node:crypto';
import type { Observable, Subscription } from 'rxjs';
import { generateToken, keyIdOf, revocationIdOf, SIGNING_KEY_BYTES, verifyTokenWith, type TokenClaims, type VerifiedToken } from './token.js';
import type { InitialKey } from './initial-key.js';

export const KEYS_PREFIX = 'auth/signing-keys/';
export const REVOKED_PREFIX = 'auth/revoked/';

/** The store's blobs, as the keyring uses them (Store, or a read-only view of a data directory). */
export interface KeyringStore {
  getBlob(name: string): Promise<Buffer | undefined>;
  putBlob(name: string, data: string | Uint8Array, options?: { ifAbsent?: boolean }): Promise<boolean>;
  deleteBlob(name: string): Promise<boolean>;
  listBlobs(prefix: string): Promise<string[]>;
  blobChanges?(prefix: string): Observable<void>;
}

export type { InitialKey } from './initial-key.js';

export interface KeyringLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface SigningKeyInfo {
  readonly kid: string;
  readonly created: string;
  readonly retireAt?: string;
  readonly removed: boolean;
  /** Whether it signs new tokens. */
  readonly current: boolean;
  readonly initial: boolean;
}

interface SigningKey {
  readonly kid: string;
  readonly key: Buffer;
  readonly created: Date;
  readonly retireAt?: Date;
  readonly removed: boolean;
  readonly initial: boolean;
}

interface KeyRecord {
  readonly created?: string;
  readonly retireAt?: string;
  readonly removed?: boolean;
  readonly key?: string;
}

export type TokenCheck = { readonly ok: true; readonly token: VerifiedToken; readonly expiresAt: Date } | { readonly ok: false; readonly reason: string };

interface Watch {
  readonly token: string;
  readonly end: (reason: string) => void;
  expiresAt: Date;
  timer?: NodeJS.Timeout;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

function parseJson<T>(data: Buffer | undefined): T | undefined {
  if (!data) return undefined;
  try {
    const value: unknown = JSON.parse(data.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}

function date(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const at = new Date(text);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

export function revocationBlobName(id: string): string {
  return `${REVOKED_PREFIX}r-${crypto.createHash('sha256').update(id).digest('hex').slice(0, 40)}`;
}

export class TokenKeyring {
  private keys = new Map<string, SigningKey>();
  private revoked = new Map<string, { readonly revokedAt: Date; readonly expiresAt?: Date }>();
  private readonly watches = new Set<Watch>();
  private readonly subscriptions: Subscription[] = [];
  private reloading: Promise<void> | undefined;
  private reloadAgain = false;
  private closed = false;
  /** Incremented after every reload; tests wait on it. */
  reloads = 0;

  private constructor(
    private readonly store: KeyringStore,
    private readonly initial: InitialKey,
    /** The server's keyring makes the initial key when there is none; readers never do. */
    private readonly create: boolean,
    private readonly log: KeyringLogger | undefined,
    private readonly now: () => Date,
  ) {}

  /**
   * Loads the keys and revocations; `create`: make the initial key if there is none (the server),
   * else a keyring without keys signs nothing (offline readers). Follows the store's changes.
   */
  static async open(store: KeyringStore, initial: InitialKey, options: { create: boolean; log?: KeyringLogger; now?: () => Date; follow?: boolean }): Promise<TokenKeyring> {
    const keyring = new TokenKeyring(store, initial, options.create, options.log, options.now ?? (() => new Date()));
    await keyring.load();
    // Everything under auth/: rotated keys, revocations, and the initial key itself (deleted by
    // hand, it is gone at once: its tokens are refused, and the server makes a new one).
    if (options.follow !== false && store.blobChanges) keyring.subscriptions.push(store.blobChanges('auth/').subscribe(() => void keyring.reload()));
    return keyring;
  }

  /** The key that signs new tokens: the newest neither retired nor removed. */
  current(): { readonly kid: string; readonly key: Buffer } {
    const now = this.now();
    const usable = [...this.keys.values()].filter((k) => !k.removed && (k.retireAt === undefined || k.retireAt > now));
    const newest = usable.sort((a, b) => b.created.getTime() - a.created.getTime() || (a.kid < b.kid ? -1 : 1))[0];
    if (!newest) throw new Error('no token signing key can sign: every key is retired or removed; rotate the signing key (meshcp token rotate-signing-key)');
    return newest;
  }

  sign(claims: { readonly name: string; readonly mesh: string; readonly validForSeconds: number }): string {
    const { kid, key } = this.current();
    return generateToken({ ...claims, now: this.now(), kid }, key);
  }

  keyInfo(): SigningKeyInfo[] {
    let current: string | undefined;
    try {
      current = this.current().kid;
    } catch {
      current = undefined;
    }
    return [...this.keys.values()]
      .sort((a, b) => a.created.getTime() - b.created.getTime())
      .map((k) => ({ kid: k.kid, created: k.created.toISOString(), ...(k.retireAt ? { retireAt: k.retireAt.toISOString() } : {}), removed: k.removed, current: k.kid === current, initial: k.initial }));
  }

  /** Verifies a token against the accepted keys and the revocation list; `expiresAt` counts its key's retirement too. */
  check(token: string, now: Date = this.now()): TokenCheck {
    let signer: SigningKey | undefined;
    const result = verifyTokenWith(
      token,
      (kid) => {
        const key = kid === undefined ? [...this.keys.values()].find((k) => k.initial) : this.keys.get(kid);
        if (!key) return kid === undefined ? 'no token signing key verifies tokens without a key id' : `signed with key ${kid}, which this control plane does not have (removed, or another control plane's)`;
        if (key.removed) return `signed with key ${key.kid}, which was removed`;
        if (key.retireAt && key.retireAt <= now) return `signed with key ${key.kid}, retired at ${key.retireAt.toISOString()}; use a token signed with the current key`;
        signer = key;
        return [key.key];
      },
      now,
    );
    if (!result.ok) return result;
    const id = revocationIdOf(token, result.token.claims);
    const revoked = this.revoked.get(id);
    if (revoked) return { ok: false, reason: `token ${id} was revoked at ${revoked.revokedAt.toISOString()}` };
    const exp = new Date(result.token.claims.exp * 1000);
    const retire = signer?.retireAt;
    return { ok: true, token: result.token, expiresAt: retire && retire < exp ? retire : exp };
  }

  /**
   * Ends (`end(reason)`) what presented `token` once it stops verifying: revoked, its key removed
   * or retired. Returns the way to stop watching.
   */
  watch(token: string, expiresAt: Date, end: (reason: string) => void): () => void {
    const watch: Watch = { token, end, expiresAt };
    this.watches.add(watch);
    return () => {
      if (watch.timer) clearTimeout(watch.timer);
      this.watches.delete(watch);
    };
  }

  /** Adds a key that signs from now on; every other usable key retires after `graceSeconds` (0: at once). */
  async rotate(graceSeconds: number): Promise<{ readonly kid: string; readonly retiring: readonly { readonly kid: string; readonly retireAt: string }[] }> {
    const now = this.now();
    const key = crypto.randomBytes(SIGNING_KEY_BYTES);
    const kid = keyIdOf(key);
    const retireAt = new Date(now.getTime() + graceSeconds * 1000);
    await this.store.putBlob(`${KEYS_PREFIX}${kid}`, JSON.stringify({ created: now.toISOString(), key: key.toString('base64') }), { ifAbsent: true });
    const retiring: { kid: string; retireAt: string }[] = [];
    for (const old of this.keys.values()) {
      if (old.removed || (old.retireAt && old.retireAt <= retireAt)) continue;
      await this.writeRecord(old, { retireAt: retireAt.toISOString() });
      retiring.push({ kid: old.kid, retireAt: retireAt.toISOString() });
    }
    await this.reload();
    this.log?.info({ kid, retiring }, 'token signing key rotated: the new key signs; the others verify until they retire');
    return { kid, retiring };
  }

  /** Removes a key at once: tokens it signed are refused and their streams end. The key that signs cannot be removed. */
  async remove(kid: string): Promise<void> {
    const key = this.keys.get(kid);
    if (!key) throw new KeyringError(404, `no token signing key ${JSON.stringify(kid)}; list them with \`meshcp token signing-keys\``);
    if (key.removed) return;
    if (this.current().kid === kid) throw new KeyringError(409, `key ${kid} signs new tokens; rotate first (meshcp token rotate-signing-key), then remove it`);
    await this.writeRecord(key, { removed: true });
    await this.reload();
    this.log?.info({ kid }, 'token signing key removed: tokens it signed are refused');
  }

  /** Lists a token as revoked until `expiresAt` (its own expiry; kept for ever when unknown). Returns its id. */
  async revoke(id: string, expiresAt?: Date): Promise<{ readonly id: string; readonly alreadyRevoked: boolean }> {
    const record = { id, revokedAt: this.now().toISOString(), ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}) };
    const created = await this.store.putBlob(revocationBlobName(id), JSON.stringify(record), { ifAbsent: true });
    await this.reload();
    if (created) this.log?.info({ id }, 'dataplane token revoked');
    return { id, alreadyRevoked: !created };
  }

  /** Loads again (a change in the store); changes are coalesced, and open streams checked once loaded. */
  reload(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      do {
        this.reloadAgain = false;
        try {
          await this.load();
        } catch (err) {
          this.log?.warn({ reason: err instanceof Error ? err.message.split('\n')[0] : String(err) }, 'could not reload the token signing keys and revocations; keeping the last ones loaded');
        }
        this.recheck();
      } while (this.reloadAgain && !this.closed);
      this.reloading = undefined;
      this.reloads++;
    })();
    return this.reloading;
  }

  close(): void {
    this.closed = true;
    for (const s of this.subscriptions) s.unsubscribe();
    for (const w of this.watches) if (w.timer) clearTimeout(w.timer);
    this.watches.clear();
  }

  private async load(): Promise<void> {
    const create = this.create;
    const keys = new Map<string, SigningKey>();
    const records = new Map<string, KeyRecord>();
    for (const name of await this.store.listBlobs(KEYS_PREFIX)) {
      const record = parseJson<KeyRecord>(await this.store.getBlob(name));
      if (record) records.set(name.slice(KEYS_PREFIX.length), record);
    }
    const rotated = [...records.values()].some((r) => r.key !== undefined);
    // The server creates the initial key once, as before rotation existed; readers never do.
    const initial = create && !rotated ? await this.initial.loadOrCreate() : await this.initial.load();
    if (initial) {
      const kid = keyIdOf(initial);
      const record = records.get(kid);
      keys.set(kid, { kid, key: initial, created: new Date(0), ...this.lifecycle(record), initial: true });
    }
    for (const [kid, record] of records) {
      if (record.key === undefined || keys.has(kid)) continue;
      const key = Buffer.from(record.key, 'base64');
      if (key.length < SIGNING_KEY_BYTES || keyIdOf(key) !== kid) {
        this.log?.warn({ kid }, 'ignoring a token signing key record whose key does not match its id');
        continue;
      }
      keys.set(kid, { kid, key, created: date(record.created) ?? new Date(0), ...this.lifecycle(record), initial: false });
    }
    const now = this.now();
    const revoked = new Map<string, { revokedAt: Date; expiresAt?: Date }>();
    for (const name of await this.store.listBlobs(REVOKED_PREFIX)) {
      const record = parseJson<{ id?: string; revokedAt?: string; expiresAt?: string }>(await this.store.getBlob(name));
      if (typeof record?.id !== 'string') continue;
      const expiresAt = date(record.expiresAt);
      // A revoked token past its own expiry is refused anyway: its entry is no longer needed.
      if (expiresAt && expiresAt.getTime() < now.getTime() - 3_600_000) {
        if (create) void this.store.deleteBlob(name).catch(() => undefined);
        continue;
      }
      revoked.set(record.id, { revokedAt: date(record.revokedAt) ?? new Date(0), ...(expiresAt ? { expiresAt } : {}) });
    }
    this.keys = keys;
    this.revoked = revoked;
  }

  private lifecycle(record: KeyRecord | undefined): { retireAt?: Date; removed: boolean } {
    const retireAt = date(record?.retireAt);
    return { ...(retireAt ? { retireAt } : {}), removed: record?.removed === true };
  }

  private async writeRecord(key: SigningKey, change: Partial<KeyRecord>): Promise<void> {
    const name = `${KEYS_PREFIX}${key.kid}`;
    const record = parseJson<KeyRecord>(await this.store.getBlob(name)) ?? { created: key.created.toISOString() };
    await this.store.putBlob(name, JSON.stringify({ ...record, ...change }));
  }

  /** Every open stream's token, checked again: ended when it no longer verifies, or at its key's retirement. */
  private recheck(): void {
    const now = this.now();
    for (const watch of [...this.watches]) {
      const result = this.check(watch.token, now);
      if (!result.ok) {
        this.watches.delete(watch);
        if (watch.timer) clearTimeout(watch.timer);
        watch.end(result.reason);
        continue;
      }
      if (result.expiresAt < watch.expiresAt) {
        watch.expiresAt = result.expiresAt;
        if (watch.timer) clearTimeout(watch.timer);
        const arm = (): void => {
          const remaining = watch.expiresAt.getTime() - this.now().getTime();
          if (remaining > 0) {
            watch.timer = setTimeout(arm, Math.min(remaining, MAX_TIMER_MS));
            return;
          }
          this.watches.delete(watch);
          watch.end(`its signing key retired at ${watch.expiresAt.toISOString()}`);
        };
        arm();
      }
    }
  }
}

/** A refused keyring operation, with the HTTP status the admin API answers. */
export class KeyringError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'KeyringError';
  }
}

/** The claims a verified token carries, for callers that need no key id. */
export type { TokenClaims };

/**
 * Dataplane tokens (SPEC §2): a proxy proves it may act as `name` in `mesh` until `exp`.
 * The format is a compact JWS with HS256 (RFC 7515/7519): `header.payload.signature`, each
 * base64url. Only HS256 is accepted: honouring the header's `alg` (e.g. `none`) is the classic
 * JWT downgrade (https://www.rfc-editor.org/rfc/rfc8725#section-2.1).
 *
 * The header names the signing key (`kid`) and the payload carries an id (`jti`), as Kuma's
 * tokens do, so keys can be rotated (old and new verify during a grace period) and a token
 * revoked (auth/keyring.ts). Tokens of earlier versions (no `kid`, no `jti`) still verify with
 * the key that signed them, and are revoked by a hash of the token.
 *
 * Tokens are authorization material, not private keys: they may be printed by `token generate`,
 * but should be kept out of logs.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createFileAtomic } from '../store/atomic.js';
import { checkKeyFileTrust } from '../store/data-dir.js';
import type { InitialKey } from './initial-key.js';

export interface TokenClaims {
  readonly name: string;
  readonly mesh: string;
  /** Issued at, seconds since the epoch. */
  readonly iat: number;
  /** Expires at, seconds since the epoch. */
  readonly exp: number;
  /** The token's id (`jti`), what `meshcp token revoke --id` names; absent in tokens of earlier versions. */
  readonly jti?: string;
}

/** A token's signing key id (the JWS header's `kid`), when it names one. */
export interface VerifiedToken {
  readonly claims: TokenClaims;
  readonly kid?: string;
}


export interface GenerateTokenOptions {
  readonly name: string;
  readonly mesh: string;
  readonly validForSeconds: number;
  readonly now?: Date;
  /** The signing key's id, put in the header (`kid`) so a verifier with several keys knows which (keyring.ts). */
  readonly kid?: string;
}

/** HMAC-SHA256 keys shorter than the hash output weaken it (RFC 2104 §3). */
export const SIGNING_KEY_BYTES = 32;
export const SIGNING_KEY_FILE = 'token-signing.key';


function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

function sign(signingInput: string, key: Buffer): Buffer {
  return crypto.createHmac('sha256', key).update(signingInput).digest();
}

function assertSigningKey(key: Buffer): void {
  if (key.length < SIGNING_KEY_BYTES) throw new Error(`token signing key must be at least ${SIGNING_KEY_BYTES} bytes`);
}

export function generateToken(options: GenerateTokenOptions, signingKey: Buffer): string {
  const { name, mesh, validForSeconds, now = new Date() } = options;
  if (name === '') throw new Error('token name must not be empty');
  if (mesh === '') throw new Error('token mesh must not be empty');
  if (!Number.isFinite(validForSeconds) || validForSeconds <= 0) throw new Error(`token validity must be a positive duration, got ${validForSeconds}s`);
  assertSigningKey(signingKey);
  const iat = Math.floor(now.getTime() / 1000);
  // A random id per token (RFC 7519 jti), for revocation.
  const claims: TokenClaims = { jti: crypto.randomBytes(16).toString('base64url'), name, mesh, iat, exp: iat + Math.ceil(validForSeconds) };
  const header = { alg: 'HS256', typ: 'JWT', ...(options.kid !== undefined ? { kid: options.kid } : {}) };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  return `${signingInput}.${base64url(sign(signingInput, signingKey))}`;
}

/** The key id of a signing key: the first 16 hex digits of its SHA-256 (says nothing usable about a 256-bit random key). */
export function keyIdOf(key: Buffer): string {
  return `k-${crypto.createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
}

/** What identifies a token for revocation: its `jti`, or for a token of an earlier version without one, a hash of the token. */
export function revocationIdOf(token: string, claims?: Pick<TokenClaims, 'jti'>): string {
  return claims?.jti ?? `sha256-${crypto.createHash('sha256').update(token.trim()).digest('hex').slice(0, 32)}`;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

function decodeJsonObject(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function fail(reason: string): { readonly ok: false; readonly reason: string } {
  return { ok: false, reason };
}

export type KeyedVerification = { readonly ok: true; readonly token: VerifiedToken } | { readonly ok: false; readonly reason: string };

/**
 * Checks the signature with the keys `keysFor` gives for the header's `kid` (all accepted keys
 * for a token without one; none: the reason it gives), then the claims.
 */
export function verifyTokenWith(token: string, keysFor: (kid: string | undefined) => readonly Buffer[] | string, now: Date = new Date()): KeyedVerification {
  const parts = token.trim().split('.');
  if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p))) return fail('malformed token: expected header.payload.signature in base64url');
  const [headerPart = '', payloadPart = '', signaturePart = ''] = parts;
  const header = decodeJsonObject(headerPart);
  if (header === undefined) return fail('malformed token: the header is not a JSON object');
  if (header['alg'] !== 'HS256') return fail(`unsupported token algorithm ${JSON.stringify(header['alg'] ?? null)}; only HS256 is accepted`);
  const kid = header['kid'];
  if (kid !== undefined && (typeof kid !== 'string' || kid.length > 64)) return fail('malformed token: kid is not a short string');
  const keys = keysFor(kid);
  if (typeof keys === 'string') return fail(keys);
  const actual = Buffer.from(signaturePart, 'base64url');
  // timingSafeEqual needs equal lengths; the length of an HMAC-SHA256 is public anyway.
  // Base64url has spare bits in its last character; only the canonical encoding is accepted, so a token has one spelling.
  const canonical = actual.toString('base64url') === signaturePart;
  const signed = keys.some((key) => {
    const expected = sign(`${headerPart}.${payloadPart}`, key);
    return actual.length === expected.length && crypto.timingSafeEqual(actual, expected);
  });
  if (!canonical || !signed) return fail('invalid token signature');
  const payload = decodeJsonObject(payloadPart);
  if (payload === undefined) return fail('malformed token: the payload is not a JSON object');
  const { name, mesh, iat, exp, jti } = payload;
  if (typeof name !== 'string' || name === '' || typeof mesh !== 'string' || mesh === '') return fail('malformed token: name and mesh claims are required');
  if (typeof iat !== 'number' || typeof exp !== 'number' || !Number.isFinite(iat) || !Number.isFinite(exp)) return fail('malformed token: iat and exp claims are required');
  if (jti !== undefined && (typeof jti !== 'string' || jti === '' || jti.length > 64)) return fail('malformed token: jti is not a short string');
  const nowSeconds = Math.floor(now.getTime() / 1000);
  if (nowSeconds >= exp) return fail(`token expired at ${new Date(exp * 1000).toISOString()}`);
  return { ok: true, token: { claims: { name, mesh, iat, exp, ...(jti !== undefined ? { jti } : {}) }, ...(kid !== undefined ? { kid } : {}) } };
}

/** The claims and key id of a token, unverified: for `meshcp token revoke --token-file`, which names a token it may not be able to verify. */
export function readTokenUnverified(token: string): { claims?: Partial<TokenClaims>; kid?: string } {
  const [headerPart = '', payloadPart = ''] = token.trim().split('.');
  const header = decodeJsonObject(headerPart);
  const payload = decodeJsonObject(payloadPart);
  const kid = header?.['kid'];
  const jti = payload?.['jti'];
  return { ...(payload ? { claims: { ...(typeof jti === 'string' ? { jti } : {}), ...(typeof payload['name'] === 'string' ? { name: payload['name'] } : {}), ...(typeof payload['mesh'] === 'string' ? { mesh: payload['mesh'] } : {}), ...(typeof payload['exp'] === 'number' ? { exp: payload['exp'] } : {}), ...(typeof payload['iat'] === 'number' ? { iat: payload['iat'] } : {}) } } : {}), ...(typeof kid === 'string' ? { kid } : {}) };
}

/**
 * The control plane's token signing key: 32 random bytes in `<dataDir>/token-signing.key`
 * (mode 0600), created on first use. Creation is atomic and never replaces an existing key, so
 * two processes starting together agree on one key and no token already issued is invalidated.
 */
export async function loadOrCreateSigningKey(dataDir: string): Promise<Buffer> {
  const file = path.join(dataDir, SIGNING_KEY_FILE);
  try {
    return await readSigningKey(file);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  // Created only if absent: a process that loses the race reads the winner's key.
  await createFileAtomic(file, crypto.randomBytes(SIGNING_KEY_BYTES), { mode: 0o600 });
  return readSigningKey(file);
}

async function readSigningKey(file: string): Promise<Buffer> {
  // A key another user could have planted or read signs nothing (StrictModes, store/data-dir.ts).
  checkKeyFileTrust(file);
  const key = await fs.readFile(file);
  if (key.length < SIGNING_KEY_BYTES) throw new Error(`token signing key ${file} is shorter than ${SIGNING_KEY_BYTES} bytes; delete it to generate a new one (tokens already issued become invalid)`);
  return key;
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && 'code' in err && err.code === code;
}

/** The initial key of the keyring (keyring.ts) in a data directory: `token-signing.key`. */
export function dataDirInitialKey(dataDir: string): InitialKey {
  const file = path.join(dataDir, SIGNING_KEY_FILE);
  return {
    load: async () => {
      try {
        return await readSigningKey(file);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return undefined;
        throw err;
      }
    },
    loadOrCreate: () => loadOrCreateSigningKey(dataDir),
  };
}

/**
 * Dataplane tokens (SPEC §2): a proxy proves it may act as `name` in `mesh` until `exp`.
 * The format is a compact JWS with HS256 (RFC 7515/7519): `header.payload.signature`, each
 * base64url. Only HS256 is accepted: honouring the header's `alg` (e.g. `none`) is the classic
 * JWT downgrade (https://www.rfc-editor.org/rfc/rfc8725#section-2.1).
 *
 * Tokens are authorization material, not private keys: they may be printed by `token generate`,
 * but should be kept out of logs.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createFileAtomic } from '../store/atomic.js';
import { checkKeyFileTrust } from '../store/data-dir.js';

export interface TokenClaims {
  readonly name: string;
  readonly mesh: string;
  /** Issued at, seconds since the epoch. */
  readonly iat: number;
  /** Expires at, seconds since the epoch. */
  readonly exp: number;
}

export type TokenVerification = { readonly ok: true; readonly claims: TokenClaims } | { readonly ok: false; readonly reason: string };

export interface GenerateTokenOptions {
  readonly name: string;
  readonly mesh: string;
  readonly validForSeconds: number;
  readonly now?: Date;
}

/** HMAC-SHA256 keys shorter than the hash output weaken it (RFC 2104 §3). */
export const SIGNING_KEY_BYTES = 32;
export const SIGNING_KEY_FILE = 'token-signing.key';

const HEADER = { alg: 'HS256', typ: 'JWT' } as const;

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
  const claims: TokenClaims = { name, mesh, iat, exp: iat + Math.ceil(validForSeconds) };
  const signingInput = `${base64url(JSON.stringify(HEADER))}.${base64url(JSON.stringify(claims))}`;
  return `${signingInput}.${base64url(sign(signingInput, signingKey))}`;
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

function fail(reason: string): TokenVerification {
  return { ok: false, reason };
}

/** Checks the signature, then the claims. Reasons are one line and safe to log. */
export function verifyToken(token: string, signingKey: Buffer, now: Date = new Date()): TokenVerification {
  const parts = token.trim().split('.');
  if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p))) return fail('malformed token: expected header.payload.signature in base64url');
  const [headerPart = '', payloadPart = '', signaturePart = ''] = parts;
  const header = decodeJsonObject(headerPart);
  if (header === undefined) return fail('malformed token: the header is not a JSON object');
  if (header['alg'] !== 'HS256') return fail(`unsupported token algorithm ${JSON.stringify(header['alg'] ?? null)}; only HS256 is accepted`);
  const expected = sign(`${headerPart}.${payloadPart}`, signingKey);
  const actual = Buffer.from(signaturePart, 'base64url');
  // timingSafeEqual needs equal lengths; the length of an HMAC-SHA256 is public anyway.
  // Base64url has spare bits in its last character; only the canonical encoding is accepted, so a token has one spelling.
  const canonical = actual.toString('base64url') === signaturePart;
  if (!canonical || actual.length !== expected.length || !crypto.timingSafeEqual(actual, expected)) return fail('invalid token signature');
  const payload = decodeJsonObject(payloadPart);
  if (payload === undefined) return fail('malformed token: the payload is not a JSON object');
  const { name, mesh, iat, exp } = payload;
  if (typeof name !== 'string' || name === '' || typeof mesh !== 'string' || mesh === '') return fail('malformed token: name and mesh claims are required');
  if (typeof iat !== 'number' || typeof exp !== 'number' || !Number.isFinite(iat) || !Number.isFinite(exp)) return fail('malformed token: iat and exp claims are required');
  const nowSeconds = Math.floor(now.getTime() / 1000);
  if (nowSeconds >= exp) return fail(`token expired at ${new Date(exp * 1000).toISOString()}`);
  return { ok: true, claims: { name, mesh, iat, exp } };
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

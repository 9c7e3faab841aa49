import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { generateToken, loadOrCreateSigningKey, SIGNING_KEY_FILE } from '../../src/auth/token.js';
import { verifyToken } from '../helpers/verify-token.js';

const NOW = new Date('2030-01-01T00:00:00Z');
const KEY = crypto.randomBytes(32);

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function hs256(input: string, key: Buffer): string {
  return crypto.createHmac('sha256', key).update(input).digest('base64url');
}

describe('dataplane tokens', () => {
  it('round-trips name, mesh, iat and exp, with a random id and the key id in the header', () => {
    // given
    const token = generateToken({ name: 'web-01', mesh: 'default', validForSeconds: 3600, now: NOW, kid: 'k-1' }, KEY);
    const other = generateToken({ name: 'web-01', mesh: 'default', validForSeconds: 3600, now: NOW }, KEY);
    // when
    const result = verifyToken(token, KEY, new Date(NOW.getTime() + 1000));
    // then
    expect(result).toEqual({ ok: true, claims: { jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), name: 'web-01', mesh: 'default', iat: 1893456000, exp: 1893459600 } });
    expect(token.split('.')).toHaveLength(3);
    expect(JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT', kid: 'k-1' });
    expect(JSON.parse(Buffer.from(other.split('.')[0] ?? '', 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT' });
    const jti = (r: ReturnType<typeof verifyToken>): string | undefined => (r.ok ? r.claims.jti : undefined);
    expect(jti(verifyToken(other, KEY, NOW))).not.toBe(jti(result));
  });

  it('round-trips any name and mesh', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), fc.integer({ min: 1, max: 10 * 365 * 86_400 }), (name, mesh, seconds) => {
        // given
        const token = generateToken({ name, mesh, validForSeconds: seconds, now: NOW }, KEY);
        // when
        const result = verifyToken(token, KEY, NOW);
        // then
        expect(result.ok && result.claims.name === name && result.claims.mesh === mesh).toBe(true);
      }),
    );
  });

  it('rejects a tampered payload', () => {
    // given a token for web-01, whose payload is swapped for one naming backend-01
    const [header = '', payload = '', signature = ''] = generateToken({ name: 'web-01', mesh: 'default', validForSeconds: 3600, now: NOW }, KEY).split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${header}.${b64url({ ...claims, name: 'backend-01' })}.${signature}`;
    // when / then
    expect(verifyToken(forged, KEY, NOW)).toEqual({ ok: false, reason: 'invalid token signature' });
  });

  it('rejects any single-character change', () => {
    // given
    const token = generateToken({ name: 'web-01', mesh: 'default', validForSeconds: 3600, now: NOW }, KEY);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    fc.assert(
      fc.property(fc.nat({ max: token.length - 1 }), fc.constantFrom(...alphabet), (at, replacement) => {
        fc.pre(token[at] !== '.' && token[at] !== replacement);
        // when
        const changed = token.slice(0, at) + replacement + token.slice(at + 1);
        // then
        expect(verifyToken(changed, KEY, NOW).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects a token signed with another key', () => {
    // given
    const token = generateToken({ name: 'web-01', mesh: 'default', validForSeconds: 3600, now: NOW }, crypto.randomBytes(32));
    // when / then
    expect(verifyToken(token, KEY, NOW)).toEqual({ ok: false, reason: 'invalid token signature' });
  });

  it('rejects an expired token', () => {
    // given
    const token = generateToken({ name: 'web-01', mesh: 'default', validForSeconds: 60, now: NOW }, KEY);
    // when
    const atExpiry = verifyToken(token, KEY, new Date(NOW.getTime() + 60_000));
    const justBefore = verifyToken(token, KEY, new Date(NOW.getTime() + 59_000));
    // then
    expect(atExpiry).toEqual({ ok: false, reason: 'token expired at 2030-01-01T00:01:00.000Z' });
    expect(justBefore.ok).toBe(true);
  });

  it('rejects alg none and any algorithm other than HS256', () => {
    // given
    const payload = b64url({ name: 'web-01', mesh: 'default', iat: 1893456000, exp: 1993456000 });
    const none = `${b64url({ alg: 'none', typ: 'JWT' })}.${payload}.`;
    const hs512Header = b64url({ alg: 'HS512', typ: 'JWT' });
    const hs512 = `${hs512Header}.${payload}.${hs256(`${hs512Header}.${payload}`, KEY)}`;
    // when / then
    expect(verifyToken(none, KEY, NOW)).toEqual({ ok: false, reason: 'unsupported token algorithm "none"; only HS256 is accepted' });
    expect(verifyToken(hs512, KEY, NOW)).toEqual({ ok: false, reason: 'unsupported token algorithm "HS512"; only HS256 is accepted' });
  });

  it('rejects malformed tokens', () => {
    // given
    const header = b64url({ alg: 'HS256' });
    const notJson = Buffer.from('not json').toString('base64url');
    const signedNotJson = `${header}.${notJson}.${hs256(`${header}.${notJson}`, KEY)}`;
    const noClaims = `${header}.${b64url({})}`;
    // when / then
    expect(verifyToken('', KEY, NOW)).toEqual({ ok: false, reason: 'malformed token: expected header.payload.signature in base64url' });
    expect(verifyToken('a.b', KEY, NOW).ok).toBe(false);
    expect(verifyToken('a.b.c.d', KEY, NOW).ok).toBe(false);
    expect(verifyToken('a b.c.d', KEY, NOW).ok).toBe(false);
    expect(verifyToken(`${notJson}.${notJson}.${notJson}`, KEY, NOW)).toEqual({ ok: false, reason: 'malformed token: the header is not a JSON object' });
    expect(verifyToken(signedNotJson, KEY, NOW)).toEqual({ ok: false, reason: 'malformed token: the payload is not a JSON object' });
    expect(verifyToken(`${noClaims}.${hs256(noClaims, KEY)}`, KEY, NOW)).toEqual({ ok: false, reason: 'malformed token: name and mesh claims are required' });
  });

  it('refuses to sign with a short key or for a non-positive lifetime', () => {
    // given / when / then
    expect(() => generateToken({ name: 'a', mesh: 'default', validForSeconds: 60 }, Buffer.alloc(8))).toThrow(/at least 32 bytes/);
    expect(() => generateToken({ name: 'a', mesh: 'default', validForSeconds: 0 }, KEY)).toThrow(/positive/);
  });
});

describe('loadOrCreateSigningKey', () => {
  const roots: string[] = [];

  function dataDir(): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-token-'));
    roots.push(root);
    return path.join(root, 'data');
  }

  afterAll(() => {
    for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
  });

  it('creates 32 random bytes with mode 0600 and reuses them', async () => {
    // given
    const dir = dataDir();
    // when
    const first = await loadOrCreateSigningKey(dir);
    const second = await loadOrCreateSigningKey(dir);
    // then
    const file = path.join(dir, SIGNING_KEY_FILE);
    expect(first).toHaveLength(32);
    expect(second.equals(first)).toBe(true);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir)).toEqual([SIGNING_KEY_FILE]);
  });

  it('agrees on one key when called concurrently', async () => {
    // given
    const dir = dataDir();
    // when
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateSigningKey(dir)));
    // then
    expect(new Set(keys.map((k) => k.toString('hex'))).size).toBe(1);
    expect(fs.readdirSync(dir)).toEqual([SIGNING_KEY_FILE]);
  });

  it('refuses a truncated key file', async () => {
    // given
    const dir = dataDir();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, SIGNING_KEY_FILE), Buffer.alloc(5), { mode: 0o600 });
    // when / then
    await expect(loadOrCreateSigningKey(dir)).rejects.toThrow(/shorter than 32 bytes/);
  });

  it('verifies a token with the stored key', async () => {
    // given
    const dir = dataDir();
    const token = generateToken({ name: 'gw', mesh: 'm1', validForSeconds: 60, now: NOW }, await loadOrCreateSigningKey(dir));
    // when
    const result = verifyToken(token, await loadOrCreateSigningKey(dir), NOW);
    // then
    expect(result).toMatchObject({ ok: true, claims: { name: 'gw', mesh: 'm1' } });
  });
});

/**
 * The admin API of the token lifecycle (SPEC §2 "Token lifecycle"), under `/api/tokens/`, as
 * protected as every admin call (loopback, or mTLS with --admin-client-ca):
 *
 *   POST   /api/tokens/revoke              {"id": JTI} or {"token": TOKEN}    revoke a token
 *   GET    /api/tokens/signing-keys                                          list the signing keys (ids and dates, never a key)
 *   POST   /api/tokens/signing-keys        {"grace"?: "24h"}                 rotate: a new key signs, the others retire after the grace
 *   DELETE /api/tokens/signing-keys/{kid}                                    remove a key now (not the one that signs)
 *
 * (`POST /api/tokens` itself, which signs a token, is in admin/server.ts.) Answers are
 * `{status, body}`, errors `{errors: [one line]}` as the rest of the admin API.
 */
import { parseDuration } from '../api/duration.js';
import { KeyringError, type TokenKeyring } from './keyring.js';
import { readTokenUnverified, revocationIdOf } from './token.js';

export type TokenService = Pick<TokenKeyring, 'sign' | 'check' | 'revoke' | 'rotate' | 'remove' | 'keyInfo'>;

export interface TokenApiReply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** Default grace of a rotation: the default token lifetime, so tokens already handed out keep working until they would expire anyway. */
export const DEFAULT_ROTATION_GRACE = '24h';
const MAX_GRACE_SECONDS = 10 * 365 * 86_400;

const error = (status: number, message: string): TokenApiReply => ({ status, body: { errors: [message], warnings: [] } });

function jsonBody(body: string, shape: string): { readonly doc: Record<string, unknown> } | { readonly reply: TokenApiReply } {
  if (body.trim() === '') return { doc: {} };
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return { doc: value as Record<string, unknown> };
  } catch {
    // answered below
  }
  return { reply: error(400, `expected a JSON body ${shape}`) };
}

/** What to revoke: a token's id, or the token itself (its `jti`, or a hash of a token without one), with when it expires. */
export function revocationTarget(input: { id?: unknown; token?: unknown }): { id: string; expiresAt?: Date } | string {
  if (typeof input.token === 'string' && input.token.trim() !== '') {
    const { claims } = readTokenUnverified(input.token);
    if (!claims) return 'token: not a dataplane token (header.payload.signature)';
    return { id: revocationIdOf(input.token, claims), ...(claims.exp !== undefined ? { expiresAt: new Date(claims.exp * 1000) } : {}) };
  }
  if (typeof input.id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(input.id)) return { id: input.id };
  return 'give "id" (a token id, as `meshcp token revoke --id` takes it) or "token"';
}

export async function tokenApiRequest(tokens: TokenService, method: string, path: readonly string[], body: string): Promise<TokenApiReply> {
  const [what, kid, ...rest] = path;
  try {
    if (what === 'revoke' && kid === undefined) {
      if (method !== 'POST') return error(405, `method ${method} not allowed here; use POST`);
      const parsed = jsonBody(body, '{"id": ID} or {"token": TOKEN}');
      if ('reply' in parsed) return parsed.reply;
      const target = revocationTarget(parsed.doc);
      if (typeof target === 'string') return error(400, target);
      const result = await tokens.revoke(target.id, target.expiresAt);
      return { status: 200, body: { ...result } };
    }
    if (what === 'signing-keys' && kid === undefined) {
      if (method === 'GET') return { status: 200, body: { items: tokens.keyInfo() } };
      if (method !== 'POST') return error(405, `method ${method} not allowed here; use GET or POST`);
      const parsed = jsonBody(body, '{"grace"?: "24h"}');
      if ('reply' in parsed) return parsed.reply;
      const grace = parsed.doc['grace'] ?? DEFAULT_ROTATION_GRACE;
      const seconds = typeof grace === 'string' ? parseDuration(grace) : undefined;
      if (seconds === undefined || seconds < 0 || seconds > MAX_GRACE_SECONDS) return error(400, `grace: invalid duration ${JSON.stringify(grace)}; expected e.g. 24h, 30d, or 0s to retire the old keys at once`);
      const result = await tokens.rotate(seconds);
      return { status: 200, body: { ...result, items: tokens.keyInfo() } };
    }
    if (what === 'signing-keys' && kid !== undefined && rest.length === 0) {
      if (method !== 'DELETE') return error(405, `method ${method} not allowed here; use DELETE`);
      await tokens.remove(kid);
      return { status: 200, body: { removed: kid, items: tokens.keyInfo() } };
    }
    return error(404, `no such path /api/tokens/${path.join('/')}; see /api/tokens/revoke and /api/tokens/signing-keys`);
  } catch (err) {
    if (err instanceof KeyringError) return error(err.status, err.message);
    throw err;
  }
}

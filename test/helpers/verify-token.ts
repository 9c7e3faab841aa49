/**
 * A token checked against one signing key, as meshcp's keyring checks it against the keys it
 * holds (src/auth/keyring.ts): the signature, then the claims. Reasons are one line.
 */
import { verifyTokenWith, type TokenClaims } from '../../src/auth/token.js';

export type TokenVerification = { readonly ok: true; readonly claims: TokenClaims } | { readonly ok: false; readonly reason: string };

export function verifyToken(token: string, signingKey: Buffer, now: Date = new Date()): TokenVerification {
  const result = verifyTokenWith(token, () => [signingKey], now);
  return result.ok ? { ok: true, claims: result.token.claims } : result;
}

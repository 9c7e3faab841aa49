/**
 * Dataplane token authentication of xDS streams (SPEC §2 "Tokens"): the node must carry
 * `metadata.token`, signed with the control plane's key, naming this node's id and mesh. It is
 * checked when a stream first asks for config, before any config (or identity) flows. The token
 * itself is never logged.
 *
 * - missing, malformed, badly signed or expired: UNAUTHENTICATED (the caller did not prove who it is)
 * - valid, but for another proxy name or mesh: PERMISSION_DENIED (it proved an identity that may not act as this node)
 *
 * An accepted token's expiry is returned: the stream that presented it is closed with
 * UNAUTHENTICATED at that moment (xds/cache.ts), so an expired token stops receiving
 * certificates. Tokens are verified with the keyring (SPEC §2 "Token lifecycle"): the expiry also
 * counts the signing key's retirement, and the stream ends as soon as its token is revoked or its
 * key removed, on whichever replica it is.
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import type { TokenKeyring } from './keyring.js';
import { nodeMesh } from '../snapshot/node.js';
import type { NodeAuthentication, NodeAuthenticator } from '../snapshot/cache.js';
import { WatchError } from '../snapshot/watcher.js';
import type { Clock } from '../identity/time.js';
import { systemClock } from '../identity/time.js';

export type { NodeAuthentication, NodeAuthenticator } from '../snapshot/cache.js';

/** What verifies tokens with rotation and revocation (auth/keyring.ts). */
export type TokenVerifier = Pick<TokenKeyring, 'check' | 'watch'>;

export interface TokenAuthOptions {
  /** The signing keys and revocations tokens are checked against. */
  readonly keyring: TokenVerifier;
  readonly log: { warn(obj: object, msg: string): void; info?(obj: object, msg: string): void };
  readonly clock?: Clock;
}

export function tokenAuthenticator(options: TokenAuthOptions): NodeAuthenticator {
  const clock = options.clock ?? systemClock;
  const { keyring } = options;
  // Callers outside the type checker (plain JavaScript) still get a refusal that says what is missing.
  if (!keyring) throw new Error('tokenAuthenticator: give a keyring (auth/keyring.ts TokenKeyring) to verify dataplane tokens with');
  return (node) => {
    const mesh = nodeMesh(node);
    const refuse = (code: number, reason: string): NodeAuthentication => {
      options.log.warn({ node: node.id, mesh, reason }, 'refused an xDS stream');
      return { ok: false, error: new WatchError(code, `node "${node.id}" in mesh "${mesh}": ${reason}`) };
    };
    const token = node.metadata['token'];
    if (typeof token !== 'string' || token.trim() === '') {
      return refuse(grpcStatus.UNAUTHENTICATED, 'no dataplane token in node.metadata.token (meshcp token generate --name NAME --mesh MESH)');
    }
    const result = keyring.check(token, clock.now());
    if (!result.ok) return refuse(grpcStatus.UNAUTHENTICATED, `dataplane token refused: ${result.reason}`);
    const { claims } = result.token;
    if (claims.name !== node.id) {
      return refuse(grpcStatus.PERMISSION_DENIED, `the dataplane token is for "${claims.name}", not "${node.id}"`);
    }
    if (claims.mesh !== mesh) {
      return refuse(grpcStatus.PERMISSION_DENIED, `the dataplane token is for mesh "${claims.mesh}", not "${mesh}"`);
    }
    return {
      ok: true,
      expiresAt: result.expiresAt,
      revocation: (end) =>
        keyring.watch(token, result.expiresAt, (reason) => {
          options.log.info?.({ node: node.id, mesh, reason }, 'ended an xDS stream: its dataplane token no longer verifies');
          end(new WatchError(grpcStatus.UNAUTHENTICATED, `node "${node.id}" in mesh "${mesh}": dataplane token refused: ${reason}; reconnect with a new token (meshcp token generate --name ${node.id} --mesh ${mesh})`));
        }),
    };
  };
}

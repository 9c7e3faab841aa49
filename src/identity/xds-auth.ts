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
 * certificates (security issue #9, hole 2).
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import { verifyToken } from '../auth/token.js';
import { nodeMesh } from '../xds/node.js';
import type { NodeAuthentication, NodeAuthenticator } from '../xds/cache.js';
import { WatchError } from '../xds/session.js';
import type { Clock } from './time.js';
import { systemClock } from './time.js';

export type { NodeAuthentication, NodeAuthenticator } from '../xds/cache.js';

export interface TokenAuthOptions {
  readonly signingKey: Buffer;
  readonly log: { warn(obj: object, msg: string): void };
  readonly clock?: Clock;
}

export function tokenAuthenticator(options: TokenAuthOptions): NodeAuthenticator {
  const clock = options.clock ?? systemClock;
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
    const result = verifyToken(token, options.signingKey, clock.now());
    if (!result.ok) return refuse(grpcStatus.UNAUTHENTICATED, `dataplane token refused: ${result.reason}`);
    if (result.claims.name !== node.id) {
      return refuse(grpcStatus.PERMISSION_DENIED, `the dataplane token is for "${result.claims.name}", not "${node.id}"`);
    }
    if (result.claims.mesh !== mesh) {
      return refuse(grpcStatus.PERMISSION_DENIED, `the dataplane token is for mesh "${result.claims.mesh}", not "${mesh}"`);
    }
    return { ok: true, expiresAt: new Date(result.claims.exp * 1000) };
  };
}

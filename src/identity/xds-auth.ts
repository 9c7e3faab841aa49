/**
 * Dataplane token authentication of xDS streams (SPEC §2 "Tokens"): the node must carry
 * `metadata.token`, signed with the control plane's key, naming this node's id and mesh. It is
 * checked when a stream first asks for config, before any config (or identity) flows. The token
 * itself is never logged.
 *
 * - missing, malformed, badly signed or expired: UNAUTHENTICATED (the caller did not prove who it is)
 * - valid, but for another proxy name or mesh: PERMISSION_DENIED (it proved an identity that may not act as this node)
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import { verifyToken } from '../auth/token.js';
import { WatchError, type NodeInfo } from '../xds/session.js';
import type { Clock } from './time.js';
import { systemClock } from './time.js';

export type NodeAuthenticator = (node: NodeInfo) => WatchError | undefined;

export interface TokenAuthOptions {
  readonly signingKey: Buffer;
  readonly log: { warn(obj: object, msg: string): void };
  readonly clock?: Clock;
}

function nodeMesh(node: NodeInfo): string {
  const mesh = node.metadata['mesh'];
  return typeof mesh === 'string' && mesh !== '' ? mesh : 'default';
}

export function tokenAuthenticator(options: TokenAuthOptions): NodeAuthenticator {
  const clock = options.clock ?? systemClock;
  return (node) => {
    const mesh = nodeMesh(node);
    const refuse = (code: number, reason: string): WatchError => {
      options.log.warn({ node: node.id, mesh, reason }, 'refused an xDS stream');
      return new WatchError(code, `node "${node.id}" in mesh "${mesh}": ${reason}`);
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
    return undefined;
  };
}

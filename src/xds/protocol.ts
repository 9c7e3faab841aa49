/**
 * The values a session exchanges (requests in, responses out), its options, and what the SotW and
 * Delta halves of the protocol (sotw.ts, delta.ts) see of the session they serve (`SessionCore`).
 */
import type { EncodedResource } from '../snapshot/encode.js';
import type { ProxyRef } from '../snapshot/node.js';
import type { Snapshot } from '../snapshot/snapshot.js';
import type { ConfigWatcher, NodeInfo } from '../snapshot/watcher.js';
import type { XdsLimits } from './limits.js';
import type { SecretRefusals } from './refusals.js';
import type { ProxyStatus, StatusRegistry, StatusTypeRow } from './status.js';
import type { NameSets, SubscriptionCounters, TypeState, TypeStates } from './subscription.js';

export interface XdsRequest {
  readonly node?: NodeInfo;
  readonly typeUrl: string;
  /** SotW */
  readonly versionInfo: string;
  readonly resourceNames: readonly string[];
  /** Delta */
  readonly subscribe: readonly string[];
  readonly unsubscribe: readonly string[];
  readonly initialVersions: Readonly<Record<string, string>>;
  readonly responseNonce: string;
  readonly errorDetail?: string;
}

export type XdsResponse =
  | { kind: 'sotw'; typeUrl: string; versionInfo: string; nonce: string; resources: readonly EncodedResource[] }
  | { kind: 'delta'; typeUrl: string; systemVersionInfo: string; nonce: string; resources: readonly EncodedResource[]; removed: readonly string[] };

export interface SessionLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface SessionOptions {
  readonly mode: 'sotw' | 'delta';
  /** Set on the per-type services; ADS streams carry any type. */
  readonly fixedTypeUrl?: string;
  readonly watcher: ConfigWatcher;
  readonly status: StatusRegistry;
  readonly log: SessionLogger;
  /** The per-proxy and per-stream caps; DEFAULT_XDS_LIMITS when absent. */
  readonly limits?: Pick<XdsLimits, 'maxStreamsPerProxy' | 'maxNamesPerType'>;
  /** What subscription changes cost, shared by the server's sessions; a stream's own when absent. */
  readonly counters?: SubscriptionCounters;
  /** The snapshot sets' names as shared sets, the server's (subscription.ts); a stream's own when absent. */
  readonly names?: NameSets;
  send(response: XdsResponse): void;
  close(grpcCode: number, message: string): void;
}

/** What the SotW and Delta halves of the protocol read and call of the session (XdsSession). */
export interface SessionCore {
  readonly options: SessionOptions;
  readonly types: TypeStates;
  /** The latest snapshot from the watch. */
  readonly snapshot: Snapshot | undefined;
  readonly counters: SubscriptionCounters;
  readonly names: NameSets;
  /** The proxy's key in the status registry: its row while the stream is open. */
  readonly statusKey: ProxyStatus | ProxyRef;
  newState(typeUrl: string): TypeState;
  /** Records (and logs, through the proxy's budget) a NACK. */
  recordNack(typeUrl: string, version: string, error: string, nonce?: string): void;
  /** The request answers the pending response: ACK or NACK it. */
  settlePending(state: TypeState, request: XdsRequest): void;
  /** Marks the type as owing a push, retried after the next request or snapshot. */
  setDeferred(state: TypeState, value: boolean): void;
  /** Whether unknown EDS names beyond MAX_ABSENT_ANSWERS were left unanswered and said so. */
  absentCapLogged: boolean;
  /** A line about this proxy's own input, through its log budget. */
  proxyLog(fields: object, message: string): void;
  /** Secret names this stream asked for and did not get, and those it was given (refusals.ts). */
  refusals(): SecretRefusals;
  /** The EDS names of these updated clusters are owed an answer again. */
  oweEndpoints(clusters: readonly EncodedResource[]): void;
  nextNonce(): string;
  /** Secrets a push took from the client (refusals.ts). */
  droppedSecrets(names: readonly string[]): void;
  statusRow(state: TypeState): StatusTypeRow | undefined;
}

/** One variant of the protocol: how it takes a request of a type, and how it pushes a type. */
export interface ProtocolVariant {
  /** Returns whether a push should be attempted. */
  onRequest(session: SessionCore, typeUrl: string, existing: TypeState | undefined, request: XdsRequest): boolean;
  push(session: SessionCore, state: TypeState, snapshot: Snapshot): void;
}

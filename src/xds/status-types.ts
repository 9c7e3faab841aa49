/** What the status registry (status.ts) shows of each proxy and type, and the events it emits. */
export interface TypeStatus {
  lastSentVersion?: string;
  lastSentNonce?: string;
  lastSentAt?: Date;
  lastAckedVersion?: string;
  lastAckedAt?: Date;
  nackCount: number;
  lastError?: string;
  /** What to do about `lastError` when it shows a known client limitation (nackHint). */
  lastErrorHint?: string;
  /** Responses sent for this type. */
  totalUpdates: number;
  /** Names in the last response, for the config dump. */
  lastSentNames: readonly string[];
}

export interface ProxyStatus {
  /** The proxy name (its `node.id`). */
  nodeId: string;
  mesh: string;
  flavor: string;
  activeStreams: number;
  connectedSince?: Date;
  lastConnectedAt?: Date;
  lastDisconnectedAt?: Date;
  types: Map<string, TypeStatus>;
}

/** `nodeId` is the proxy name; with `mesh` it names the proxy. */
export type StatusEvent =
  | { kind: 'connect' | 'disconnect'; nodeId: string; mesh: string }
  | { kind: 'sent'; nodeId: string; mesh: string; typeUrl: string; version: string; resources: number }
  | { kind: 'ack'; nodeId: string; mesh: string; typeUrl: string; version: string; latencyMs?: number }
  | { kind: 'nack'; nodeId: string; mesh: string; typeUrl: string; version: string; error: string };

/**
 * Live status per proxy and per type, kept for `inspect`, the admin API and metrics.
 * The xDS server writes it; nobody else does.
 */
import { Subject, type Observable } from 'rxjs';

export interface TypeStatus {
  lastSentVersion?: string;
  lastSentNonce?: string;
  lastSentAt?: Date;
  lastAckedVersion?: string;
  lastAckedAt?: Date;
  nackCount: number;
  lastError?: string;
  /** Responses sent for this type. */
  totalUpdates: number;
  /** Names in the last response, for the config dump. */
  lastSentNames: string[];
}

export interface ProxyStatus {
  nodeId: string;
  mesh: string;
  flavor: string;
  activeStreams: number;
  connectedSince?: Date;
  lastConnectedAt?: Date;
  lastDisconnectedAt?: Date;
  types: Map<string, TypeStatus>;
}

export type StatusEvent =
  | { kind: 'connect' | 'disconnect'; nodeId: string }
  | { kind: 'sent'; nodeId: string; typeUrl: string; version: string; resources: number }
  | { kind: 'ack'; nodeId: string; typeUrl: string; version: string; latencyMs?: number }
  | { kind: 'nack'; nodeId: string; typeUrl: string; version: string; error: string };

export class StatusRegistry {
  private readonly proxies = new Map<string, ProxyStatus>();
  private readonly eventSubject = new Subject<StatusEvent>();
  readonly events: Observable<StatusEvent> = this.eventSubject.asObservable();

  constructor(private readonly now: () => Date = () => new Date()) {}

  list(): ProxyStatus[] {
    return [...this.proxies.values()];
  }

  get(nodeId: string): ProxyStatus | undefined {
    return this.proxies.get(nodeId);
  }

  streamOpened(nodeId: string, mesh: string, flavor: string): void {
    const status = this.proxies.get(nodeId) ?? { nodeId, mesh, flavor, activeStreams: 0, types: new Map<string, TypeStatus>() };
    status.mesh = mesh;
    status.flavor = flavor;
    if (status.activeStreams === 0) status.connectedSince = this.now();
    status.lastConnectedAt = this.now();
    status.activeStreams++;
    this.proxies.set(nodeId, status);
    this.eventSubject.next({ kind: 'connect', nodeId });
  }

  streamClosed(nodeId: string): void {
    const status = this.proxies.get(nodeId);
    if (!status) return;
    status.activeStreams = Math.max(0, status.activeStreams - 1);
    if (status.activeStreams === 0) {
      status.connectedSince = undefined;
      status.lastDisconnectedAt = this.now();
    }
    this.eventSubject.next({ kind: 'disconnect', nodeId });
  }

  sent(nodeId: string, typeUrl: string, version: string, nonce: string, names: string[]): void {
    const t = this.typeStatus(nodeId, typeUrl);
    t.lastSentVersion = version;
    t.lastSentNonce = nonce;
    t.lastSentAt = this.now();
    t.totalUpdates++;
    t.lastSentNames = names;
    this.eventSubject.next({ kind: 'sent', nodeId, typeUrl, version, resources: names.length });
  }

  acked(nodeId: string, typeUrl: string, version: string): void {
    const t = this.typeStatus(nodeId, typeUrl);
    const latencyMs = t.lastSentAt && t.lastSentVersion === version ? this.now().getTime() - t.lastSentAt.getTime() : undefined;
    t.lastAckedVersion = version;
    t.lastAckedAt = this.now();
    this.eventSubject.next({ kind: 'ack', nodeId, typeUrl, version, latencyMs });
  }

  nacked(nodeId: string, typeUrl: string, version: string, error: string): void {
    const t = this.typeStatus(nodeId, typeUrl);
    t.nackCount++;
    t.lastError = error;
    this.eventSubject.next({ kind: 'nack', nodeId, typeUrl, version, error });
  }

  private typeStatus(nodeId: string, typeUrl: string): TypeStatus {
    const proxy = this.proxies.get(nodeId);
    if (!proxy) throw new Error(`status for unknown proxy ${nodeId}`);
    let t = proxy.types.get(typeUrl);
    if (!t) {
      t = { nackCount: 0, totalUpdates: 0, lastSentNames: [] };
      proxy.types.set(typeUrl, t);
    }
    return t;
  }
}

/**
 * Live status per proxy and per type, kept for `inspect`, the admin API and metrics.
 * The xDS server writes it; nobody else does.
 *
 * A proxy is (mesh, name): `web-01` in mesh `default` and `web-01` in mesh `other` are two rows
 * (security issue #9, hole 1). Rows are only created for authenticated streams (session.ts), and
 * the row of a proxy that is not defined in the config (no Dataplane or Gateway of that name in
 * that mesh) is dropped when its last stream closes, so unknown callers leave nothing behind
 * (hole 8).
 */
import { Subject, type Observable } from 'rxjs';
import { refKey, type ProxyRef } from './node.js';

export type { ProxyRef } from './node.js';

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
  lastSentNames: string[];
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

const MAX_ERROR_LENGTH = 4096;

/**
 * NACKs whose `error_detail` shows a known limitation of a client rather than a meshcp bug, with
 * what to do about it. Matched on the client's own words (the source that prints them is cited).
 */
const NACK_HINTS: readonly { readonly pattern: RegExp; readonly hint: string }[] = [
  {
    // grpc-js-xds listener-resource-type.js: `${httpFilter.name} filter validation failed`; its
    // RBAC filter is off unless GRPC_XDS_EXPERIMENTAL_RBAC=true (environment.js).
    pattern: /envoy\.filters\.http\.rbac filter validation failed/,
    hint: 'grpc-js-xds accepts the RBAC filter of mesh mTLS listeners only with GRPC_XDS_EXPERIMENTAL_RBAC=true: set it in the application\'s environment (TrafficPermission is enforced by that filter)',
  },
  {
    // grpc-js-xds: `Unmatched …certificate_provider_instance.instance_name: NAME`.
    pattern: /Unmatched [A-Za-z._]*certificate_provider[A-Za-z._]*: /,
    hint: 'the gRPC bootstrap has no such certificate provider: write it with `meshcp bootstrap grpc --cert-dir DIR` and keep DIR current with `meshcp agent`',
  },
  {
    // Envoy (source/common/common/regex.cc): "RE2 program size of N > max program size of M set for the error level threshold".
    pattern: /RE2 program size of \d+ > max program size/,
    hint: 'Envoy\'s re2.max_program_size.error_level is below what a subject matcher needs: bootstrap Envoy with `meshcp bootstrap envoy`, which raises it, or raise it in the runtime',
  },
  {
    // Envoy: "Didn't find a registered implementation for 'NAME' with type URL: 'TYPE'".
    pattern: /Didn't find a registered implementation for/,
    hint: 'this Envoy build lacks an extension meshcp uses (e.g. the ssl matching inputs of client-certificate routes): run a current official Envoy image',
  },
];

/** The hint for a NACK's error text, or undefined when the error is not a known client limitation. */
export function nackHint(error: string | undefined): string | undefined {
  if (error === undefined) return undefined;
  return NACK_HINTS.find((h) => h.pattern.test(error))?.hint;
}

/** Whether a Dataplane or Gateway of that name exists in that mesh: only those keep a row while offline. */
export type ProxyDefined = (mesh: string, name: string) => boolean;

export class StatusRegistry {
  private readonly proxies = new Map<string, ProxyStatus>();
  private readonly eventSubject = new Subject<StatusEvent>();
  readonly events: Observable<StatusEvent> = this.eventSubject.asObservable();

  constructor(
    private readonly now: () => Date = () => new Date(),
    private readonly defined: ProxyDefined = () => true,
  ) {}

  /** Rows kept, for bounds checks. */
  get size(): number {
    return this.proxies.size;
  }

  list(): ProxyStatus[] {
    return [...this.proxies.values()];
  }

  /** The proxy `name` of `mesh` (`default`, as for a node without `metadata.mesh`). */
  get(name: string, mesh = 'default'): ProxyStatus | undefined {
    return this.proxies.get(refKey({ mesh, name }));
  }

  streamOpened(ref: ProxyRef, flavor: string): void {
    const key = refKey(ref);
    const status = this.proxies.get(key) ?? { nodeId: ref.name, mesh: ref.mesh, flavor, activeStreams: 0, types: new Map<string, TypeStatus>() };
    status.flavor = flavor;
    if (status.activeStreams === 0) status.connectedSince = this.now();
    status.lastConnectedAt = this.now();
    status.activeStreams++;
    this.proxies.set(key, status);
    this.eventSubject.next({ kind: 'connect', nodeId: ref.name, mesh: ref.mesh });
  }

  streamClosed(ref: ProxyRef): void {
    const key = refKey(ref);
    const status = this.proxies.get(key);
    if (!status) return;
    status.activeStreams = Math.max(0, status.activeStreams - 1);
    if (status.activeStreams === 0) {
      status.connectedSince = undefined;
      status.lastDisconnectedAt = this.now();
      if (!this.defined(ref.mesh, ref.name)) this.proxies.delete(key);
    }
    this.eventSubject.next({ kind: 'disconnect', nodeId: ref.name, mesh: ref.mesh });
  }

  /** Drops the rows of offline proxies that are no longer defined (after a config change). */
  prune(): void {
    for (const [key, status] of this.proxies) if (status.activeStreams === 0 && !this.defined(status.mesh, status.nodeId)) this.proxies.delete(key);
  }

  sent(ref: ProxyRef, typeUrl: string, version: string, nonce: string, names: string[]): void {
    const t = this.typeStatus(ref, typeUrl);
    t.lastSentVersion = version;
    t.lastSentNonce = nonce;
    t.lastSentAt = this.now();
    t.totalUpdates++;
    t.lastSentNames = names;
    this.eventSubject.next({ kind: 'sent', nodeId: ref.name, mesh: ref.mesh, typeUrl, version, resources: names.length });
  }

  acked(ref: ProxyRef, typeUrl: string, version: string): void {
    const t = this.typeStatus(ref, typeUrl);
    const latencyMs = t.lastSentAt && t.lastSentVersion === version ? this.now().getTime() - t.lastSentAt.getTime() : undefined;
    t.lastAckedVersion = version;
    t.lastAckedAt = this.now();
    this.eventSubject.next({ kind: 'ack', nodeId: ref.name, mesh: ref.mesh, typeUrl, version, latencyMs });
  }

  nacked(ref: ProxyRef, typeUrl: string, version: string, error: string): void {
    const t = this.typeStatus(ref, typeUrl);
    t.nackCount++;
    // error_detail comes from the proxy: keep what a person reads, not megabytes per type.
    t.lastError = error.length > MAX_ERROR_LENGTH ? `${error.slice(0, MAX_ERROR_LENGTH)}… (${error.length} characters)` : error;
    const hint = nackHint(error);
    if (hint !== undefined) t.lastErrorHint = hint;
    else delete t.lastErrorHint;
    this.eventSubject.next({ kind: 'nack', nodeId: ref.name, mesh: ref.mesh, typeUrl, version, error });
  }

  private typeStatus(ref: ProxyRef, typeUrl: string): TypeStatus {
    const proxy = this.proxies.get(refKey(ref));
    if (!proxy) throw new Error(`status for unknown proxy "${ref.name}" in mesh "${ref.mesh}"`);
    let t = proxy.types.get(typeUrl);
    if (!t) {
      t = { nackCount: 0, totalUpdates: 0, lastSentNames: [] };
      proxy.types.set(typeUrl, t);
    }
    return t;
  }
}

/**
 * One application xDS stream relayed by `meshcp agent --xds-proxy-address` (xds-proxy.ts), and how
 * it survives the loss of the replica behind it (SPEC §5 "replicas are equal").
 *
 * SotW streams (what grpc-js-xds speaks: ADS) stay open across a switch. When the upstream stream
 * ends with UNAVAILABLE (the replica is gone, refuses connections, resets them) or OK (it shut down
 * and closed its streams), the relay opens a stream to the next replica and re-sends, per type, the
 * last request the app made, the node (with the token) on the first one, as the app itself would
 * after a reconnect. The xDS protocol makes this safe: the first request for a type on a new
 * stream is always answered, whatever version or nonce it carries (envoy #15767), and SotW
 * responses carry the whole state of the type (LDS/CDS) or of the names asked for, so the app
 * sees the same resources again with the same versions — no config churn — and keeps calling.
 * A request the app makes afterwards that still carries a nonce of the old replica is sent with
 * an empty nonce (a fresh subscription for its type), since the new replica would ignore a nonce
 * it never issued as stale.
 *
 * Delta streams are not resumed: a resumed Delta stream would need the versions of every resource
 * the client holds (`initial_resource_versions`), which only the client knows for sure. They end
 * with UNAVAILABLE, which tells any xDS client to reconnect; by then the relay points at the next
 * replica. Any other status (a refused token, a malformed request) is the app's answer and is
 * passed on unchanged: every replica would give the same one.
 */
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { lookupType } from '../protos/load.js';
import { jsonToStruct, structToJson } from '../xds/struct.js';
import type { AgentLogger } from './agent.js';
import { ReconnectBackoff, type BackoffOptions, type XdsAddressList } from './xds-addresses.js';

export type Kind = 'sotw' | 'delta' | 'fetch';

export interface RelayedMethod {
  readonly path: string;
  readonly kind: Kind;
}

/** What every relayed stream of one XdsProxy shares. */
export interface RelayContext {
  readonly addresses: XdsAddressList;
  readonly upstream: (address: string) => grpc.Client;
  readonly token: string;
  readonly mesh: string;
  readonly log: AgentLogger;
  readonly backoff: BackoffOptions;
}

export const identity = (b: Buffer): Buffer => b;

type NodeMessage = { metadata?: unknown } & Record<string, unknown>;
type RequestMessage = protobuf.Message & { node?: NodeMessage | null; type_url?: string; response_nonce?: string; resource_names?: string[]; error_detail?: unknown };

const requestType = (kind: Kind): protobuf.Type => lookupType(kind === 'delta' ? 'envoy.service.discovery.v3.DeltaDiscoveryRequest' : 'envoy.service.discovery.v3.DiscoveryRequest');

/** `node` with the agent's token (and mesh/flavor when absent) in its metadata. */
export function withAgentMetadata(node: NodeMessage, context: Pick<RelayContext, 'token' | 'mesh'>): void {
  const metadata = structToJson(node.metadata);
  const merged = { mesh: context.mesh, flavor: 'grpc', ...metadata, token: context.token };
  node.metadata = lookupType('google.protobuf.Struct').fromObject(jsonToStruct(merged));
}

/** Statuses that say "this replica is gone", not "this request is refused". */
const REPLICA_GONE = new Set<number>([grpc.status.UNAVAILABLE, grpc.status.OK]);

interface LastRequest {
  message: RequestMessage;
  /** Names were asked for once: an empty list now unsubscribes, it is not the legacy wildcard. */
  everNamed: boolean;
}

export class RelayedStream {
  private up: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  private upAddress = '';
  private answered = false;
  private nodeSent = false;
  private node: NodeMessage | undefined;
  private finished = false;
  private downEnded = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly backoff: ReconnectBackoff;
  /** SotW only: the app's last request per type, re-sent on a new upstream stream. */
  private readonly lastRequests = new Map<string, LastRequest>();
  /** SotW only: the types the current upstream stream has answered. */
  private readonly answeredTypes = new Set<string>();
  /** Per-type services carry one type, whatever `type_url` a request or response names. */
  private readonly aggregated: boolean;

  constructor(
    private readonly method: RelayedMethod,
    private readonly down: grpc.ServerDuplexStream<Buffer, Buffer>,
    private readonly context: RelayContext,
    private readonly onDone: () => void,
  ) {
    this.aggregated = method.path.includes('.AggregatedDiscoveryService/');
    this.backoff = new ReconnectBackoff(context.backoff, context.addresses.all.length);
    down.on('data', (request: Buffer) => this.fromApp(request));
    down.on('end', () => {
      this.downEnded = true;
      this.up?.end();
    });
    down.on('cancelled', () => this.finish());
    this.open();
  }

  private open(): void {
    this.timer = undefined;
    if (this.finished) return;
    if (this.downEnded) {
      // The app half-closed while no replica was reachable: nothing is left to relay.
      this.finish();
      this.down.end();
      return;
    }
    this.upAddress = this.context.addresses.current();
    this.answered = false;
    this.nodeSent = false;
    this.answeredTypes.clear();
    const up = this.context.upstream(this.upAddress).makeBidiStreamRequest(this.method.path, identity, identity);
    this.up = up;
    up.on('data', (response: Buffer) => this.fromReplica(up, response));
    // A non-OK status is also emitted as 'error'; 'status' below handles it.
    up.on('error', () => undefined);
    up.on('status', (status: grpc.StatusObject) => this.upstreamEnded(up, status));
    if (this.method.kind === 'sotw') this.resend();
  }

  /** The app's last request per type, on a new upstream stream (see the file comment). */
  private resend(): void {
    for (const last of this.lastRequests.values()) {
      if (last.everNamed && (last.message.resource_names ?? []).length === 0) continue;
      const message = this.copy(last.message);
      // A fresh start for the type on this stream; a NACK is not repeated.
      message.response_nonce = '';
      message.error_detail = null;
      this.send(message);
    }
  }

  private copy(message: RequestMessage): RequestMessage {
    const type = requestType(this.method.kind);
    return type.decode(type.encode(message).finish()) as RequestMessage;
  }

  private typeKey(typeUrl: string | undefined): string {
    return this.aggregated ? typeUrl ?? '' : '';
  }

  private fromApp(bytes: Buffer): void {
    if (this.finished) return;
    let message: RequestMessage;
    try {
      message = requestType(this.method.kind).decode(bytes) as RequestMessage;
    } catch (err) {
      // A request that does not decode would be refused by meshcp anyway; say why here.
      this.fail({ code: grpc.status.INVALID_ARGUMENT, details: `xDS proxy: undecodable request: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    if (message.node) {
      withAgentMetadata(message.node, this.context);
      this.node = message.node;
    }
    if (this.method.kind === 'sotw') {
      const typeUrl = this.typeKey(message.type_url);
      // A nonce for a type the current replica has not answered yet was issued by an earlier one.
      if ((message.response_nonce ?? '') !== '' && !this.answeredTypes.has(typeUrl)) message.response_nonce = '';
      const previous = this.lastRequests.get(typeUrl);
      this.lastRequests.set(typeUrl, { message, everNamed: (previous?.everNamed ?? false) || (message.resource_names ?? []).length > 0 });
    }
    // Between two upstream streams (backing off) the request waits in lastRequests.
    if (this.up) this.send(message);
  }

  private send(message: RequestMessage): void {
    if (!this.up) return;
    if (!this.nodeSent && this.node) {
      // The node goes on the first request of every upstream stream (the app sent it only on its first).
      if (!message.node) message = Object.assign(this.copy(message), { node: this.node });
      this.nodeSent = true;
    } else if (message.node) {
      this.nodeSent = true;
    }
    this.up.write(Buffer.from(requestType(this.method.kind).encode(message).finish()));
  }

  private fromReplica(up: grpc.ClientDuplexStream<Buffer, Buffer>, response: Buffer): void {
    if (this.finished || up !== this.up) return;
    if (!this.answered) {
      this.answered = true;
      this.backoff.answered();
    }
    if (this.method.kind === 'sotw') {
      try {
        const decoded = lookupType('envoy.service.discovery.v3.DiscoveryResponse').decode(response) as protobuf.Message & { type_url?: string };
        this.answeredTypes.add(this.typeKey(decoded.type_url));
      } catch {
        // Passed through as it is: the app judges it (and NACKs it).
      }
    }
    this.down.write(response);
  }

  private upstreamEnded(up: grpc.ClientDuplexStream<Buffer, Buffer>, status: grpc.StatusObject): void {
    if (this.finished || up !== this.up) return;
    this.up = undefined;
    const gone = REPLICA_GONE.has(status.code) && !this.downEnded;
    if (!gone) {
      this.finish();
      if (status.code === grpc.status.OK) this.down.end();
      else this.down.emit('error', { code: status.code, details: status.details, metadata: status.metadata });
      return;
    }
    const from = this.upAddress;
    const next = this.context.addresses.failed(from);
    if (this.method.kind !== 'sotw') {
      // Delta is not resumed (file comment): UNAVAILABLE makes the client reconnect, to `next`.
      this.context.log.warn({ upstream: from, next, details: status.details }, 'xDS proxy: meshcp replica unreachable; ending the app\'s Delta stream so it reconnects');
      this.fail({ code: grpc.status.UNAVAILABLE, details: `xDS proxy: meshcp at ${from} is unreachable (${status.details}); reconnect` });
      return;
    }
    const retryInMs = this.backoff.next(this.answered);
    this.context.log.warn({ upstream: from, next, retryInMs, details: status.details }, 'xDS proxy: meshcp replica unreachable; resuming the app\'s stream on the next address');
    this.timer = setTimeout(() => this.open(), retryInMs);
  }

  private fail(status: Partial<grpc.StatusObject>): void {
    this.finish();
    this.down.emit('error', status);
  }

  /** The app went away (or the relay closes): nothing more to relay. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    const up = this.up;
    this.up = undefined;
    up?.cancel();
    this.onDone();
  }
}

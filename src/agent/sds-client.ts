/**
 * A minimal SotW client for SDS over ADS: one stream, one type (Secret), a fixed set of names.
 * It is what `meshcp agent` needs and nothing more; the xDS rules it follows are the client side
 * of the ones src/xds/session.ts enforces: the node goes on the first request, every response is
 * answered with an ACK (its version and nonce) or a NACK (the last good version, its nonce and
 * `error_detail`), and a new stream starts fresh.
 */
import * as grpc from '@grpc/grpc-js';
import { decodeAnyValue, protoCodec } from '../xds/codec.js';
import { jsonToStruct } from '../xds/struct.js';
import { SECRET_TYPE } from '../snapshot/types.js';
import { UPSTREAM_KEEPALIVE } from './xds-addresses.js';

type Decoded = Record<string, unknown>;

const codec = protoCodec;

const request = codec('envoy.service.discovery.v3.DiscoveryRequest');
const response = codec('envoy.service.discovery.v3.DiscoveryResponse');

const AdsClient = grpc.makeGenericClientConstructor(
  {
    StreamAggregatedResources: {
      path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
      requestStream: true,
      responseStream: true,
      requestSerialize: request.serialize,
      requestDeserialize: request.deserialize,
      responseSerialize: response.serialize,
      responseDeserialize: response.deserialize,
    },
  },
  'MeshcpAgentAds',
);

export interface AgentNode {
  readonly id: string;
  readonly cluster: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** A Secret as the agent reads it: only the PEM fields it writes to files. */
export interface ReceivedSecret {
  readonly name: string;
  readonly certificateChain?: string;
  readonly privateKey?: string;
  readonly trustedCa?: string;
}

export interface SecretsResponse {
  readonly version: string;
  readonly nonce: string;
  readonly secrets: ReadonlyMap<string, ReceivedSecret>;
}

export interface SdsStreamHandlers {
  onResponse(response: SecretsResponse): void;
  /** The stream ended, with its gRPC status. */
  onEnd(status: { code: number; details: string }): void;
}

function obj(v: unknown): Decoded {
  return typeof v === 'object' && v !== null ? (v as Decoded) : {};
}

/** An Envoy DataSource as PEM text. */
function dataSourceText(v: unknown): string | undefined {
  const source = obj(v);
  const inline = source['inline_string'];
  if (typeof inline === 'string' && inline !== '') return inline;
  const bytes = source['inline_bytes'];
  if (bytes instanceof Uint8Array && bytes.length > 0) return Buffer.from(bytes).toString('utf8');
  return undefined;
}

function decodeSecret(any: Decoded): ReceivedSecret | undefined {
  const typeUrl = any['type_url'];
  const value = any['value'];
  if (typeUrl !== SECRET_TYPE || !(value instanceof Uint8Array)) return undefined;
  const secret = decodeAnyValue(SECRET_TYPE, value);
  const tls = obj(secret['tls_certificate']);
  const validation = obj(secret['validation_context']);
  const certificateChain = dataSourceText(tls['certificate_chain']);
  const privateKey = dataSourceText(tls['private_key']);
  const trustedCa = dataSourceText(validation['trusted_ca']);
  return {
    name: String(secret['name'] ?? ''),
    ...(certificateChain !== undefined ? { certificateChain } : {}),
    ...(privateKey !== undefined ? { privateKey } : {}),
    ...(trustedCa !== undefined ? { trustedCa } : {}),
  };
}

/** One ADS stream subscribed to `names` of type Secret. */
export class SdsStream {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<Decoded, Decoded>;
  private ended = false;
  private acceptedVersion = '';

  constructor(
    address: string,
    private readonly node: AgentNode,
    private readonly names: readonly string[],
    handlers: SdsStreamHandlers,
    credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    this.client = new AdsClient(address, credentials, { 'grpc.use_local_subchannel_pool': 1, ...UPSTREAM_KEEPALIVE });
    const open = (this.client as unknown as Record<string, (metadata?: grpc.Metadata) => grpc.ClientDuplexStream<Decoded, Decoded>>)['StreamAggregatedResources'];
    if (!open) throw new Error('ADS method missing');
    this.call = open.call(this.client);
    this.call.on('data', (raw: Decoded) => {
      if (String(raw['type_url']) !== SECRET_TYPE) return;
      const secrets = new Map<string, ReceivedSecret>();
      for (const entry of Array.isArray(raw['resources']) ? raw['resources'] : []) {
        const secret = decodeSecret(obj(entry));
        if (secret) secrets.set(secret.name, secret);
      }
      handlers.onResponse({ version: String(raw['version_info'] ?? ''), nonce: String(raw['nonce'] ?? ''), secrets });
    });
    // A non-OK status is also emitted as 'error'; 'status' reports it once.
    this.call.on('error', () => undefined);
    this.call.on('status', (status: grpc.StatusObject) => {
      if (this.ended) return;
      this.ended = true;
      handlers.onEnd({ code: status.code, details: status.details });
    });
    this.write({ node: this.nodeMessage(), type_url: SECRET_TYPE, resource_names: [...names], version_info: '', response_nonce: '' });
  }

  ack(received: SecretsResponse): void {
    this.acceptedVersion = received.version;
    this.write({ type_url: SECRET_TYPE, resource_names: [...this.names], version_info: received.version, response_nonce: received.nonce });
  }

  /** Refuses a response: the last accepted version stays in force on the server's side. */
  nack(received: SecretsResponse, message: string): void {
    this.write({
      type_url: SECRET_TYPE,
      resource_names: [...this.names],
      version_info: this.acceptedVersion,
      response_nonce: received.nonce,
      error_detail: { code: grpc.status.INVALID_ARGUMENT, message },
    });
  }

  close(): void {
    this.ended = true;
    this.call.cancel();
    this.client.close();
  }

  private nodeMessage(): Decoded {
    return { id: this.node.id, cluster: this.node.cluster, metadata: jsonToStruct({ ...this.node.metadata }) };
  }

  private write(message: Decoded): void {
    if (!this.ended) this.call.write(message);
  }
}

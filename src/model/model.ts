/**
 * The intermediate representation: plain readonly data, no protobuf (Envoy Gateway's `ir`).
 * translate/ builds it from the user's resources; generate/ turns it into Envoy resources
 * per proxy.
 */

export type Protocol = 'tcp' | 'http' | 'http2' | 'grpc';

export interface EndpointModel {
  readonly address: string;
  readonly port: number;
  /** The Dataplane that serves it, or undefined for a Service resource endpoint. */
  readonly dataplane?: string;
}

/** Upstream TLS towards a Service (APISIX upstream tls). Secret names are meshcp secret names. */
export interface UpstreamTlsModel {
  readonly caSecret?: string;
  readonly clientCertificateSecret?: string;
  readonly sni?: string;
}

/** A destination: a mesh service (Dataplanes tagged with it) and/or a Service resource. */
export interface ServiceModel {
  readonly mesh: string;
  readonly name: string;
  readonly protocol: Protocol;
  readonly endpoints: readonly EndpointModel[];
  /** True when at least one endpoint is a mesh Dataplane (so mesh mTLS applies). */
  readonly meshManaged: boolean;
  readonly upstreamTls?: UpstreamTlsModel;
}

export interface InboundModel {
  readonly port: number;
  readonly servicePort: number;
  readonly service: string;
  readonly protocol: Protocol;
  readonly tags: Readonly<Record<string, string>>;
}

export interface OutboundModel {
  readonly port: number;
  readonly service: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface DataplaneModel {
  readonly mesh: string;
  readonly name: string;
  readonly address: string;
  readonly inbound: readonly InboundModel[];
  readonly outbound: readonly OutboundModel[];
}

export interface MeshModel {
  readonly name: string;
  readonly services: ReadonlyMap<string, ServiceModel>;
  readonly dataplanes: ReadonlyMap<string, DataplaneModel>;
}

export interface Model {
  readonly meshes: ReadonlyMap<string, MeshModel>;
}

export const EMPTY_MODEL: Model = { meshes: new Map() };

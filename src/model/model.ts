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
  /** False while the Dataplane's proxy is offline (runtime/liveness.ts); absent: healthy. */
  readonly healthy?: false;
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

/** Where a Route's server certificate comes from: a user `tls` Secret, or issued by meshcp for the host. */
export type ServerCertificateRef = { readonly kind: 'user'; readonly secret: string } | { readonly kind: 'issued'; readonly host: string };

/** A client certificate subject matcher (SPEC §1 Route `validation.clientCertificate.subjectMatches`). */
export interface SubjectMatchModel {
  readonly kind: 'exact' | 'hasPrefix' | 'hasSuffix' | 'regex';
  readonly value: string;
}

export interface GatewayRouteRuleModel {
  /** The descriptor's rule name, for debugging (the Envoy route's name). */
  readonly name?: string;
  readonly prefix: string;
  readonly service: string;
}

/** Browsers on these origins may call the host (Envoy's CORS filter answers their preflights). */
export interface GatewayCorsModel {
  readonly allowedOrigins: readonly string[];
  readonly allowedMethods: readonly string[];
}

/** One Route on a Gateway: one SNI filter chain per listener. */
export interface GatewayHostModel {
  /** The Route's name. */
  readonly route: string;
  readonly host: string;
  readonly serverCertificate: ServerCertificateRef;
  /** A `tls-ca` Secret: clients must present a certificate chaining to it. */
  readonly clientValidationCa?: string;
  /** Empty: any client certificate from the CA (or none at all without a CA). */
  readonly subjectMatches: readonly SubjectMatchModel[];
  /** In match order: the longest prefix first. */
  readonly rules: readonly GatewayRouteRuleModel[];
  readonly cors?: GatewayCorsModel;
}

export interface GatewayModel {
  readonly mesh: string;
  readonly name: string;
  readonly ports: readonly number[];
  /** Sorted by host. */
  readonly hosts: readonly GatewayHostModel[];
}

/** Kuma's `mtls.backends[].mode`: PERMISSIVE inbounds also accept plaintext; outbound is mTLS either way. */
export type MtlsMode = 'STRICT' | 'PERMISSIVE';

/** Mesh mTLS as generation sees it: on (this object exists), and the inbound mode. No CA and no key material here. */
export interface MeshMtlsModel {
  readonly mode: MtlsMode;
}

/**
 * Tags a selector requires, `kuma.io/service` included. A value of `*` requires the tag to be
 * present with any value.
 */
export type TagSelector = Readonly<Record<string, string>>;

/** A TrafficPermission (SPEC §1): callers matching any source may call inbounds matching any destination. */
export interface TrafficPermissionModel {
  readonly name: string;
  readonly sources: readonly TagSelector[];
  readonly destinations: readonly TagSelector[];
}

export interface MeshModel {
  readonly name: string;
  readonly services: ReadonlyMap<string, ServiceModel>;
  readonly dataplanes: ReadonlyMap<string, DataplaneModel>;
  readonly gateways: ReadonlyMap<string, GatewayModel>;
  /** Undefined when `mtls.enabledBackend` is missing or empty: mTLS is off for the whole mesh. */
  readonly mtls?: MeshMtlsModel;
  /** Sorted by name. Only enforced when mTLS is on (they need the caller's identity). */
  readonly trafficPermissions: readonly TrafficPermissionModel[];
}

export interface Model {
  readonly meshes: ReadonlyMap<string, MeshModel>;
}

/**
 * The resources users write (SPEC §1), exactly as in YAML after defaults are applied.
 * Plain readonly data: produced by parse.ts, consumed by translate/.
 */
export type ResourceKind = 'Mesh' | 'Dataplane' | 'Service' | 'Secret' | 'Gateway' | 'Route' | 'TrafficPermission';

export const RESOURCE_KINDS: readonly ResourceKind[] = ['Mesh', 'Dataplane', 'Service', 'Secret', 'Gateway', 'Route', 'TrafficPermission'];

export type Tags = Readonly<Record<string, string>>;

/** Where CA material comes from. `inline` is base64 PEM as in Kuma (raw PEM is accepted too); `file` is resolved to an absolute path at load time. */
export type DataSource = { readonly secret: string } | { readonly inline: string } | { readonly file: string };

export type MtlsMode = 'STRICT' | 'PERMISSIVE';

interface MtlsBackendCommon {
  readonly name: string;
  readonly mode: MtlsMode;
  readonly dpCert: { readonly rotation: { readonly expiration: string; readonly expirationSeconds: number } };
}

export interface BuiltinMtlsBackend extends MtlsBackendCommon {
  readonly type: 'builtin';
  readonly conf: {
    readonly caCert: {
      readonly RSAbits: 2048 | 3072 | 4096;
      /** RSA when absent (Kuma's default); ECDSA is a P-256 root, much faster to sign with (a meshcp extension, SPEC §1 Mesh). */
      readonly keyType?: 'RSA' | 'ECDSA';
      readonly expiration: string;
      readonly expirationSeconds: number;
    };
  };
}

export interface ProvidedMtlsBackend extends MtlsBackendCommon {
  readonly type: 'provided';
  readonly conf: { readonly cert: DataSource; readonly key: DataSource };
}

export type MtlsBackend = BuiltinMtlsBackend | ProvidedMtlsBackend;

export interface MeshMtls {
  /** Undefined when missing or empty in YAML: mTLS is disabled for the whole mesh. */
  readonly enabledBackend?: string;
  readonly backends: readonly MtlsBackend[];
}

export interface MeshResource {
  readonly type: 'Mesh';
  readonly name: string;
  readonly mtls?: MeshMtls;
}

export interface DataplaneInbound {
  readonly port: number;
  readonly servicePort?: number;
  /** Always holds `kuma.io/service`. */
  readonly tags: Tags;
}

export interface DataplaneOutbound {
  readonly port: number;
  /** Always holds `kuma.io/service`. */
  readonly tags: Tags;
}

export interface DataplaneResource {
  readonly type: 'Dataplane';
  readonly name: string;
  readonly mesh: string;
  readonly networking: {
    readonly address: string;
    readonly inbound: readonly DataplaneInbound[];
    readonly outbound: readonly DataplaneOutbound[];
  };
}

export interface ServiceEndpoint {
  readonly address: string;
  readonly port: number;
}

export interface ServiceTls {
  readonly caSecret?: string;
  readonly clientCertificateSecret?: string;
  readonly sni?: string;
}

export interface ServiceResource {
  readonly type: 'Service';
  readonly name: string;
  readonly mesh: string;
  readonly endpoints: readonly ServiceEndpoint[];
  readonly tls?: ServiceTls;
}

/**
 * `generic` is Kuma's own Secret (`data: <base64>`, SPEC §1 "Kuma's own forms"): opaque bytes, e.g.
 * the certificate or the key of a provided CA (`conf.cert.secret` / `conf.key.secret` name it).
 */
export type SecretType = 'tls' | 'tls-ca' | 'generic';

export interface SecretResource {
  readonly type: 'Secret';
  readonly name: string;
  readonly mesh: string;
  readonly secretType: SecretType;
  /** PEM; `certFile` is read into it at load time. Empty for a `generic` secret. */
  readonly cert: string;
  /**
   * PEM, `tls` only; `keyFile` is read into it at load time. A `generic` secret keeps its base64
   * `data` here: it may be a private key, and `key` is what every layer treats as one (sealed at
   * rest in etcd, never shown by `get` or logged).
   */
  readonly key?: string;
}

export interface GatewayListener {
  readonly port: number;
}

export interface GatewayResource {
  readonly type: 'Gateway';
  readonly name: string;
  readonly mesh: string;
  readonly listeners: readonly GatewayListener[];
}

export type SubjectMatcher = { readonly exact: string } | { readonly hasPrefix: string } | { readonly hasSuffix: string } | { readonly regex: string };

export interface SecretReference {
  readonly name: string;
}

export interface RouteTls {
  readonly clientValidationCa?: SecretReference;
  readonly serverCertificate?: SecretReference;
}

export interface RouteValidation {
  readonly clientCertificate?: { readonly subjectMatches: readonly SubjectMatcher[] };
}

export interface RouteRule {
  /** The akka descriptor's rule name ("only used for debugging"): the Envoy route's name. */
  readonly name?: string;
  readonly prefix: string;
  readonly route: { readonly service: string };
}

/** The akka descriptor's `corsPolicy`: browsers on these origins may call the route. */
export interface RouteCorsPolicy {
  /** `https://app.acme.org`, `https://*.acme.org`, or `*` (any origin). */
  readonly allowedOrigins: readonly string[];
  /** Upper case; empty: only what browsers send without asking (GET, HEAD, POST). */
  readonly allowedMethods: readonly string[];
}

export interface RouteResource {
  readonly type: 'Route';
  readonly name: string;
  readonly mesh: string;
  readonly gateway?: string;
  readonly host: string;
  readonly tls?: RouteTls;
  readonly validation?: RouteValidation;
  readonly corsPolicy?: RouteCorsPolicy;
  readonly routes: readonly RouteRule[];
}

export interface TrafficPermissionSelector {
  readonly match: Tags;
}

export interface TrafficPermissionResource {
  readonly type: 'TrafficPermission';
  readonly name: string;
  readonly mesh: string;
  readonly sources: readonly TrafficPermissionSelector[];
  readonly destinations: readonly TrafficPermissionSelector[];
}

export type Resource =
  | MeshResource
  | DataplaneResource
  | ServiceResource
  | SecretResource
  | GatewayResource
  | RouteResource
  | TrafficPermissionResource;

/** Unique identity of a resource: `Route/default/my-route`, or `Mesh/default` for a Mesh. */
export function resourceKey(r: Resource): string {
  return r.type === 'Mesh' ? `Mesh/${r.name}` : `${r.type}/${r.mesh}/${r.name}`;
}

/** How errors name a resource (SPEC §1): `Route/my-route`. */
export function resourceLabel(r: Pick<Resource, 'type' | 'name'>): string {
  return `${r.type}/${r.name}`;
}

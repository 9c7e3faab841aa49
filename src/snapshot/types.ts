/** xDS resource type URLs and the order in which a change is pushed. */
export const TYPE_PREFIX = 'type.googleapis.com/';

export const LISTENER_TYPE = `${TYPE_PREFIX}envoy.config.listener.v3.Listener`;
export const ROUTE_TYPE = `${TYPE_PREFIX}envoy.config.route.v3.RouteConfiguration`;
export const CLUSTER_TYPE = `${TYPE_PREFIX}envoy.config.cluster.v3.Cluster`;
export const ENDPOINT_TYPE = `${TYPE_PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`;
export const SECRET_TYPE = `${TYPE_PREFIX}envoy.extensions.transport_sockets.tls.v3.Secret`;

/**
 * Make-before-break: secrets before the clusters/listeners that name them, clusters before
 * their endpoints, listeners before their routes (CDS → EDS → LDS → RDS, see
 * https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#eventual-consistency-considerations).
 */
export const PUSH_ORDER: readonly string[] = [SECRET_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE];

export const KNOWN_TYPES: ReadonlySet<string> = new Set(PUSH_ORDER);

/** Short names used in status, metrics and the CLI. */
export const TYPE_SHORT_NAMES: Readonly<Record<string, string>> = {
  [LISTENER_TYPE]: 'LDS',
  [ROUTE_TYPE]: 'RDS',
  [CLUSTER_TYPE]: 'CDS',
  [ENDPOINT_TYPE]: 'EDS',
  [SECRET_TYPE]: 'SDS',
};

/**
 * For LDS and CDS, SotW responses carry the full set: a resource absent from a response is
 * deleted by the client, and an empty subscription is a wildcard. RDS, EDS and SDS only
 * ever carry the names asked for.
 */
export function isFullStateType(typeUrl: string): boolean {
  return typeUrl === LISTENER_TYPE || typeUrl === CLUSTER_TYPE;
}

export function protoNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** A generated resource: plain object with snake_case proto field names, as `Type.fromObject` takes it. */
export type ResourceObject = Readonly<Record<string, unknown>>;

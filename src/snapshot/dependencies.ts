/**
 * What a generated resource names in other xDS types: the clusters a Listener's TCP proxy or a
 * route action sends to, the RouteConfiguration an HTTP connection manager loads over RDS, the
 * SDS secrets a TLS context loads, and the ClusterLoadAssignment an EDS cluster waits for.
 *
 * The session needs this for make-before-break (xDS protocol "Eventual
 * consistency considerations"): it must not send a Listener naming a cluster the proxy does not
 * have yet, nor drop a cluster a Listener it holds still names. The references are read from the
 * resource itself, the way Envoy reads them, so every generator (sidecar, gateway, grpc) and
 * every test resource is covered without each of them having to declare them.
 */
import { CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE } from './types.js';

export interface ResourceDependencies {
  readonly clusters: readonly string[];
  readonly secrets: readonly string[];
  readonly routes: readonly string[];
  /** EDS service names (a Cluster of type EDS). */
  readonly endpoints: readonly string[];
}

export const NO_DEPENDENCIES: ResourceDependencies = Object.freeze({ clusters: [], secrets: [], routes: [], endpoints: [] });

type Plain = Readonly<Record<string, unknown>>;

function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** The names of `{ name }` entries: an SDS secret config, or a weighted cluster. */
function namesIn(value: unknown): string[] {
  const entries = Array.isArray(value) ? value : [value];
  return entries.flatMap((e) => (isPlain(e) && typeof e['name'] === 'string' && e['name'] !== '' ? [e['name']] : []));
}

interface Collector {
  clusters: Set<string>;
  secrets: Set<string>;
  routes: Set<string>;
}

function walk(value: unknown, out: Collector): void {
  if (Array.isArray(value)) {
    for (const item of value) walk(item, out);
    return;
  }
  if (!isPlain(value)) return;
  for (const [key, field] of Object.entries(value)) {
    // RouteAction.cluster, TcpProxy.cluster, RequestMirrorPolicy.cluster; GrpcService.EnvoyGrpc.cluster_name.
    if ((key === 'cluster' || key === 'cluster_name') && typeof field === 'string' && field !== '') out.clusters.add(field);
    else if (key === 'weighted_clusters' && isPlain(field)) for (const name of namesIn(field['clusters'])) out.clusters.add(name);
    // HttpConnectionManager.rds.route_config_name.
    else if (key === 'route_config_name' && typeof field === 'string' && field !== '') out.routes.add(field);
    // CommonTlsContext.tls_certificate_sds_secret_configs / validation_context_sds_secret_config, …
    else if (key.endsWith('_sds_secret_config') || key.endsWith('_sds_secret_configs')) for (const name of namesIn(field)) out.secrets.add(name);
    walk(field, out);
  }
}

/** The references of one resource; empty for the types that name nothing (EDS, SDS). */
export function dependenciesOf(typeUrl: string, resource: Plain): ResourceDependencies {
  if (typeUrl !== LISTENER_TYPE && typeUrl !== ROUTE_TYPE && typeUrl !== CLUSTER_TYPE) return NO_DEPENDENCIES;
  const out: Collector = { clusters: new Set(), secrets: new Set(), routes: new Set() };
  let endpoints: string[] = [];
  if (typeUrl === CLUSTER_TYPE) {
    // A Cluster's own load_assignment names itself, not another cluster.
    const { load_assignment: _inline, ...rest } = resource;
    walk(rest, out);
    out.clusters.clear();
    const eds = resource['eds_cluster_config'];
    if (resource['type'] === 'EDS' || eds !== undefined) {
      const serviceName = isPlain(eds) && typeof eds['service_name'] === 'string' && eds['service_name'] !== '' ? eds['service_name'] : resource['name'];
      if (typeof serviceName === 'string') endpoints = [serviceName];
    }
  } else {
    walk(resource, out);
  }
  if (out.clusters.size === 0 && out.secrets.size === 0 && out.routes.size === 0 && endpoints.length === 0) return NO_DEPENDENCIES;
  return { clusters: [...out.clusters], secrets: [...out.secrets], routes: [...out.routes], endpoints };
}

/**
 * A `ConfigWatcher` driven by the test: `set(nodeId, config)` publishes a snapshot to every
 * stream of that node synchronously, so once `set` returns the server has already reacted
 * (pushed or decided not to push). Nodes can be refused with a `WatchError`.
 * Also holds small builders for the plain resource objects the snapshots are made of.
 */
import { Observable, ReplaySubject, throwError } from 'rxjs';
import { lookupType } from '../../src/protos/load.js';
import { buildSnapshot, type GeneratedConfig, type Snapshot } from '../../src/snapshot/snapshot.js';
import type { ResourceObject } from '../../src/snapshot/encode.js';
import type { ConfigWatcher, NodeInfo, WatchError } from '../../src/snapshot/watcher.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE, protoNameOf } from '../../src/snapshot/types.js';

export class ControlledWatcher implements ConfigWatcher {
  private readonly subjects = new Map<string, ReplaySubject<Snapshot>>();
  private readonly refusals = new Map<string, WatchError>();
  private readonly latest = new Map<string, Snapshot>();
  /** Every node the server asked to watch, in order. */
  readonly watched: NodeInfo[] = [];

  watch(node: NodeInfo): Observable<Snapshot> {
    this.watched.push(node);
    const refusal = this.refusals.get(node.id);
    if (refusal) return throwError(() => refusal);
    return this.subject(node.id).asObservable();
  }

  /** Publishes a snapshot for one node; throws if the config is inconsistent. */
  set(nodeId: string, config: GeneratedConfig | TestConfig): Snapshot {
    const result = buildSnapshot(isGenerated(config) ? config : generated(config));
    if (!result.ok) throw new Error(`inconsistent test snapshot: ${result.errors.join('; ')}`);
    this.latest.set(nodeId, result.snapshot);
    this.subject(nodeId).next(result.snapshot);
    return result.snapshot;
  }

  /** The last snapshot published for a node. */
  snapshot(nodeId: string): Snapshot | undefined {
    return this.latest.get(nodeId);
  }

  /** From now on, streams of this node are closed with the error's gRPC code. */
  refuse(nodeId: string, error: WatchError): void {
    this.refusals.set(nodeId, error);
  }

  private subject(nodeId: string): ReplaySubject<Snapshot> {
    let subject = this.subjects.get(nodeId);
    if (!subject) {
      subject = new ReplaySubject<Snapshot>(1);
      this.subjects.set(nodeId, subject);
    }
    return subject;
  }
}

/** A config by kind, each a list of plain resource objects (see the builders below). */
export interface TestConfig {
  readonly clusters?: readonly ResourceObject[];
  readonly endpoints?: readonly ResourceObject[];
  readonly listeners?: readonly ResourceObject[];
  readonly routes?: readonly ResourceObject[];
  readonly secrets?: readonly ResourceObject[];
}

function isGenerated(config: GeneratedConfig | TestConfig): config is GeneratedConfig {
  return 'resources' in config && config.resources instanceof Map;
}

export function generated(config: TestConfig): GeneratedConfig {
  return {
    resources: new Map<string, readonly ResourceObject[]>([
      [SECRET_TYPE, config.secrets ?? []],
      [CLUSTER_TYPE, config.clusters ?? []],
      [ENDPOINT_TYPE, config.endpoints ?? []],
      [LISTENER_TYPE, config.listeners ?? []],
      [ROUTE_TYPE, config.routes ?? []],
    ]),
    refs: [],
  };
}

/** The resource objects of one type in a config, keyed by resource name. */
export function resourcesOf(config: TestConfig, typeUrl: string): Map<string, ResourceObject> {
  const list =
    typeUrl === SECRET_TYPE
      ? config.secrets
      : typeUrl === CLUSTER_TYPE
        ? config.clusters
        : typeUrl === ENDPOINT_TYPE
          ? config.endpoints
          : typeUrl === LISTENER_TYPE
            ? config.listeners
            : config.routes;
  const byName = new Map<string, ResourceObject>();
  for (const r of list ?? []) byName.set(String(typeUrl === ENDPOINT_TYPE ? r['cluster_name'] : r['name']), r);
  return byName;
}

/** A resource object as a client sees it after encode + decode (defaults filled in), for deep equality. */
export function canonical(typeUrl: string, resource: ResourceObject): Record<string, unknown> {
  const type = lookupType(protoNameOf(typeUrl));
  const bytes = type.encode(type.fromObject(resource)).finish();
  return type.toObject(type.decode(bytes), { defaults: true, longs: String, enums: String }) as Record<string, unknown>;
}

export function cluster(name: string, connectTimeoutSeconds = 5): ResourceObject {
  return {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    connect_timeout: { seconds: connectTimeoutSeconds },
  };
}

export function endpoints(clusterName: string, ...ports: number[]): ResourceObject {
  return {
    cluster_name: clusterName,
    endpoints: ports.length === 0 ? [] : [{ lb_endpoints: ports.map((port) => ({ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: port } } } })) }],
  };
}

export function listener(name: string, port: number): ResourceObject {
  return { name, address: { socket_address: { address: '127.0.0.1', port_value: port } } };
}

export function route(name: string, domain = '*'): ResourceObject {
  return { name, virtual_hosts: [{ name: 'vh', domains: [domain] }] };
}

export function secret(name: string, ca = 'ca-1'): ResourceObject {
  return { name, validation_context: { trusted_ca: { inline_string: ca } } };
}

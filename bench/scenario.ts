/**
 * The benchmark mesh: N Dataplanes `dp-0..dp-(N-1)`, each serving `svc-(i % 50)` over HTTP and
 * calling three neighbouring mesh services (HTTP, so LDS + RDS) and the external TCP Service
 * `ext`. Every proxy therefore holds 5 clusters (4 EDS + the local app), 4 ClusterLoadAssignments,
 * 5 listeners and 3 route configurations.
 *
 * Two scenarios share those Dataplanes and Services:
 * - `plain`: mesh `default` without mTLS; proxies hold CDS, EDS, LDS and RDS.
 * - `mtls`: mesh `default` with a builtin CA backend in STRICT mode, and one TrafficPermission per
 *   service allowing exactly its three callers (default deny otherwise). Every proxy also gets its
 *   own workload certificate (issued when it connects) and the mesh trust bundle over SDS, and
 *   its clusters and inbound listener name them.
 *
 * "A single changed cluster" is a new endpoint on `ext`: one ClusterLoadAssignment changes,
 * and since every proxy calls `ext`, all N proxies must receive and ACK a new EDS response.
 * Each iteration uses a fresh endpoint address, so no change ever repeats earlier content.
 */
import type { DataplaneResource, Resource, ServiceResource, TrafficPermissionResource } from '../src/api/types.js';
import { validateResource } from '../src/api/parse.js';

export const MESH = 'default';
const MAX_SERVICES = 50;
const NEIGHBOURS = 3;

export type Scenario = 'plain' | 'mtls';
export const SCENARIOS: readonly Scenario[] = ['plain', 'mtls'];

export function isScenario(value: string): value is Scenario {
  return (SCENARIOS as readonly string[]).includes(value);
}

/** The builtin CA's key type in the mtls scenario: RSA (Kuma's default) unless BENCH_MTLS_CA_KEY=ECDSA. */
export function mtlsCaKeyType(): 'RSA' | 'ECDSA' {
  return process.env['BENCH_MTLS_CA_KEY']?.toUpperCase() === 'ECDSA' ? 'ECDSA' : 'RSA';
}

export function nodeId(index: number): string {
  return `dp-${index}`;
}

function dataplaneAddress(index: number): string {
  const n = index + 1;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

function serviceName(index: number, services: number): string {
  return `svc-${((index % services) + services) % services}`;
}

function dataplane(index: number, services: number): DataplaneResource {
  const outbound = [{ port: 10000, tags: { 'kuma.io/service': 'ext' } }];
  for (let j = 1; j <= NEIGHBOURS; j++) {
    outbound.push({ port: 10000 + j, tags: { 'kuma.io/service': serviceName(index + j, services) } });
  }
  return {
    type: 'Dataplane',
    name: nodeId(index),
    mesh: MESH,
    networking: {
      address: dataplaneAddress(index),
      inbound: [{ port: 8080, servicePort: 18080, tags: { 'kuma.io/service': serviceName(index, services), 'kuma.io/protocol': 'http' } }],
      outbound,
    },
  };
}

/** Through meshcp's own validator, so every default (rotation, CA expiry, RSA bits) is what `meshcp apply` would store. */
function validated(doc: Record<string, unknown>): Resource {
  const result = validateResource(doc);
  if (!result.ok) throw new Error(`bench scenario: invalid ${String(doc['type'])}: ${result.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return result.value;
}

function mesh(scenario: Scenario): Resource {
  if (scenario === 'plain') return validated({ type: 'Mesh', name: MESH });
  return validated({
    type: 'Mesh',
    name: MESH,
    mtls: {
      enabledBackend: 'ca-1',
      backends: [{ name: 'ca-1', type: 'builtin', mode: 'STRICT', conf: { caCert: { keyType: mtlsCaKeyType() } } }],
    },
  });
}

/**
 * Who calls svc-k: the proxies serving svc-(k-1), svc-(k-2) and svc-(k-3) (dp-i calls its three
 * next neighbours). One TrafficPermission per destination service names exactly those sources.
 */
function trafficPermission(k: number, services: number): TrafficPermissionResource {
  const callers = new Set<string>();
  for (let j = 1; j <= NEIGHBOURS; j++) callers.add(serviceName(k - j, services));
  return validated({
    type: 'TrafficPermission',
    name: `callers-of-svc-${k}`,
    mesh: MESH,
    sources: [...callers].map((service) => ({ match: { 'kuma.io/service': service } })),
    destinations: [{ match: { 'kuma.io/service': serviceName(k, services) } }],
  }) as TrafficPermissionResource;
}

/** The external service whose endpoints change; iteration 0 is the initial config. */
export function externalService(iteration: number): ServiceResource {
  const endpoints = [{ address: '10.200.0.1', port: 5432 }];
  if (iteration > 0) endpoints.push({ address: `10.201.${(iteration >> 8) & 255}.${iteration & 255}`, port: 5432 });
  return { type: 'Service', name: 'ext', mesh: MESH, endpoints };
}

/** The Mesh, the Dataplanes and (mtls) the TrafficPermissions, which never change during a run. */
export function staticResources(proxies: number, scenario: Scenario = 'plain'): Resource[] {
  const services = Math.min(MAX_SERVICES, proxies);
  const resources: Resource[] = [mesh(scenario)];
  for (let i = 0; i < proxies; i++) resources.push(dataplane(i, services));
  if (scenario === 'mtls') for (let k = 0; k < services; k++) resources.push(trafficPermission(k, services));
  return resources;
}

/** The full resource set for a given change iteration (the baseline; meshcp gets the changed Service through its store). */
export function resourcesAt(base: readonly Resource[], iteration: number): readonly Resource[] {
  return [...base, externalService(iteration)];
}

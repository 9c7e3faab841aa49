/**
 * The benchmark mesh: N Dataplanes `dp-0..dp-(N-1)`, each serving `svc-(i % 50)` over HTTP and
 * calling three neighbouring mesh services (HTTP, so LDS + RDS) and the external TCP Service
 * `ext`. Every proxy therefore holds 5 clusters (4 EDS + the local app), 4 ClusterLoadAssignments,
 * 5 listeners and 3 route configurations.
 *
 * "A single changed cluster" is a new endpoint on `ext`: one ClusterLoadAssignment changes,
 * and since every proxy calls `ext`, all N proxies must receive and ACK a new EDS response.
 * Each iteration uses a fresh endpoint address, so no change ever repeats earlier content.
 */
import type { DataplaneResource, MeshResource, Resource, ServiceResource } from '../src/api/types.js';

export const MESH = 'default';
const MAX_SERVICES = 50;
const NEIGHBOURS = 3;

export function nodeId(index: number): string {
  return `dp-${index}`;
}

function dataplaneAddress(index: number): string {
  const n = index + 1;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

function dataplane(index: number, services: number): DataplaneResource {
  const outbound = [{ port: 10000, tags: { 'kuma.io/service': 'ext' } }];
  for (let j = 1; j <= NEIGHBOURS; j++) {
    outbound.push({ port: 10000 + j, tags: { 'kuma.io/service': `svc-${(index + j) % services}` } });
  }
  return {
    type: 'Dataplane',
    name: nodeId(index),
    mesh: MESH,
    networking: {
      address: dataplaneAddress(index),
      inbound: [{ port: 8080, servicePort: 18080, tags: { 'kuma.io/service': `svc-${index % services}`, 'kuma.io/protocol': 'http' } }],
      outbound,
    },
  };
}

/** The external service whose endpoints change; iteration 0 is the initial config. */
function externalService(iteration: number): ServiceResource {
  const endpoints = [{ address: '10.200.0.1', port: 5432 }];
  if (iteration > 0) endpoints.push({ address: `10.201.${(iteration >> 8) & 255}.${iteration & 255}`, port: 5432 });
  return { type: 'Service', name: 'ext', mesh: MESH, endpoints };
}

/** The Dataplanes and the Mesh, which never change during a run. */
export function staticResources(proxies: number): Resource[] {
  const services = Math.min(MAX_SERVICES, proxies);
  const mesh: MeshResource = { type: 'Mesh', name: MESH };
  const resources: Resource[] = [mesh];
  for (let i = 0; i < proxies; i++) resources.push(dataplane(i, services));
  return resources;
}

/** The full resource set for a given change iteration. */
export function resourcesAt(base: readonly Resource[], iteration: number): readonly Resource[] {
  return [...base, externalService(iteration)];
}

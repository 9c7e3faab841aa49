/** Dataplane: a sidecar or proxyless workload, Kuma universal format (SPEC §1 Dataplane). */
import { field, index, readIpAddress, readList, readObject, readPort, readStringMap, type Issues, type YamlObject } from './fields.js';
import type { DataplaneInbound, DataplaneOutbound, DataplaneResource } from './types.js';

import { SERVICE_TAG } from './tags.js';

function readTags(v: unknown, path: string, issues: Issues): Record<string, string> | undefined {
  const tags = readStringMap(v, path, issues, { required: true });
  if (tags && tags[SERVICE_TAG] === undefined) {
    issues.error(path, `tag "${SERVICE_TAG}" is required`);
    return undefined;
  }
  return tags;
}

/** Reports a port used twice within one list: the proxy could not bind both listeners. */
function checkUniquePorts(ports: ReadonlyArray<{ port: number; i: number }>, path: string, issues: Issues): void {
  const seen = new Map<number, number>();
  for (const { port, i } of ports) {
    const first = seen.get(port);
    if (first !== undefined) issues.error(field(index(path, i), 'port'), `port ${port} is already used by ${index(path, first)}`);
    else seen.set(port, i);
  }
}

function readInbounds(v: unknown, path: string, issues: Issues): DataplaneInbound[] {
  const inbounds: DataplaneInbound[] = [];
  const ports: Array<{ port: number; i: number }> = [];
  (readList(v, path, issues) ?? []).forEach((entry, i) => {
    const entryPath = index(path, i);
    const o = readObject(entry, entryPath, issues, ['port', 'servicePort', 'tags']);
    if (!o) return;
    const port = readPort(o['port'], field(entryPath, 'port'), issues, true);
    const servicePort = readPort(o['servicePort'], field(entryPath, 'servicePort'), issues);
    const tags = readTags(o['tags'], field(entryPath, 'tags'), issues);
    if (port === undefined || !tags) return;
    ports.push({ port, i });
    inbounds.push({ port, ...(servicePort !== undefined ? { servicePort } : {}), tags });
  });
  checkUniquePorts(ports, path, issues);
  return inbounds;
}

function readOutbounds(v: unknown, path: string, issues: Issues): DataplaneOutbound[] {
  const outbounds: DataplaneOutbound[] = [];
  const ports: Array<{ port: number; i: number }> = [];
  (readList(v, path, issues) ?? []).forEach((entry, i) => {
    const entryPath = index(path, i);
    const o = readObject(entry, entryPath, issues, ['port', 'tags']);
    if (!o) return;
    const port = readPort(o['port'], field(entryPath, 'port'), issues, true);
    const tags = readTags(o['tags'], field(entryPath, 'tags'), issues);
    if (port === undefined || !tags) return;
    ports.push({ port, i });
    outbounds.push({ port, tags });
  });
  checkUniquePorts(ports, path, issues);
  return outbounds;
}

/** Where a sidecar binds its outbound listeners, and calls the application behind an inbound. */
const SIDECAR_LOOPBACK = '127.0.0.1';

const isLoopback = (address: string): boolean => address.startsWith('127.') || address === '::1';

/**
 * Ports one sidecar cannot use twice: an inbound listener on the Dataplane's address and an
 * outbound listener on 127.0.0.1 with the same port collide when the address is 127.0.0.1 or
 * 0.0.0.0 (Envoy refuses the second listener, "duplicate address"); an application port that is
 * also an outbound port is taken by Envoy; and on a loopback address an inbound whose
 * application port is its own port forwards to itself.
 */
function checkListenerCollisions(address: string, inbound: readonly DataplaneInbound[], outbound: readonly DataplaneOutbound[], issues: Issues): void {
  const outboundIndex = new Map(outbound.map((o, j) => [o.port, j]));
  inbound.forEach((i, n) => {
    const path = index('networking.inbound', n);
    const clash = outboundIndex.get(i.port);
    if (clash !== undefined && (address === SIDECAR_LOOPBACK || address === '0.0.0.0')) {
      issues.error(field(index('networking.outbound', clash), 'port'), `port ${i.port} is also ${field(path, 'port')} on ${address}: the inbound listener and the outbound listener (bound to ${SIDECAR_LOOPBACK}) would collide; use another port for one of them`);
    }
    if (i.servicePort === undefined) {
      // The sidecar forwards to 127.0.0.1:servicePort; without one it would forward to its own
      // listener, so it gets none (generate/envoy-flavor.ts). Right for a proxyless app only.
      if (isLoopback(address)) {
        issues.warn(
          field(path, 'servicePort'),
          `none on the loopback address ${address}: right for a proxyless gRPC app, which serves port ${i.port} itself; an Envoy sidecar gets no inbound listener for it (give servicePort, the port the app behind the sidecar listens on)`,
        );
      }
      return;
    }
    const appClash = outboundIndex.get(i.servicePort);
    if (appClash !== undefined) {
      issues.error(field(path, 'servicePort'), `port ${i.servicePort} is also ${field(index('networking.outbound', appClash), 'port')}: the sidecar's outbound listener takes ${SIDECAR_LOOPBACK}:${i.servicePort}, where the application should listen; use another port for one of them`);
    }
    if (i.servicePort === i.port && isLoopback(address)) {
      issues.error(field(path, 'servicePort'), `equals ${field(path, 'port')} (${i.port}) on the loopback address ${address}: the sidecar would forward inbound traffic to its own listener; give the port the application listens on`);
    }
  });
}

export function validateDataplane(o: YamlObject, scope: { name: string; mesh: string }, issues: Issues): DataplaneResource {
  readObject(o, '', issues, ['type', 'name', 'mesh', 'networking']);
  const networking = readObject(o['networking'], 'networking', issues, ['address', 'inbound', 'outbound'], true);
  const address = networking ? readIpAddress(networking['address'], 'networking.address', issues, true, ' (Envoy binds its inbound listeners to it and other proxies dial it): give the workload\'s IP, or use a Service resource for an endpoint known by name') : undefined;
  const inbound = networking ? readInbounds(networking['inbound'], 'networking.inbound', issues) : [];
  const outbound = networking ? readOutbounds(networking['outbound'], 'networking.outbound', issues) : [];
  const listed = (v: unknown): boolean => Array.isArray(v) && v.length > 0;
  if (networking && !listed(networking['inbound']) && !listed(networking['outbound'])) {
    issues.error('networking', 'at least one inbound or outbound is required');
  }
  if (address !== undefined) checkListenerCollisions(address, inbound, outbound, issues);
  return { type: 'Dataplane', name: scope.name, mesh: scope.mesh, networking: { address: address ?? '', inbound, outbound } };
}

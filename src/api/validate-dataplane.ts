/** Dataplane: a sidecar or proxyless workload, Kuma universal format (SPEC §1 Dataplane). */
import { field, index, readAddress, readList, readObject, readPort, readStringMap, type Issues, type YamlObject } from './fields.js';
import type { DataplaneInbound, DataplaneOutbound, DataplaneResource } from './types.js';

export const SERVICE_TAG = 'kuma.io/service';

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

export function validateDataplane(o: YamlObject, scope: { name: string; mesh: string }, issues: Issues): DataplaneResource {
  readObject(o, '', issues, ['type', 'name', 'mesh', 'networking']);
  const networking = readObject(o['networking'], 'networking', issues, ['address', 'inbound', 'outbound'], true);
  const address = networking ? readAddress(networking['address'], 'networking.address', issues, true) : undefined;
  const inbound = networking ? readInbounds(networking['inbound'], 'networking.inbound', issues) : [];
  const outbound = networking ? readOutbounds(networking['outbound'], 'networking.outbound', issues) : [];
  const listed = (v: unknown): boolean => Array.isArray(v) && v.length > 0;
  if (networking && !listed(networking['inbound']) && !listed(networking['outbound'])) {
    issues.error('networking', 'at least one inbound or outbound is required');
  }
  return { type: 'Dataplane', name: scope.name, mesh: scope.mesh, networking: { address: address ?? '', inbound, outbound } };
}

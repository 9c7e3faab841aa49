/** Gateway: an edge Envoy that serves Routes (SPEC §1 Gateway). */
import { field, index, readList, readObject, readPort, type Issues, type YamlObject } from './fields.js';
import type { GatewayListener, GatewayResource } from './types.js';

export function validateGateway(o: YamlObject, scope: { name: string; mesh: string }, issues: Issues): GatewayResource {
  readObject(o, '', issues, ['type', 'name', 'mesh', 'listeners']);
  const entries = readList(o['listeners'], 'listeners', issues, { required: true, nonEmpty: true }) ?? [];
  const listeners: GatewayListener[] = [];
  const seen = new Map<number, number>();
  entries.forEach((entry, i) => {
    const path = index('listeners', i);
    const listener = readObject(entry, path, issues, ['port']);
    if (!listener) return;
    const port = readPort(listener['port'], field(path, 'port'), issues, true);
    if (port === undefined) return;
    const first = seen.get(port);
    if (first !== undefined) issues.error(field(path, 'port'), `port ${port} is already used by listeners[${first}]`);
    seen.set(port, i);
    listeners.push({ port });
  });
  return { type: 'Gateway', name: scope.name, mesh: scope.mesh, listeners };
}

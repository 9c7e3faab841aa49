/** Service: endpoints not managed by the mesh, and TLS towards them (SPEC §1 Service). */
import { field, index, readAddress, readHostname, readList, readName, readObject, readPort, type Issues, type YamlObject } from './fields.js';
import type { ServiceEndpoint, ServiceResource, ServiceTls } from './types.js';

function readTls(v: unknown, issues: Issues): ServiceTls | undefined {
  const o = readObject(v, 'tls', issues, ['caSecret', 'clientCertificateSecret', 'sni']);
  if (!o) return undefined;
  const caSecret = readName(o['caSecret'], 'tls.caSecret', issues, false);
  const clientCertificateSecret = readName(o['clientCertificateSecret'], 'tls.clientCertificateSecret', issues, false);
  const sni = readHostname(o['sni'], 'tls.sni', issues);
  return {
    ...(caSecret !== undefined ? { caSecret } : {}),
    ...(clientCertificateSecret !== undefined ? { clientCertificateSecret } : {}),
    ...(sni !== undefined ? { sni } : {}),
  };
}

export function validateService(o: YamlObject, scope: { name: string; mesh: string }, issues: Issues): ServiceResource {
  readObject(o, '', issues, ['type', 'name', 'mesh', 'endpoints', 'tls']);
  const entries = readList(o['endpoints'], 'endpoints', issues) ?? [];
  const endpoints: ServiceEndpoint[] = [];
  entries.forEach((entry, i) => {
    const path = index('endpoints', i);
    const e = readObject(entry, path, issues, ['address', 'port']);
    if (!e) return;
    const address = readAddress(e['address'], field(path, 'address'), issues, true);
    const port = readPort(e['port'], field(path, 'port'), issues, true);
    if (address !== undefined && port !== undefined) endpoints.push({ address, port });
  });
  const tls = readTls(o['tls'], issues);
  return { type: 'Service', name: scope.name, mesh: scope.mesh, endpoints, ...(tls ? { tls } : {}) };
}

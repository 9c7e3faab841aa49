/** Service: endpoints not managed by the mesh, and TLS towards them (SPEC §1 Service). */
import { isIP } from 'node:net';
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
  // A hostname is resolved by the proxy (a LOGICAL_DNS cluster), which takes exactly one address,
  // as Kuma's ExternalService does; a list of endpoints is a list of IPs.
  const named = endpoints.findIndex((e) => isIP(e.address) === 0);
  if (named >= 0 && endpoints.length > 1) {
    issues.error(field(index('endpoints', named), 'address'), `hostname ${JSON.stringify(endpoints[named]?.address)} in a list of ${endpoints.length} endpoints: a Service endpoint given by name must be the Service's only endpoint (the proxy resolves it); list IP addresses, or make one Service per name`);
  }
  const tls = readTls(o['tls'], issues);
  return { type: 'Service', name: scope.name, mesh: scope.mesh, endpoints, ...(tls ? { tls } : {}) };
}

/**
 * What an operator should be told about a Gateway's generated config, for the runtime to log
 * when the model changes: certificates clients will not trust, subject matchers Envoy cannot
 * enforce (they admit nobody), and upstream TLS that verifies less than it might look.
 */
import type { GatewayModel, MeshModel } from '../model/model.js';
import { subjectPatterns } from '../envoy/subject-regex.js';

export function gatewayWarnings(mesh: MeshModel, gateway: GatewayModel): string[] {
  const warnings: string[] = [];
  const services = new Set<string>();
  for (const host of gateway.hosts) {
    if (host.serverCertificate.kind === 'issued') {
      warnings.push(
        `Route/${host.route}: no tls.serverCertificate: ${host.host} is served with a certificate issued by the mesh CA, which is not publicly trusted; clients must be given that CA, or set tls.serverCertificate`,
      );
    }
    host.subjectMatches.forEach((m, i) => {
      const patterns = subjectPatterns(m);
      if (!patterns.ok) {
        warnings.push(`Route/${host.route}: validation.clientCertificate.subjectMatches[${i}].${m.kind}: Envoy cannot enforce it (${patterns.reason}); it admits no client`);
      }
    });
    for (const rule of host.rules) services.add(rule.service);
  }
  for (const name of [...services].sort()) {
    const tls = mesh.services.get(name)?.upstreamTls;
    if (!tls) continue;
    if (tls.caSecret === undefined) warnings.push(`Service/${name}: tls without caSecret: gateway ${gateway.name} does not verify the upstream's certificate`);
    else if (tls.sni === undefined) warnings.push(`Service/${name}: tls.caSecret without tls.sni: gateway ${gateway.name} verifies the upstream's chain but not its name`);
  }
  return warnings;
}

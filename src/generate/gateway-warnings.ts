/**
 * What an operator should be told about a Gateway's generated config, printed by `apply` and
 * logged by `serve` when the resource set changes (sources/validate.ts validateResources):
 * certificates clients will not trust (issued by the mesh CA, or whose names miss the host),
 * subject matchers Envoy cannot enforce (they admit nobody; validation refuses them now), and
 * upstream TLS that verifies less than it might look.
 */
import crypto from 'node:crypto';
import type { Resource } from '../api/types.js';
import type { GatewayModel, MeshModel } from '../model/model.js';
import { subjectRbacFilter } from '../envoy/subject-rbac.js';
import { translateMeshes } from '../translate/mesh-services.js';

/**
 * The command that prints the CA of meshcp-issued route certificates, runnable as soon as the
 * route is applied, whatever signs them: the enabled mTLS backend (builtin or provided), else the
 * mesh's gateway CA (created on that read if no gateway has needed it yet).
 */
function routeCaHint(mesh: string): string {
  return `meshcp get mesh ${mesh} -o pem`;
}

/** The certificate PEM of a user `tls` Secret, to check its names (undefined: not known here). */
export type ServerCertificateLookup = (mesh: string, secret: string) => string | undefined;

/**
 * Why the leaf certificate of `pem` does not cover `host` (RFC 6125 DNS-ID: the DNS SANs,
 * wildcards in the leftmost label; the CN is not consulted, as browsers and Envoy do), or undefined
 * when it does or cannot be read (secret material errors are reported when the secret is applied).
 */
export function serverCertificateMisses(pem: string | undefined, host: string): string | undefined {
  const leaf = pem?.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)?.[0];
  if (leaf === undefined) return undefined;
  let cert: crypto.X509Certificate;
  try {
    cert = new crypto.X509Certificate(leaf);
  } catch {
    return undefined;
  }
  const sans = (cert.subjectAltName ?? '').split(', ').filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4));
  const covered = host.startsWith('*.') ? sans.some((n) => n.toLowerCase() === host.toLowerCase()) : cert.checkHost(host, { subject: 'never' }) !== undefined;
  if (covered) return undefined;
  return sans.length === 0 ? 'the certificate has no DNS subject alternative name' : `its DNS names (${sans.slice(0, 5).join(', ')}${sans.length > 5 ? ', …' : ''}) do not cover the route's host`;
}

export function gatewayWarnings(mesh: MeshModel, gateway: GatewayModel, serverCertificatePem?: ServerCertificateLookup): string[] {
  const warnings: string[] = [];
  const services = new Set<string>();
  for (const host of gateway.hosts) {
    if (host.serverCertificate.kind === 'issued') {
      warnings.push(
        `Route/${host.route}: no tls.serverCertificate: ${host.host} is served with a certificate issued by the mesh CA, which is not publicly trusted; clients must be given that CA (${routeCaHint(mesh.name)}), or set tls.serverCertificate`,
      );
    } else {
      const uncovered = serverCertificateMisses(serverCertificatePem?.(mesh.name, host.serverCertificate.secret), host.host);
      if (uncovered !== undefined) warnings.push(`Route/${host.route}: tls.serverCertificate "${host.serverCertificate.secret}": ${uncovered}; clients that verify the name will refuse ${host.host}`);
    }
    // The filter generation builds says which matchers it could not express: warned about here.
    for (const { index, reason } of host.subjectMatches.length > 0 ? subjectRbacFilter(host.subjectMatches).unenforceable : []) {
      const kind = host.subjectMatches[index]?.kind ?? 'regex';
      warnings.push(`Route/${host.route}: validation.clientCertificate.subjectMatches[${index}].${kind}: Envoy cannot enforce it (${reason}); it admits no client`);
    }
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

/**
 * Every gateway warning of a resource set, for `apply` (printed on stderr) and `serve` (logged
 * once each while it holds). The set must be valid (references resolved).
 */
export function resourceSetWarnings(resources: readonly Resource[]): string[] {
  const lookup: ServerCertificateLookup = (mesh, name) => {
    for (const r of resources) if (r.type === 'Secret' && r.mesh === mesh && r.name === name && r.secretType === 'tls') return r.cert;
    return undefined;
  };
  const warnings: string[] = [];
  for (const mesh of translateMeshes(resources).meshes.values()) {
    for (const gateway of mesh.gateways.values()) warnings.push(...gatewayWarnings(mesh, gateway, lookup));
  }
  return warnings;
}

/**
 * `GET /api/inspect/gateways[?mesh=M]` and `GET /api/inspect/secrets[?mesh=M]` for the web GUI:
 * each Gateway's routes with their hosts, server certificates (custom or issued by meshcp, with
 * expiry and the same SAN-vs-host check `apply` warns with), client CA and subject matchers; and
 * every Secret's summary with the resources that use it. Certificates only: no key is read out.
 */
import type { Resource, SecretResource } from '../api/types.js';
import { certificateInfo } from '../ca/cert-info.js';
import { fingerprintSha256 } from '../ca/pem.js';
import { GATEWAY_CA_BACKEND } from '../ca/providers/registry.js';
import { builtinCaSecretBackend } from './ca-secrets.js';
import { enabledCaBackend, gatewayWarnings, serverCertificateMisses, type ServerCertificateLookup } from '../generate/gateway-warnings.js';
import { translateMeshes } from '../translate/mesh-services.js';
import { nacksBySource, type ProxyNack } from './inspect.js';
import type { MeshViewSources } from './mesh-overview.js';
import type { ResourceView } from './views.js';

export interface CertificateView {
  readonly subject: string;
  readonly dnsNames: readonly string[];
  readonly serial: string;
  readonly fingerprintSha256: string;
  readonly notBefore: string;
  readonly notAfter: string;
}

export interface RouteView {
  readonly route: string;
  readonly host: string;
  readonly serverCertificate:
    | { readonly kind: 'custom'; readonly secret: string; readonly certificate?: CertificateView; readonly hostMismatch?: string }
    | { readonly kind: 'issued'; readonly certificate?: CertificateView; readonly pending: boolean };
  readonly clientCa?: { readonly secret: string; readonly certificates: readonly CertificateView[] };
  readonly subjectMatches: readonly { readonly kind: string; readonly value: string }[];
  readonly rules: readonly { readonly prefix: string; readonly service: string }[];
  readonly warnings: readonly string[];
  readonly nacks: readonly ProxyNack[];
}

export interface GatewayView {
  readonly mesh: string;
  readonly name: string;
  readonly ports: readonly number[];
  readonly status: 'Online' | 'Offline';
  readonly routes: readonly RouteView[];
  /** Warnings about the gateway's upstreams (Service TLS). */
  readonly warnings: readonly string[];
}

function certificateViews(pem: string | undefined): CertificateView[] {
  const blocks = pem?.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.flatMap((block) => {
    try {
      const info = certificateInfo(block);
      return [{ subject: info.subject, dnsNames: info.dnsNames, serial: info.serialHex, fingerprintSha256: fingerprintSha256(block), notBefore: info.notBefore.toISOString(), notAfter: info.notAfter.toISOString() }];
    } catch {
      return [];
    }
  });
}

function secretOf(resources: readonly Resource[], mesh: string, name: string): SecretResource | undefined {
  return resources.find((r): r is SecretResource => r.type === 'Secret' && r.mesh === mesh && r.name === name);
}

export function gatewayViews(sources: MeshViewSources, onlyMesh?: string): GatewayView[] {
  const resources = sources.inspect.resources();
  const nacks = nacksBySource(sources.inspect);
  const lookup: ServerCertificateLookup = (mesh, name) => {
    const s = secretOf(resources, mesh, name);
    return s?.secretType === 'tls' ? s.cert : undefined;
  };
  const out: GatewayView[] = [];
  for (const mesh of translateMeshes(resources).meshes.values()) {
    if (onlyMesh !== undefined && mesh.name !== onlyMesh) continue;
    const caBackend = enabledCaBackend(resources, mesh.name);
    for (const gateway of mesh.gateways.values()) {
      const warnings = gatewayWarnings(mesh, gateway, lookup, caBackend);
      const proxy = sources.inspect.proxies.get(gateway.name, mesh.name);
      const routes = gateway.hosts.map((host): RouteView => {
        const ref = host.serverCertificate;
        let serverCertificate: RouteView['serverCertificate'];
        if (ref.kind === 'user') {
          const pem = lookup(mesh.name, ref.secret);
          const [leaf] = certificateViews(pem);
          const miss = serverCertificateMisses(pem, host.host);
          serverCertificate = { kind: 'custom', secret: ref.secret, ...(leaf ? { certificate: leaf } : {}), ...(miss !== undefined ? { hostMismatch: miss } : {}) };
        } else {
          const [leaf] = certificateViews(sources.identities.serverCertificateOf(mesh.name, host.host)?.certPem);
          serverCertificate = { kind: 'issued', ...(leaf ? { certificate: leaf } : {}), pending: leaf === undefined };
        }
        const caSecret = host.clientValidationCa !== undefined ? secretOf(resources, mesh.name, host.clientValidationCa) : undefined;
        return {
          route: host.route,
          host: host.host,
          serverCertificate,
          ...(host.clientValidationCa !== undefined ? { clientCa: { secret: host.clientValidationCa, certificates: certificateViews(caSecret?.cert) } } : {}),
          subjectMatches: host.subjectMatches.map((m) => ({ kind: m.kind, value: m.value })),
          rules: host.rules.map((r) => ({ prefix: r.prefix, service: r.service })),
          warnings: warnings.filter((w) => w.startsWith(`Route/${host.route}:`)),
          nacks: nacks.get(`Route/${mesh.name}/${host.route}`) ?? [],
        };
      });
      out.push({
        mesh: mesh.name,
        name: gateway.name,
        ports: gateway.ports,
        status: proxy !== undefined && proxy.activeStreams > 0 ? 'Online' : 'Offline',
        routes,
        warnings: warnings.filter((w) => !w.startsWith('Route/')),
      });
    }
  }
  return out;
}

export interface SecretUse {
  /** `Route/shop`, `Service/cart`, `Mesh/default`. */
  readonly resource: string;
  /** What the secret is to it: `client CA`, `server certificate`, `upstream CA`, `CA backend ca-1 (enabled)`. */
  readonly as: string;
}

export type SecretView = ResourceView & { readonly usedBy: readonly SecretUse[] };

/** Who uses each Secret of `mesh` (every mesh when undefined). */
function secretUses(resources: readonly Resource[]): Map<string, SecretUse[]> {
  const uses = new Map<string, SecretUse[]>();
  const use = (mesh: string, secret: string | undefined, resource: string, as: string): void => {
    if (secret === undefined) return;
    const key = `${mesh}/${secret}`;
    uses.set(key, [...(uses.get(key) ?? []), { resource, as }]);
  };
  for (const r of resources) {
    if (r.type === 'Route') {
      use(r.mesh, r.tls?.clientValidationCa?.name, `Route/${r.name}`, 'client CA');
      use(r.mesh, r.tls?.serverCertificate?.name, `Route/${r.name}`, 'server certificate');
    } else if (r.type === 'Service') {
      use(r.mesh, r.tls?.caSecret, `Service/${r.name}`, 'upstream CA');
      use(r.mesh, r.tls?.clientCertificateSecret, `Service/${r.name}`, 'upstream client certificate');
    } else if (r.type === 'Mesh') {
      for (const b of r.mtls?.backends ?? []) {
        if (b.type !== 'provided') continue;
        const state = r.mtls?.enabledBackend === b.name ? 'enabled' : 'not enabled';
        if ('secret' in b.conf.cert) use(r.name, b.conf.cert.secret, `Mesh/${r.name}`, `CA backend ${b.name} certificate (${state})`);
        if ('secret' in b.conf.key) use(r.name, b.conf.key.secret, `Mesh/${r.name}`, `CA backend ${b.name} key (${state})`);
      }
    }
  }
  return uses;
}

export function secretViews(sources: MeshViewSources, mesh?: string): SecretView[] {
  const resources = sources.inspect.resources();
  const uses = secretUses(resources);
  const meshes = new Map(resources.filter((r): r is Resource & { type: 'Mesh' } => r.type === 'Mesh').map((m) => [m.name, m]));
  return sources.secrets(mesh).map((view): SecretView => {
    const name = String(view.resource['name']);
    const secretMesh = String(view.resource['mesh']);
    const builtin = builtinCaSecretBackend(secretMesh, name);
    const usedBy = [...(uses.get(`${secretMesh}/${name}`) ?? [])];
    if (builtin && view.origin === 'system') {
      const mtls = meshes.get(secretMesh)?.mtls;
      const as =
        builtin.backend === GATEWAY_CA_BACKEND.name && !mtls?.backends.some((b) => b.name === builtin.backend)
          ? `gateway CA ${builtin.part}: signs route server certificates while mTLS is off`
          : `builtin CA backend ${builtin.backend} ${builtin.part} (${mtls?.enabledBackend === builtin.backend ? 'enabled' : 'not enabled'})`;
      usedBy.push({ resource: `Mesh/${secretMesh}`, as });
    }
    return { ...view, usedBy };
  });
}

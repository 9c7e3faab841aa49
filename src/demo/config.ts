/**
 * The demo mesh: builtin CA, STRICT mTLS with short-lived workload certificates (so a rotation
 * shows within seconds), web and backend as proxyless gRPC workloads, and the permission
 * web → backend. The real-peer tests use the same Dataplanes (`demoDataplanes`) in a mesh without mTLS.
 */

/** The demo's Dataplanes: web, and one backend Dataplane per entry. */
export function demoDataplanes(backends: ReadonlyArray<{ name: string; port: number }>, webPort: number): string {
  const backendDocs = backends
    .map(
      ({ name, port }) => `---
type: Dataplane
mesh: default
name: ${name}
networking:
  address: 127.0.0.1
  inbound:
  - port: ${port}
    tags: { kuma.io/service: backend, kuma.io/protocol: grpc }
`,
    )
    .join('');
  return `type: Dataplane
mesh: default
name: web
networking:
  address: 127.0.0.1
  inbound:
  - port: ${webPort}
    tags: { kuma.io/service: web, kuma.io/protocol: grpc }
${backendDocs}`;
}

export const DEMO_PERMISSION = `type: TrafficPermission
mesh: default
name: web-to-backend
sources: [ { match: { kuma.io/service: web } } ]
destinations: [ { match: { kuma.io/service: backend } } ]
`;

/** The mTLS demo: STRICT, builtin CA, workload certificates living `certLifetime`. */
export function demoMeshMtls(backendPort: number, webPort: number, certLifetime: string): string {
  return `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
    mode: STRICT
    dpCert:
      rotation:
        expiration: ${certLifetime}
---
${demoDataplanes([{ name: 'backend-1', port: backendPort }], webPort)}---
${DEMO_PERMISSION}`;
}

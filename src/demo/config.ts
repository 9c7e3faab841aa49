/** The demo mesh: web calls backend; one Dataplane per running backend port. */
export function demoConfig(backends: ReadonlyArray<{ name: string; port: number }>): string {
  const dataplanes = backends
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
  return `type: Mesh
name: default
---
type: Dataplane
mesh: default
name: web
networking:
  address: 127.0.0.1
  inbound:
  - port: 1
    tags: { kuma.io/service: web, kuma.io/protocol: grpc }
${dataplanes}`;
}

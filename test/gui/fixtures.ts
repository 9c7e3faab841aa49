/** The meshes the GUI tests and bench serve: a small mesh with a gateway, a rotating mesh, and a large one. */
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';

function indent(pem: string, spaces: number): string {
  return pem
    .trim()
    .split('\n')
    .map((l) => `${' '.repeat(spaces)}${l}`)
    .join('\n');
}

export interface GuiPki {
  readonly clientCaPem: string;
  /** Signed by the client CA, CN and DNS SAN client.acme.org: the route `shop` admits it. */
  readonly admittedPem: string;
  /** From another CA: every route refuses it. */
  readonly strangerPem: string;
  /** The admin API's mTLS: server certificate and key, and a client certificate and key. */
  readonly adminCaPem: string;
  readonly adminServerPem: string;
  readonly adminServerKeyPem: string;
  readonly adminClientPem: string;
  readonly adminClientKeyPem: string;
  /** A server certificate for other.acme.org: the route `admin` (host admin.acme.org) uses it, a SAN mismatch. */
  readonly wrongHostPem: string;
  readonly wrongHostKeyPem: string;
}

const DAY = 86_400;

export async function guiPki(): Promise<GuiPki> {
  const clientCa = await createRootCa({ commonName: 'Acme Client CA', validitySeconds: 365 * DAY });
  const admitted = await issueCertificate({ issuer: clientCa, commonName: 'client.acme.org', dnsNames: ['client.acme.org'], usage: 'client', validitySeconds: 30 * DAY });
  const otherCa = await createRootCa({ commonName: 'Stranger CA', validitySeconds: 365 * DAY });
  const stranger = await issueCertificate({ issuer: otherCa, commonName: 'client.acme.org', dnsNames: ['client.acme.org'], usage: 'client', validitySeconds: 30 * DAY });
  const adminCa = await createRootCa({ commonName: 'Admin CA', validitySeconds: 365 * DAY });
  const adminServer = await issueCertificate({ issuer: adminCa, commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server', validitySeconds: 30 * DAY });
  const adminClient = await issueCertificate({ issuer: adminCa, commonName: 'ops@acme.org', usage: 'client', validitySeconds: 30 * DAY });
  const wrongHost = await issueCertificate({ issuer: otherCa, commonName: 'other.acme.org', dnsNames: ['other.acme.org'], usage: 'server', validitySeconds: 200 * DAY });
  return {
    clientCaPem: clientCa.certPem,
    admittedPem: admitted.certPem,
    strangerPem: stranger.certPem,
    adminCaPem: adminCa.certPem,
    adminServerPem: adminServer.certPem,
    adminServerKeyPem: adminServer.keyPem,
    adminClientPem: adminClient.certPem,
    adminClientKeyPem: adminClient.keyPem,
    wrongHostPem: wrongHost.certPem,
    wrongHostKeyPem: wrongHost.keyPem,
  };
}

function dataplane(mesh: string, name: string, service: string, port: number, outbound: readonly string[], extraTags = ''): string {
  return `type: Dataplane
mesh: ${mesh}
name: ${name}
networking:
  address: 127.0.0.1
  inbound: [{ port: ${port}, servicePort: ${port + 10000}, tags: { kuma.io/service: ${service}, kuma.io/protocol: http${extraTags} } }]
  outbound: [${outbound.map((s, i) => `{ port: ${20000 + port + i}, tags: { kuma.io/service: ${s} } }`).join(', ')}]
`;
}

/**
 * Mesh `default` (STRICT, builtin CA): edge gateway → web → backend → db, web → cache, with a
 * client-certificate route; mesh `rotating`, whose workload certificates live 4 s.
 */
export function smallMesh(pki: GuiPki): string {
  return [
    `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
    mode: STRICT
    conf: { caCert: { keyType: ECDSA } }
`,
    `type: Mesh
name: rotating
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
    dpCert: { rotation: { expiration: 4s } }
    conf: { caCert: { keyType: ECDSA } }
`,
    dataplane('default', 'web-01', 'web', 8080, ['backend', 'cache']),
    dataplane('default', 'web-02', 'web', 8081, ['backend', 'cache']),
    dataplane('default', 'backend-01', 'backend', 8082, ['db']),
    dataplane('default', 'db-01', 'db', 8083, []),
    dataplane('default', 'cache-01', 'cache', 8084, []),
    dataplane('rotating', 'rot-01', 'rot', 8085, []),
    `type: Gateway
mesh: default
name: edge
listeners: [{ port: 8443 }]
`,
    `type: Secret
mesh: default
name: client-ca
secretType: tls-ca
cert: |
${indent(pki.clientCaPem, 2)}
`,
    `type: Route
mesh: default
name: shop
gateway: edge
host: shop.acme.org
tls:
  clientValidationCa: { name: client-ca }
validation:
  clientCertificate:
    subjectMatches: [{ exact: client.acme.org }, { hasSuffix: .partner.acme.org }]
routes: [{ prefix: /, route: { service: web } }]
`,
    `type: Secret
mesh: default
name: admin-cert
secretType: tls
cert: |
${indent(pki.wrongHostPem, 2)}
key: |
${indent(pki.wrongHostKeyPem, 2)}
`,
    `type: Route
mesh: default
name: admin
gateway: edge
host: admin.acme.org
tls:
  serverCertificate: { name: admin-cert }
routes: [{ prefix: /, route: { service: backend } }]
`,
  ].join('---\n');
}

/** Applied through the admin API (so a test can delete one), as `meshcp apply` does. */
export const PERMISSIONS = ['edge:web', 'web:backend', 'backend:db', 'web:cache']
  .map((pair) => {
    const [from, to] = pair.split(':');
    return `type: TrafficPermission
mesh: default
name: ${from}-to-${to}
sources: [{ match: { kuma.io/service: ${from} } }]
destinations: [{ match: { kuma.io/service: ${to} } }]
`;
  })
  .join('---\n');

/** `dataplanes` Dataplanes over `services` services, each calling the next two, with a permission for every other call. */
export function largeMesh(dataplanes: number, services: number): string {
  const docs = [
    `type: Mesh
name: large
mtls:
  enabledBackend: ca-1
  backends: [{ name: ca-1, type: builtin, conf: { caCert: { keyType: ECDSA } } }]
`,
  ];
  for (let i = 0; i < dataplanes; i++) {
    const s = i % services;
    const version = i % 3 === 0 ? 'v2' : 'v1';
    docs.push(dataplane('large', `dp-${String(i).padStart(4, '0')}`, `svc-${s}`, 1000 + (i % 50), [`svc-${(s + 1) % services}`, `svc-${(s + 2) % services}`], `, version: ${version}`));
  }
  for (let s = 0; s < services; s += 2) {
    docs.push(`type: TrafficPermission
mesh: large
name: svc-${s}-out
sources: [{ match: { kuma.io/service: svc-${s} } }]
destinations: [{ match: { kuma.io/service: svc-${(s + 1) % services} } }]
`);
  }
  return docs.join('---\n');
}

/** The resource examples of SPEC §1, verbatim apart from the PEM bodies. */
export const PEM_CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
export const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';

export const SECRETS_YAML = `type: Secret
name: my-root-ca
secretType: tls-ca
cert: |
  -----BEGIN CERTIFICATE-----
  MIIB
  -----END CERTIFICATE-----
---
type: Secret
name: my-tls-cert
secretType: tls
cert: |
  -----BEGIN CERTIFICATE-----
  MIIB
  -----END CERTIFICATE-----
key: |
  -----BEGIN PRIVATE KEY-----
  MIIE
  -----END PRIVATE KEY-----
`;

export const GATEWAY_YAML = `type: Gateway
name: edge
mesh: default
listeners:
- port: 8443
`;

export const ROUTE_YAML = `type: Route
name: my-route
gateway: edge
host: ecommerce.acme.org
tls:
  clientValidationCa:
    name: my-root-ca
  serverCertificate:
    name: my-tls-cert
validation:
  clientCertificate:
    subjectMatches:
    - exact: client.acme.org
    - hasPrefix: client-
    - hasSuffix: .acme.org
    - regex: '^svc-[0-9]+\\.acme\\.org$'
routes:
- prefix: /
  route:
    service: shopping-cart
`;

export const SERVICE_YAML = `type: Service
name: shopping-cart
mesh: default
endpoints:
- address: 127.0.0.1
  port: 9001
tls:
  caSecret: upstream-ca
  clientCertificateSecret: gw-client
  sni: upstream
`;

export const MESH_YAML = `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
    mode: STRICT
    dpCert:
      rotation:
        expiration: 1d
    conf:
      caCert:
        RSAbits: 2048
        expiration: 10y
  - name: ca-2
    type: provided
    conf:
      cert: { secret: my-ca-cert }
      key:  { secret: my-ca-key }
`;

export const DATAPLANE_YAML = `type: Dataplane
mesh: default
name: web-01
networking:
  address: 127.0.0.1
  inbound:
  - port: 8080
    servicePort: 18080
    tags: { kuma.io/service: web }
  outbound:
  - port: 10001
    tags: { kuma.io/service: backend }
`;

export const TRAFFIC_PERMISSION_YAML = `type: TrafficPermission
mesh: default
name: web-to-backend
sources:      [ { match: { kuma.io/service: web } } ]
destinations: [ { match: { kuma.io/service: backend } } ]
`;

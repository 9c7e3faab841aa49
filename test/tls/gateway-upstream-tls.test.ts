/**
 * SPEC §1 Service `tls`, with real handshakes on 127.0.0.1: the cluster meshcp generates for
 * the gateway (decoded from the snapshot, as Envoy receives it) verifies the upstream against
 * `caSecret` and the name in `sni`, presents `clientCertificateSecret`, and sends `sni`.
 */
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseYamlDocuments } from '../helpers/parse-yaml.js';
import { createRootCa, issueCertificate, type CaMaterial, type IssuedCertificate } from '../../src/ca/pki.js';
import { generateForProxy } from '../../src/generate/generate.js';
import { secretMaterialFromResources } from '../helpers/secret-material.js';
import { translateMeshes } from '../../src/translate/mesh-services.js';
import { decodeProxyConfig, upstreamTlsOptions } from '../helpers/envoy-tls.js';

const HOUR = 3600;

function indent(pem: string): string {
  return pem
    .trim()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

interface Upstream {
  readonly port: number;
  /** SNI and client certificate subject of each accepted connection. */
  readonly seen: Array<{ sni: string | false | null; clientCn: string | undefined }>;
  readonly server: tls.Server;
}

async function startUpstream(certificate: IssuedCertificate, clientCa: CaMaterial): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const server = tls.createServer({ cert: certificate.chainPem, key: certificate.keyPem, ca: clientCa.certPem, requestCert: true, rejectUnauthorized: true }, (socket) => {
    const cn = socket.getPeerCertificate().subject?.CN;
    seen.push({ sni: socket.servername, clientCn: Array.isArray(cn) ? cn[0] : cn });
    socket.end('hello');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { port: address.port, seen, server };
}

async function connect(port: number, options: tls.ConnectionOptions): Promise<'connected' | string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options }, () => {
      socket.once('data', () => {
        socket.end();
        resolve('connected');
      });
    });
    socket.on('error', (err) => resolve(err.message));
  });
}

describe('gateway upstream TLS, real handshakes', () => {
  let upstreamCa: CaMaterial;
  let gatewayClientCa: CaMaterial;
  let gatewayClient: IssuedCertificate;
  let upstream: Upstream | undefined;

  beforeAll(async () => {
    upstreamCa = await createRootCa({ commonName: 'upstream root', validitySeconds: HOUR });
    gatewayClientCa = await createRootCa({ commonName: 'gateway clients', validitySeconds: HOUR });
    gatewayClient = await issueCertificate({ issuer: gatewayClientCa, commonName: 'edge-gateway', usage: 'client', validitySeconds: HOUR });
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => (upstream ? upstream.server.close(() => resolve()) : resolve()));
    upstream = undefined;
  });

  function clusterOptions(tlsBlock: string): tls.ConnectionOptions {
    const yaml = `
type: Gateway
name: edge
listeners: [{ port: 8443 }]
---
type: Secret
name: upstream-ca
secretType: tls-ca
cert: |
${indent(upstreamCa.certPem)}
---
type: Secret
name: gw-client
secretType: tls
cert: |
${indent(gatewayClient.chainPem)}
key: |
${indent(gatewayClient.keyPem)}
---
type: Route
name: pay
host: pay.example.com
routes: [{ prefix: /, route: { service: payments } }]
---
type: Service
name: payments
endpoints: [{ address: 127.0.0.1, port: 9 }]
tls:
${tlsBlock}
`;
    const parsed = parseYamlDocuments(yaml, { file: 'upstream.yaml' });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const secrets = secretMaterialFromResources(parsed.value, () => ({ certPem: gatewayClient.certPem, keyPem: gatewayClient.keyPem }));
    const config = generateForProxy(translateMeshes(parsed.value), { name: 'edge', mesh: 'default', flavor: 'envoy' }, { secrets });
    return upstreamTlsOptions(decodeProxyConfig(config), 'payments');
  }

  const MUTUAL = '  caSecret: upstream-ca\n  clientCertificateSecret: gw-client\n  sni: upstream';

  it('verifies the upstream, presents the client certificate and sends the SNI', async () => {
    // given an upstream that requires a client certificate from the gateway's CA
    const certificate = await issueCertificate({ issuer: upstreamCa, dnsNames: ['upstream'], usage: 'server', validitySeconds: HOUR });
    upstream = await startUpstream(certificate, gatewayClientCa);
    // when the gateway connects as the generated cluster says
    const result = await connect(upstream.port, clusterOptions(MUTUAL));
    // then
    expect(result).toBe('connected');
    expect(upstream.seen).toEqual([{ sni: 'upstream', clientCn: 'edge-gateway' }]);
  });

  it('refuses an upstream whose certificate is for another name', async () => {
    // given the upstream's certificate, from the right CA, names "elsewhere"
    const certificate = await issueCertificate({ issuer: upstreamCa, dnsNames: ['elsewhere'], usage: 'server', validitySeconds: HOUR });
    upstream = await startUpstream(certificate, gatewayClientCa);
    // when
    const result = await connect(upstream.port, clusterOptions(MUTUAL));
    // then
    expect(result).not.toBe('connected');
  });

  it('refuses an upstream whose certificate comes from another CA', async () => {
    // given
    const otherCa = await createRootCa({ commonName: 'other', validitySeconds: HOUR });
    const certificate = await issueCertificate({ issuer: otherCa, dnsNames: ['upstream'], usage: 'server', validitySeconds: HOUR });
    upstream = await startUpstream(certificate, gatewayClientCa);
    // when
    const result = await connect(upstream.port, clusterOptions(MUTUAL));
    // then
    expect(result).not.toBe('connected');
  });

  it('is refused by an upstream requiring a client certificate when none is configured', async () => {
    // given a Service with a CA and SNI but no clientCertificateSecret
    const certificate = await issueCertificate({ issuer: upstreamCa, dnsNames: ['upstream'], usage: 'server', validitySeconds: HOUR });
    upstream = await startUpstream(certificate, gatewayClientCa);
    // when
    const result = await connect(upstream.port, clusterOptions('  caSecret: upstream-ca\n  sni: upstream'));
    // then
    expect(result).not.toBe('connected');
    expect(upstream.seen).toEqual([]);
  });
});

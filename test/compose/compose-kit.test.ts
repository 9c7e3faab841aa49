/**
 * docker-compose.yml and envoy/: everything short of running Docker (there is no engine here).
 * The init step (envoy/init.sh) runs for real with this build of meshcp; then the compose file,
 * the bootstraps it wrote, the meshcp resources and the ports must agree, and the config the
 * edge gateway would receive must match its golden file.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfigPaths } from '../../src/api/load-files.js';
import type { Resource } from '../../src/api/types.js';
import { verifyToken } from '../../src/auth/token.js';
import { validateFiles } from '../../src/cli/validate.js';
import { generateForProxy } from '../../src/generate/generate.js';
import { secretMaterialFromResources } from '../../src/generate/secret-material.js';
import { translateMeshes } from '../../src/translate/mesh-services.js';
import { checkBootstrap, get } from '../helpers/envoy-bootstrap.js';
import { expectGolden, fakeMeshTls, renderConfig } from '../helpers/golden.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');

type Service = {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  network_mode?: string;
  networks?: { mesh?: { ipv4_address?: string } };
};

const compose = YAML.parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const ipOf = (name: string): string | undefined => services[name]?.networks?.mesh?.ipv4_address;
const flag = (command: readonly string[] | undefined, name: string): string | undefined => {
  const i = command?.indexOf(name) ?? -1;
  return i >= 0 ? command?.[i + 1] : undefined;
};
const envoyServices = Object.entries(services).filter(([, s]) => s.image?.startsWith('envoyproxy/envoy:'));

let out: string;
let resources: Resource[];

beforeAll(() => {
  // given: the init step, run as compose would run it (MESHCP, OUT, DATA, XDS_ADDRESS from the compose file)
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-compose-'));
  const env = services['init']?.environment ?? {};
  const run = spawnSync('sh', [path.join(ROOT, 'envoy/init.sh')], {
    env: { ...process.env, MESHCP: `${process.execPath} ${CLI}`, OUT: out, DATA: path.join(out, 'data'), XDS_ADDRESS: env['XDS_ADDRESS'] ?? '' },
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`envoy/init.sh failed (${run.status}): ${run.stderr}`);
}, 120_000);

describe('docker-compose demo kit', () => {
  it('runs meshcp, an edge gateway and two services behind sidecars, all on the official Envoy image', () => {
    expect(Object.keys(services).sort()).toEqual(['backend', 'backend-sidecar', 'edge', 'init', 'meshcp', 'web', 'web-sidecar']);
    expect(envoyServices.map(([name]) => name).sort()).toEqual(['backend-sidecar', 'edge', 'web-sidecar']);
    expect(services['web-sidecar']?.network_mode).toBe('service:web');
    expect(services['backend-sidecar']?.network_mode).toBe('service:backend');
  });

  it('gives every Envoy a bootstrap written by `meshcp bootstrap envoy`: valid, lossless, pointing at meshcp over TLS, with a token for its name', async () => {
    // given: where meshcp serves xDS, per the compose file: the compose service name, which the Envoys resolve
    const xdsPort = flag(services['meshcp']?.command, '--xds-address')?.split(':').pop();
    const expectedXds = `meshcp:${xdsPort}`;
    expect(services['init']?.environment?.['XDS_ADDRESS']).toBe(expectedXds);
    const xdsCa = fs.readFileSync(path.join(out, 'certs/xds-ca.crt'), 'utf8');
    const { loadOrCreateSigningKey } = await import('../../src/auth/token.js');
    const signingKey = await loadOrCreateSigningKey(path.join(out, 'data'));
    for (const [name, service] of envoyServices) {
      // when: the file its command names, as the init step wrote it
      const file = flag(service.command, '-c') ?? '';
      expect(file.startsWith('/shared/bootstrap/')).toBe(true);
      const bootstrap = YAML.parse(fs.readFileSync(path.join(out, file.slice('/shared/'.length)), 'utf8')) as Record<string, unknown>;
      // then
      const { roundTrip, violations } = checkBootstrap(bootstrap);
      expect(violations, name).toEqual([]);
      expect(roundTrip, name).toEqual(bootstrap);
      const proxy = name.replace(/-sidecar$/, '');
      expect(get(bootstrap, 'node', 'id')).toBe(proxy);
      const address = get(bootstrap, 'static_resources', 'clusters', 0, 'load_assignment', 'endpoints', 0, 'lb_endpoints', 0, 'endpoint', 'address', 'socket_address') as { address: string; port_value: number };
      expect(`${address.address}:${address.port_value}`).toBe(expectedXds);
      // xDS is TLS (SPEC §2): the cluster trusts the xDS CA and expects the name it dials
      const tlsContext = get(bootstrap, 'static_resources', 'clusters', 0, 'transport_socket', 'typed_config');
      expect(tlsContext, name).toMatchObject({
        sni: 'meshcp',
        common_tls_context: { alpn_protocols: ['h2'], validation_context: { trusted_ca: { inline_string: xdsCa }, match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'meshcp' } }] } },
      });
      const token = verifyToken(String(get(bootstrap, 'node', 'metadata', 'token')), signingKey);
      expect(token.ok && token.claims.name).toBe(proxy);
    }
  });

  it('serves xDS over TLS with a certificate for the name the Envoys dial, signed by the CA their bootstraps trust', () => {
    // given: the files meshcp serves xDS with, per the compose command, as the init step wrote them
    const command = services['meshcp']?.command ?? [];
    expect(command).not.toContain('--xds-plaintext');
    const certFile = flag(command, '--xds-tls-cert') ?? '';
    const keyFile = flag(command, '--xds-tls-key') ?? '';
    expect(certFile.startsWith('/shared/certs/') && keyFile.startsWith('/shared/certs/')).toBe(true);
    const cert = new crypto.X509Certificate(fs.readFileSync(path.join(out, certFile.slice('/shared/'.length))));
    const key = crypto.createPrivateKey(fs.readFileSync(path.join(out, keyFile.slice('/shared/'.length))));
    const ca = new crypto.X509Certificate(fs.readFileSync(path.join(out, 'certs/xds-ca.crt')));
    // then
    expect(cert.checkHost('meshcp')).toBe('meshcp');
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(key)).toBe(true);
  });

  it('has meshcp resources that validate, with addresses and ports that match the compose file', async () => {
    // given: what the meshcp container loads: envoy/meshcp plus the generated secrets
    const paths = [...(services['meshcp']?.command ?? [])].filter((_, i, all) => all[i - 1] === '--config');
    expect(paths).toEqual(['/app/envoy/meshcp', '/shared/config']);
    const local = [path.join(ROOT, 'envoy/meshcp'), path.join(out, 'config')];
    // when
    const report = await validateFiles(local);
    const loaded = await loadConfigPaths(local);
    // then
    expect(report.errors).toEqual([]);
    if (!loaded.ok) throw new Error('not loaded');
    resources = loaded.value;
    for (const dp of resources.filter((r) => r.type === 'Dataplane')) {
      expect(ipOf(dp.name), dp.name).toBe(dp.networking.address);
      const app = services[dp.name]?.environment ?? {};
      expect(dp.networking.inbound.map((i) => String(i.servicePort))).toEqual([app['PORT']]);
      const upstream = app['UPSTREAM'];
      if (upstream) expect(dp.networking.outbound.map((o) => `http://127.0.0.1:${o.port}/`)).toContain(upstream);
    }
    const gateway = resources.find((r) => r.type === 'Gateway');
    expect(gateway?.type === 'Gateway' && gateway.listeners.map((l) => `127.0.0.1:${l.port}:${l.port}`)).toEqual(services['edge']?.ports);
  });

  it('sends the edge gateway the config in its golden file', async () => {
    // given
    const loaded = await loadConfigPaths([path.join(ROOT, 'envoy/meshcp'), path.join(out, 'config')]);
    if (!loaded.ok) throw new Error('not loaded');
    // when
    const config = generateForProxy(translateMeshes(loaded.value), { name: 'edge', mesh: 'default', flavor: 'envoy' }, { secrets: secretMaterialFromResources(loaded.value, () => undefined), meshTls: fakeMeshTls });
    const rendered = renderConfig(config);
    // then
    expect(rendered.violations).toEqual([]);
    expect(rendered.yaml).toMatch(/port_value: 8443/);
    expect(rendered.yaml).toMatch(/ecommerce\.acme\.org/);
    // the route's mesh service is reached over mesh mTLS with the gateway's own identity
    expect(rendered.yaml).toMatch(/spiffe:\/\/default\/web/);
    const { expected, actual } = expectGolden('compose-edge.edge.out.yaml', rendered.yaml);
    expect(actual).toBe(expected);
  });
});

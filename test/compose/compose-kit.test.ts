/**
 * docker-compose.yml and envoy/: everything short of running Docker (there is no engine here).
 * The init step (envoy/init.sh) runs for real with this build of meshcp; then the compose file,
 * the bootstraps it wrote, the meshcp resources and the ports must agree, and the config the
 * edge gateway would receive must match its golden file.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigPaths } from '../../src/api/load-files.js';
import type { Resource } from '../../src/api/types.js';
import { checkAdminBinding } from '../../src/admin/binding.js';
import { verifyToken } from '../helpers/verify-token.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { validateFiles } from '../../src/cli/validate.js';
import { generateForProxy } from '../../src/generate/generate.js';
import { secretMaterialFromResources } from '../helpers/secret-material.js';
import { translateMeshes } from '../../src/translate/mesh-services.js';
import { get, validateBootstrap } from '../helpers/envoy-bootstrap.js';
import { parseDuration } from '../../src/api/duration.js';
import { envoyVolumes, expectOnlyItsOwnBootstrap, expectSharedVolumeHoldsNoCaKey, mounts } from './proxy-volumes.js';
import { expectGolden, fakeMeshTls, renderConfig } from '../helpers/golden.js';
import { envoyValidate } from '../peers/envoy-validate.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');

type Service = {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
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
/** Volumes other than the shared one (the proxies' and the init-only CA keys), and meshcp's data directory. */
let aside: string;
let resources: Resource[];
let server: RunningServer;

/** A path of the shared volume (`/shared/...`) as the init step wrote it here. */
const local = (file: string | undefined): string => path.join(out, (file ?? '').slice('/shared/'.length));

function runAsync(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, [...args], { env, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  // given: the init step, run as compose would run it (MESHCP, OUT, XDS_ADDRESS from the compose file)
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-compose-'));
  aside = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-compose-volumes-'));
  const initEnv = services['init']?.environment ?? {};
  // (async: a long synchronous spawn would block this worker's event loop, and vitest's RPC with it)
  const init = await runAsync('sh', [path.join(ROOT, 'envoy/init.sh')], { ...process.env, MESHCP: `${process.execPath} ${CLI}`, OUT: out, CA_KEYS: path.join(aside, 'ca-keys'), XDS_ADDRESS: initEnv['XDS_ADDRESS'] ?? '' });
  if (init.status !== 0) throw new Error(`envoy/init.sh failed (${init.status}): ${init.stderr}`);
  // and: meshcp serving as the compose command says (admin mTLS and xDS TLS with init's files), on 127.0.0.1 here
  const command = services['meshcp']?.command ?? [];
  server = await startServer(
    {
      config: [],
      dataDir: path.join(aside, 'data'),
      xdsAddress: '127.0.0.1:0',
      adminAddress: '127.0.0.1:0',
      auth: 'token',
      xdsTlsCert: local(flag(command, '--xds-tls-cert')),
      xdsTlsKey: local(flag(command, '--xds-tls-key')),
      adminTlsCert: local(flag(command, '--admin-tls-cert')),
      adminTlsKey: local(flag(command, '--admin-tls-key')),
      adminClientCa: local(flag(command, '--admin-client-ca')),
    },
    silentLogger(),
  );
  // when: the tokens step, as compose runs it (its environment, with the admin API's real port)
  const tokensEnv = services['tokens']?.environment ?? {};
  const port = new URL(server.adminUrl).port;
  const tokens = await runAsync('sh', [path.join(ROOT, 'envoy/tokens.sh')], {
    ...process.env,
    MESHCP: `${process.execPath} ${CLI}`,
    OUT: out,
    PROXIES: path.join(aside, 'proxies'),
    TOKEN_VALIDITY: tokensEnv['TOKEN_VALIDITY'] ?? '',
    ENVOY_UID: tokensEnv['ENVOY_UID'] ?? '',
    XDS_ADDRESS: tokensEnv['XDS_ADDRESS'] ?? '',
    // The compose name `meshcp` is not resolvable here: the same certificate also names localhost.
    MESHCP_SERVER: (tokensEnv['MESHCP_SERVER'] ?? '').replace('://meshcp:5681', `://localhost:${port}`),
    MESHCP_CA_CERT: local(tokensEnv['MESHCP_CA_CERT']),
    MESHCP_CLIENT_CERT: local(tokensEnv['MESHCP_CLIENT_CERT']),
    MESHCP_CLIENT_KEY: local(tokensEnv['MESHCP_CLIENT_KEY']),
  });
  if (tokens.status !== 0) throw new Error(`envoy/tokens.sh failed (${tokens.status}): ${tokens.stderr}`);
}, 180_000);

afterAll(async () => {
  await server?.close();
  if (out) fs.rmSync(out, { recursive: true, force: true });
  if (aside) fs.rmSync(aside, { recursive: true, force: true });
});

describe('docker-compose demo kit', () => {
  it('runs meshcp, an edge gateway and two services behind sidecars, all on the official Envoy image', () => {
    expect(Object.keys(services).sort()).toEqual(['backend', 'backend-sidecar', 'edge', 'init', 'meshcp', 'tokens', 'web', 'web-sidecar']);
    expect(envoyServices.map(([name]) => name).sort()).toEqual(['backend-sidecar', 'edge', 'web-sidecar']);
    expect(services['web-sidecar']?.network_mode).toBe('service:web');
    expect(services['backend-sidecar']?.network_mode).toBe('service:backend');
  });

  it('gives every Envoy a bootstrap written by `meshcp bootstrap envoy`: accepted by Envoy, pointing at meshcp over TLS, with a token for its name', async () => {
    // given: where meshcp serves xDS, per the compose file: the compose service name, which the Envoys resolve
    const xdsPort = flag(services['meshcp']?.command, '--xds-address')?.split(':').pop();
    const expectedXds = `meshcp:${xdsPort}`;
    expect(services['init']?.environment?.['XDS_ADDRESS']).toBe(expectedXds);
    expect(services['tokens']?.environment?.['XDS_ADDRESS']).toBe(expectedXds);
    const xdsCa = fs.readFileSync(path.join(out, 'certs/xds-ca.crt'), 'utf8');
    // the key meshcp serve created in its data directory signed the tokens (asked through the admin API)
    const signingKey = fs.readFileSync(path.join(aside, 'data', 'token-signing.key'));
    for (const { name, bootstrap: file } of envoyVolumes(services, 'tokens', path.join(aside, 'proxies'))) {
      // when: the file its command names, in its own volume, as the tokens step wrote it
      const bootstrap = YAML.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
      // then
      expect(validateBootstrap(bootstrap), name).toEqual({ ok: true });
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

  it('gives each Envoy only its own volume: its bootstrap with its own short-lived token, owner-only for the Envoy user, no key, nothing shared', () => {
    // given: the Envoys' volumes, as the tokens step filled them
    const envoys = envoyVolumes(services, 'tokens', path.join(aside, 'proxies'));
    expect(envoys.map((e) => e.proxy).sort()).toEqual(['backend', 'edge', 'web']);
    expect(new Set(envoys.map((e) => e.volume)).size).toBe(envoys.length);
    // then: no Envoy mounts the shared volume; only the tokens step writes theirs
    for (const [name, service] of Object.entries(services)) {
      for (const m of mounts(service)) {
        if (envoys.some((e) => e.volume === m.source)) expect([...envoys.map((e) => e.name), 'tokens'], `${name} mounts ${m.source}`).toContain(name);
      }
    }
    const validity = parseDuration(services['tokens']?.environment?.['TOKEN_VALIDITY'] ?? '') ?? Infinity;
    expect(validity).toBeLessThanOrEqual(24 * 3600);
    for (const envoy of envoys) expectOnlyItsOwnBootstrap(envoy, Number(services['tokens']?.environment?.['ENVOY_UID']), validity);
    // and: the shared volume (meshcp and the tokens step read it) holds no token and no CA key; the CA keys are in the init-only volume
    expect(mounts(services['tokens']).find((m) => m.source === 'shared')?.readOnly).toBe(true);
    expect(fs.existsSync(path.join(out, 'tokens'))).toBe(false);
    expectSharedVolumeHoldsNoCaKey(out);
    expect(fs.readdirSync(path.join(aside, 'ca-keys')).sort()).toEqual(['admin-ca.key', 'my-root-ca.key', 'xds-ca.key']);
    expect(Object.entries(services).filter(([, s]) => mounts(s).some((m) => m.source === 'ca-keys')).map(([n]) => n)).toEqual(['init']);
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

  it('binds the admin API off loopback only with admin mTLS, and the CLI in the meshcp container reaches it with its env', async () => {
    // given: the meshcp command's admin flags and environment, mapped onto the files init wrote
    const command = services['meshcp']?.command ?? [];
    const env = services['meshcp']?.environment ?? {};
    const tls = {
      cert: fs.readFileSync(local(flag(command, '--admin-tls-cert')), 'utf8'),
      key: fs.readFileSync(local(flag(command, '--admin-tls-key')), 'utf8'),
      clientCa: fs.readFileSync(local(flag(command, '--admin-client-ca')), 'utf8'),
    };
    // then: serve accepts the off-loopback binding (it refuses one without --admin-client-ca)
    expect(checkAdminBinding(flag(command, '--admin-address') ?? '', tls)).toMatch(/clients must present a certificate/);
    expect(() => checkAdminBinding(flag(command, '--admin-address') ?? '', { cert: tls.cert, key: tls.key })).toThrow(/--admin-client-ca/);
    // when: the CLI in the meshcp container, with its env (the server from beforeAll serves with those files)
    const port = new URL(server.adminUrl).port;
    const cliEnv = {
      ...process.env,
      MESHCP_SERVER: (env['MESHCP_SERVER'] ?? '').replace(/:5681$/, `:${port}`),
      MESHCP_CA_CERT: local(env['MESHCP_CA_CERT']),
      MESHCP_CLIENT_CERT: local(env['MESHCP_CLIENT_CERT']),
      MESHCP_CLIENT_KEY: local(env['MESHCP_CLIENT_KEY']),
    };
    // (async: the server runs in this process, so a blocking spawnSync would deadlock it)
    const allowed = await runAsync(process.execPath, [CLI, 'get', 'meshes', '-o', 'json'], cliEnv);
    const refused = await runAsync(process.execPath, [CLI, 'get', 'meshes'], { ...cliEnv, MESHCP_CLIENT_CERT: '', MESHCP_CLIENT_KEY: '' });
    // then: with the client certificate it answers; without, it is refused
    expect(allowed.stderr).toBe('');
    expect(allowed.status).toBe(0);
    expect(refused.status).not.toBe(0);
    // and: the admin name the tokens step dials is accepted (Host check) and in the certificate
    expect(flag(command, '--admin-hostname')).toBe('meshcp');
    expect(new crypto.X509Certificate(tls.cert).checkHost('meshcp')).toBe('meshcp');
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
    expect(envoyValidate(rendered.encoded).flat()).toEqual([]);
    expect(rendered.yaml).toMatch(/port_value: 8443/);
    expect(rendered.yaml).toMatch(/ecommerce\.acme\.org/);
    // the route's mesh service is reached over mesh mTLS with the gateway's own identity
    expect(rendered.yaml).toMatch(/spiffe:\/\/default\/web/);
    const { expected, actual } = expectGolden('compose-edge.edge.out.yaml', rendered.yaml);
    expect(actual).toBe(expected);
  });
});

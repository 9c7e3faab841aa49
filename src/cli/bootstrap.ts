/**
 * `meshcp bootstrap envoy|grpc` (SPEC §3). xDS is TLS by default (SPEC §2): the Envoy bootstrap
 * carries the control-plane CA, read from `--ca-cert` or fetched from the admin API (`--server`).
 * grpc-js's xDS client cannot speak TLS to meshcp, so the gRPC bootstrap points at `meshcp agent
 * --xds-proxy-address`, which adds the token itself; clients with gRFC A65 `tls` channel
 * credentials (grpc-go, grpc-java, C-core) get `--ca-cert` and connect to meshcp directly. Several `--xds-address` (replicas, SPEC §5)
 * become several endpoints of the Envoy xDS cluster; a gRPC app has one relay, its agent, which
 * takes the replica list itself.
 */
import fs from 'node:fs';
import { isIP } from 'node:net';
import type { Command } from 'commander';
import YAML from 'yaml';
import { parseRelayAddress } from '../agent/relay-listener.js';
import { parseXdsAddresses } from '../agent/xds-addresses.js';
import { defaultAdminSocket, envoyBootstrap, parseAdminAddress } from '../bootstrap/envoy.js';
import { grpcBootstrap } from '../bootstrap/grpc.js';
import { parseCertificates } from '../ca/pem.js';
import { DEFAULT_SERVER } from './admin-client.js';
import { processIo, type CliIo } from './output.js';
import { fileFlagError, readFlagFile } from './flag-errors.js';

interface BootstrapOptions {
  name: string;
  mesh: string;
  token?: string;
  tokenFile?: string;
  xdsAddress: string[];
  certDir?: string;
  caCert?: string;
  server: string;
  xdsPlaintext?: boolean;
  adminAddress?: string;
  delta?: boolean;
}

function readToken(options: BootstrapOptions): string | undefined {
  if (options.token !== undefined && options.tokenFile !== undefined) throw new Error('use either --token or --token-file, not both');
  if (options.tokenFile !== undefined) return readFlagFile('--token-file', options.tokenFile).trim();
  return options.token;
}

function checkCaPem(pem: string, source: string): string {
  let count = 0;
  try {
    count = parseCertificates(pem).length;
  } catch {
    count = 0;
  }
  if (count === 0) throw new Error(`${source} holds no PEM certificate: it should be the xDS CA (GET /api/xds-ca on the admin API)`);
  return pem;
}

/** The CA that signs meshcp's xDS certificate: --ca-cert, else GET {--server}/api/xds-ca. */
export async function xdsCaPem(options: { caCert?: string; server: string }): Promise<string> {
  if (options.caCert !== undefined) {
    let pem: string;
    try {
      pem = fs.readFileSync(options.caCert, 'utf8');
    } catch (err) {
      throw fileFlagError('--ca-cert', options.caCert, err);
    }
    return checkCaPem(pem, `--ca-cert "${options.caCert}"`);
  }
  const url = `${options.server.replace(/\/+$/, '')}/api/xds-ca`;
  let res: globalThis.Response;
  try {
    res = await fetch(url);
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new Error(`cannot fetch the xDS CA from ${url} (${cause}): start meshcp or pass --server URL, or give the CA with --ca-cert FILE`);
  }
  const body = await res.text();
  if (!res.ok) {
    let why = body.trim();
    try {
      why = ((JSON.parse(body) as { errors?: string[] }).errors ?? [why]).join('; ');
    } catch {
      // not JSON: keep the text
    }
    throw new Error(`cannot fetch the xDS CA from ${url}: HTTP ${res.status}: ${why}`);
  }
  return checkCaPem(body, url);
}

function common(command: Command): Command {
  return command
    .requiredOption('--name <name>', 'proxy name (the Dataplane or Gateway name; becomes node.id)')
    .option('-m, --mesh <mesh>', 'mesh', 'default')
    .option('--token <token>', 'dataplane token')
    .option('--token-file <file>', 'file holding the dataplane token')
    .option('--xds-address <host:port>', `meshcp xDS address (default ${DEFAULT_XDS_ADDRESS})`, (value: string, previous: string[]) => [...previous, value], []);
}

const DEFAULT_XDS_ADDRESS = '127.0.0.1:5678';

function xdsAddresses(options: BootstrapOptions): string[] {
  return parseXdsAddresses(options.xdsAddress.length > 0 ? options.xdsAddress : [DEFAULT_XDS_ADDRESS]);
}

function isLoopbackHost(address: string): boolean {
  const host = address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

export function registerBootstrap(program: Command, io: CliIo = processIo()): void {
  const bootstrap = program.command('bootstrap').description('Print a bootstrap for an Envoy proxy or a proxyless gRPC app');
  common(bootstrap.command('envoy').description('Print an Envoy bootstrap YAML that connects to ADS over TLS; repeat --xds-address (or separate with commas) to list several meshcp replicas'))
    .option('--ca-cert <file>', 'CA that signs meshcp\'s xDS certificate; fetched from --server (GET /api/xds-ca) when absent')
    .option('--server <url>', 'meshcp admin API to fetch the xDS CA from (env MESHCP_SERVER)', process.env['MESHCP_SERVER'] ?? DEFAULT_SERVER)
    .option('--xds-plaintext', 'connect without TLS (local development only, against `serve --xds-plaintext`)')
    .option('--admin-address <address>', "Envoy's admin interface: unix://PATH (mode 0600), HOST:PORT (any local user and browser can reach it) or none (default unix://envoy-admin-NAME.sock, relative to Envoy's working directory)")
    .option('--delta', 'use Delta (incremental) ADS instead of State of the World')
    .action(async (options: BootstrapOptions) => {
      if (options.xdsPlaintext && options.caCert !== undefined) throw new Error('--xds-plaintext cannot be combined with --ca-cert: drop one of them');
      const admin = parseAdminAddress(options.adminAddress ?? `unix://${defaultAdminSocket(options.name)}`);
      if (admin.kind === 'tcp') {
        io.stderr.write(`warning: --admin-address ${options.adminAddress}: Envoy's admin interface has no authentication; on a TCP port every local user, and any web page through the browser, can reach /quitquitquit and the config dump. Prefer unix://PATH.\n`);
      }
      if (options.xdsPlaintext) {
        io.stderr.write('warning: --xds-plaintext: this Envoy talks to meshcp WITHOUT TLS; its token and workload keys cross the network in clear. For local development only.\n');
      }
      const addresses = xdsAddresses(options);
      const caPem = options.xdsPlaintext ? undefined : await xdsCaPem(options);
      const doc = envoyBootstrap({ name: options.name, mesh: options.mesh, xdsAddress: addresses, token: readToken(options), admin, delta: options.delta === true, ...(caPem !== undefined ? { xdsCaPem: caPem } : {}) });
      io.stdout.write(YAML.stringify(doc));
    });
  common(bootstrap.command('grpc').description('Print a gRPC xDS bootstrap JSON (server listener template, file_watcher certificate providers)'))
    .option('--cert-dir <dir>', 'directory where `meshcp agent` writes cert.pem, key.pem and ca.pem')
    .option('--ca-cert <file>', "connect to meshcp directly over TLS (gRFC A65 `tls` channel credentials: grpc-go, grpc-java, C-core), verifying meshcp's xDS certificate with this CA file (GET /api/xds-ca); the token goes in node.metadata")
    .option('--xds-plaintext', 'allow a non-loopback --xds-address in plaintext (local development only)')
    .action(async (options: BootstrapOptions) => {
      if (options.caCert !== undefined) {
        if (options.xdsPlaintext) throw new Error('--xds-plaintext cannot be combined with --ca-cert: drop one of them');
        // The file is read by the app at run time: check now that it is a CA certificate.
        await xdsCaPem({ caCert: options.caCert, server: '' });
        const addresses = xdsAddresses(options);
        if (addresses.length > 1) throw new Error(`bootstrap grpc --ca-cert takes one --xds-address (a meshcp replica or a load balancer in front of them), got ${addresses.join(', ')}`);
        const token = readToken(options);
        if (token === undefined) io.stderr.write('warning: no --token or --token-file: meshcp refuses this app unless it runs with --auth none\n');
        const doc = grpcBootstrap({ name: options.name, mesh: options.mesh, xdsAddress: addresses[0]!, token, certDir: options.certDir, xdsCaCertFile: options.caCert });
        io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
        return;
      }
      // grpc-js's xDS client has only insecure channel credentials (SPEC §2 "Proxyless gRPC and
      // TLS"): its plaintext must stay local, to `meshcp agent --xds-proxy-address` (a Unix socket).
      const [only] = options.xdsAddress;
      if (options.xdsAddress.length === 1 && only?.startsWith('unix:')) {
        const relay = parseRelayAddress(only, '--xds-address');
        const doc = grpcBootstrap({ name: options.name, mesh: options.mesh, xdsAddress: relay.kind === 'unix' ? `unix://${relay.path}` : only, token: readToken(options), certDir: options.certDir });
        io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
        return;
      }
      const addresses = xdsAddresses(options);
      if (addresses.length > 1) {
        throw new Error(
          `bootstrap grpc takes one --xds-address, the app's agent relay (meshcp agent --xds-proxy-address unix:///PATH): list the replicas on the agent instead (meshcp agent --xds-address ${addresses.join(' --xds-address ')})`,
        );
      }
      const [xdsAddress] = addresses as [string];
      if (!options.xdsPlaintext && !isLoopbackHost(xdsAddress)) {
        throw new Error(
          `--xds-address "${xdsAddress}" is not on loopback, and a gRPC xDS client speaks plaintext: run \`meshcp agent --xds-proxy-address unix:///PATH\` next to the app and pass --xds-address unix:///PATH (or --xds-plaintext for development)`,
        );
      }
      if (options.xdsPlaintext) io.stderr.write('warning: --xds-plaintext: this gRPC app talks xDS WITHOUT TLS across the network. For local development only.\n');
      const doc = grpcBootstrap({ name: options.name, mesh: options.mesh, xdsAddress, token: readToken(options), certDir: options.certDir });
      io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    });
}

/**
 * `meshcp bootstrap envoy|grpc` (SPEC §3). xDS is TLS by default (SPEC §2): the Envoy bootstrap
 * carries the control-plane CA, read from `--xds-ca-cert` or fetched from the admin API (`--server`,
 * with its TLS flags when it requires mTLS).
 * grpc-js's xDS client cannot speak TLS to meshcp, so the gRPC bootstrap points at `meshcp agent
 * --xds-proxy-address`, which adds the token itself; clients with gRFC A65 `tls` channel
 * credentials (grpc-go, grpc-java, C-core) get `--xds-ca-cert` and connect to meshcp directly. Several `--xds-address` (replicas, SPEC §5)
 * become several endpoints of the Envoy xDS cluster; a gRPC app has one relay, its agent, which
 * takes the replica list itself.
 */
import fs from 'node:fs';
import { isIP } from 'node:net';
import { Option, type Command } from 'commander';
import YAML from 'yaml';
import { parseRelayAddress } from '../agent/relay-listener.js';
import { parseXdsAddresses } from '../agent/xds-addresses.js';
import { defaultAdminSocket, envoyBootstrap, parseAdminAddress } from '../bootstrap/envoy.js';
import { grpcBootstrap } from '../bootstrap/grpc.js';
import { parseCertificates } from '../ca/pem.js';
import { AdminClient, addServerOptions, type ServerOptions } from './admin-client.js';
import { CliError, processIo, type CliIo } from './output.js';
import { fileFlagError, readFlagFile } from './flag-errors.js';
import { speaksTls } from './tls-probe.js';

interface BootstrapOptions {
  name: string;
  mesh: string;
  token?: string;
  tokenFile?: string;
  xdsAddress: string[];
  certDir?: string;
  xdsCaCert?: string;
  server: string;
  adminCaCert?: string;
  clientCert?: string;
  clientKey?: string;
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

/** The CA that signs meshcp's xDS certificate: --xds-ca-cert, else GET {--server}/api/xds-ca (with the admin API's TLS flags). */
export async function xdsCaPem(options: { xdsCaCert?: string } & ServerOptions): Promise<string> {
  if (options.xdsCaCert !== undefined) {
    let pem: string;
    try {
      pem = fs.readFileSync(options.xdsCaCert, 'utf8');
    } catch (err) {
      throw fileFlagError('--xds-ca-cert', options.xdsCaCert, err);
    }
    return checkCaPem(pem, `--xds-ca-cert "${options.xdsCaCert}"`);
  }
  const client = new AdminClient(options);
  let pem: string;
  try {
    pem = await client.getText('/api/xds-ca');
  } catch (err) {
    const lines = err instanceof CliError ? err.lines : [(err as Error).message];
    throw new CliError(lines.map((line) => `cannot fetch the xDS CA from ${options.server}/api/xds-ca: ${line}; or give the CA with --xds-ca-cert FILE`));
  }
  return checkCaPem(pem, `${options.server}/api/xds-ca`);
}

/**
 * `--xds-ca-cert` is the xDS CA; `--ca-cert`, its documented name here, stays as a deprecated alias
 * (on the admin API commands `--ca-cert` meant the admin API's CA: two meanings for one flag).
 */
function addXdsCaOptions(command: Command, help: string): Command {
  return command
    .option('--xds-ca-cert <file>', help)
    .addOption(new Option('--ca-cert <file>', 'deprecated: --xds-ca-cert').hideHelp())
    .hook('preAction', (_hooked, action) => resolveDeprecatedXdsCa(action));
}

export function resolveDeprecatedXdsCa(command: Command): void {
  if (command.getOptionValueSource('caCert') !== 'cli') return;
  const value = command.getOptionValue('caCert') as string;
  if (command.getOptionValue('xdsCaCert') !== undefined && command.getOptionValue('xdsCaCert') !== value) {
    throw new CliError([`--ca-cert ${value} and --xds-ca-cert ${String(command.getOptionValue('xdsCaCert'))} disagree: give --xds-ca-cert only (--ca-cert is its deprecated name)`]);
  }
  command.setOptionValueWithSource('xdsCaCert', value, 'cli');
  command.configureOutput().writeErr?.('Warning: --ca-cert is deprecated here: use --xds-ca-cert (the CA of meshcp\'s xDS certificate; the admin API\'s CA is --admin-ca-cert)\n');
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

/**
 * A plaintext gRPC bootstrap aimed at meshcp's own xDS port can never connect: meshcp serves xDS
 * over TLS there (unless `serve --xds-plaintext`). Says so when the address answers with TLS, or
 * when it is the default address and nothing answers yet.
 */
async function xdsTlsPortWarning(xdsAddress: string, defaulted: boolean): Promise<string | undefined> {
  const at = xdsAddress.lastIndexOf(':');
  const host = xdsAddress.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(xdsAddress.slice(at + 1));
  const fix = 'run `meshcp agent --xds-proxy-address unix:///PATH` beside the app and pass --xds-address unix:///PATH (the agent relays to meshcp over TLS), or give --xds-ca-cert FILE for a gRPC with TLS channel credentials (gRFC A65: grpc-go, C-core)';
  if (await speaksTls(host, port, 2000)) return `--xds-address ${xdsAddress} answers with TLS (meshcp's xDS port is TLS by default), and this bootstrap makes the app speak plaintext there: it can never connect; ${fix}`;
  if (defaulted) return `no --xds-address: the app dials ${xdsAddress} in plaintext, where \`meshcp serve\` serves xDS over TLS by default, so it would never connect; ${fix}`;
  return undefined;
}

export function registerBootstrap(program: Command, io: CliIo = processIo()): void {
  const bootstrap = program.command('bootstrap').description('Print a bootstrap for an Envoy proxy or a proxyless gRPC app');
  const envoy = addXdsCaOptions(
    common(bootstrap.command('envoy').description('Print an Envoy bootstrap YAML that connects to ADS over TLS; repeat --xds-address (or separate with commas) to list several meshcp replicas')),
    'CA that signs meshcp\'s xDS certificate; fetched from the admin API (--server, GET /api/xds-ca) when absent',
  )
    .option('--xds-plaintext', 'connect without TLS (local development only, against `serve --xds-plaintext`)')
    .option('--admin-address <address>', "Envoy's admin interface: unix://PATH (mode 0600), HOST:PORT (any local user and browser can reach it) or none (default unix://envoy-admin-NAME.sock, relative to Envoy's working directory)")
    .option('--delta', 'use Delta (incremental) ADS instead of State of the World');
  // The admin API the xDS CA is fetched from, with its TLS flags (an admin API that requires mTLS).
  addServerOptions(envoy).action(async (options: BootstrapOptions) => {
      if (options.xdsPlaintext && options.xdsCaCert !== undefined) throw new Error('--xds-plaintext cannot be combined with --xds-ca-cert: drop one of them');
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
  addXdsCaOptions(
    common(bootstrap.command('grpc').description('Print a gRPC xDS bootstrap JSON (server listener template, file_watcher certificate providers)')).option(
      '--cert-dir <dir>',
      'directory where `meshcp agent` writes cert.pem, key.pem and ca.pem',
    ),
    "connect to meshcp directly over TLS (gRFC A65 `tls` channel credentials: grpc-go, grpc-java, C-core), verifying meshcp's xDS certificate with this CA file (GET /api/xds-ca); the token goes in node.metadata",
  )
    .option('--xds-plaintext', 'allow a non-loopback --xds-address in plaintext (local development only)')
    .action(async (options: BootstrapOptions) => {
      if (options.xdsCaCert !== undefined) {
        if (options.xdsPlaintext) throw new Error('--xds-plaintext cannot be combined with --xds-ca-cert: drop one of them');
        // The file is read by the app at run time: check now that it is a CA certificate.
        await xdsCaPem({ xdsCaCert: options.xdsCaCert, server: '' });
        const addresses = xdsAddresses(options);
        if (addresses.length > 1) throw new Error(`bootstrap grpc --xds-ca-cert takes one --xds-address (a meshcp replica or a load balancer in front of them), got ${addresses.join(', ')}`);
        const token = readToken(options);
        if (token === undefined) io.stderr.write('warning: no --token or --token-file: meshcp refuses this app unless it runs with --auth none\n');
        const doc = grpcBootstrap({ name: options.name, mesh: options.mesh, xdsAddress: addresses[0]!, token, certDir: options.certDir, xdsCaCertFile: options.xdsCaCert });
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
      const tlsPort = await xdsTlsPortWarning(xdsAddress, options.xdsAddress.length === 0);
      if (tlsPort !== undefined) io.stderr.write(`warning: ${tlsPort}\n`);
      const doc = grpcBootstrap({ name: options.name, mesh: options.mesh, xdsAddress, token: readToken(options), certDir: options.certDir });
      io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    });
}

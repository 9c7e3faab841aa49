/**
 * `meshcp agent --name N [--mesh M] --token-file F --cert-dir DIR [--xds-address A]…` (SPEC §3):
 * keeps DIR/cert.pem, DIR/key.pem and DIR/ca.pem current for a proxyless gRPC app (agent/agent.ts).
 * It talks to meshcp over TLS, verified with `--xds-ca-cert` (SPEC §2 "xDS is TLS by default"), and
 * with `--xds-proxy-address` also relays the app's own xDS streams (agent/xds-proxy.ts). Several
 * `--xds-address` (meshcp replicas, SPEC §5) are used in order: the agent and its relay stay on the
 * first that answers and move on together when it goes away (agent/xds-addresses.ts).
 * Runs until SIGINT or SIGTERM; exits non-zero at once when meshcp refuses the token.
 */
import fs from 'node:fs';
import { Option, type Command } from 'commander';
import { resolveDeprecatedXdsCa } from './bootstrap.js';
import * as grpc from '@grpc/grpc-js';
import { startAgent } from '../agent/agent.js';
import { XdsAddressList, parseXdsAddresses } from '../agent/xds-addresses.js';
import { parseRelayAddress } from '../agent/relay-listener.js';
import { XdsProxy } from '../agent/xds-proxy.js';
import { withoutIpServerName } from '../net/tls-server-name.js';
import { parseCertificates } from '../ca/pem.js';
import { createLogger } from '../log/logger.js';
import { fileFlagError, listenOn } from './flag-errors.js';

interface AgentFlags {
  name: string;
  mesh: string;
  tokenFile: string;
  certDir: string;
  xdsAddress: string[];
  xdsCaCert?: string;
  xdsPlaintext?: boolean;
  xdsProxyAddress?: string;
}

/** TLS credentials that verify meshcp with --xds-ca-cert; plaintext only with --xds-plaintext. */
export function xdsChannelCredentials(flags: { xdsCaCert?: string; xdsPlaintext?: boolean }, warn: (msg: string) => void): grpc.ChannelCredentials {
  if (flags.xdsPlaintext) {
    if (flags.xdsCaCert !== undefined) throw new Error('--xds-plaintext cannot be combined with --xds-ca-cert: drop one of them');
    warn('!!! --xds-plaintext: talking to meshcp WITHOUT TLS; the token and workload private keys cross the network in clear. For local development only. !!!');
    return grpc.credentials.createInsecure();
  }
  if (flags.xdsCaCert === undefined) {
    throw new Error('--xds-ca-cert FILE is required to verify meshcp (xDS is TLS by default): fetch it with `curl -o xds-ca.pem http://127.0.0.1:5681/api/xds-ca`, or pass --xds-plaintext against `meshcp serve --xds-plaintext`');
  }
  let pem: string;
  try {
    pem = fs.readFileSync(flags.xdsCaCert, 'utf8');
  } catch (err) {
    throw fileFlagError('--xds-ca-cert', flags.xdsCaCert, err);
  }
  try {
    if (parseCertificates(pem).length === 0) throw new Error('no certificate');
  } catch (err) {
    throw new Error(`--xds-ca-cert "${flags.xdsCaCert}" holds no PEM certificate (${err instanceof Error ? err.message : String(err)}); it should be the output of GET /api/xds-ca`);
  }
  return withoutIpServerName(grpc.credentials.createSsl(Buffer.from(pem)));
}

const DEFAULT_XDS_ADDRESS = '127.0.0.1:5678';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function readTokenFile(file: string): string {
  let token: string;
  try {
    token = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw fileFlagError('--token-file', file, err);
  }
  if (token === '') throw new Error(`--token-file: "${file}" is empty (meshcp token generate --name NAME > ${file})`);
  return token;
}

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('Keep the mesh identity files of a proxyless gRPC app current (cert.pem, key.pem, ca.pem for its file_watcher certificate provider)')
    .requiredOption('--name <name>', 'proxy name: the Dataplane name the app uses as its node id')
    .option('-m, --mesh <mesh>', 'mesh', 'default')
    .requiredOption('--token-file <file>', 'file holding the dataplane token for --name (meshcp token generate)')
    .requiredOption('--cert-dir <dir>', 'where to write cert.pem, key.pem (0600) and ca.pem: the --cert-dir of `meshcp bootstrap grpc`')
    .option('--xds-address <host:port>', 'meshcp xDS address; repeat it (or separate with commas) to list several replicas, used in order, the next one when a replica goes away (default 127.0.0.1:5678)', collect, [])
    .option('--xds-ca-cert <file>', 'CA that signs meshcp\'s xDS certificate (GET /api/xds-ca on the admin API)')
    .addOption(new Option('--ca-cert <file>', 'deprecated: --xds-ca-cert').hideHelp())
    .hook('preAction', (_hooked, action) => resolveDeprecatedXdsCa(action))
    .option('--xds-plaintext', 'talk to meshcp without TLS (local development only, against `serve --xds-plaintext`)')
    .option(
      '--xds-proxy-address <unix:///path>',
      'also serve xDS to the local app and relay it to meshcp over TLS, adding this agent\'s token: on a Unix socket (mode 0600, only this user can connect), or on a loopback HOST:PORT, which warns that any local user could obtain the identity',
    )
    .action(async (flags: AgentFlags) => {
      const token = readTokenFile(flags.tokenFile);
      const xdsAddresses = parseXdsAddresses(flags.xdsAddress.length > 0 ? flags.xdsAddress : [DEFAULT_XDS_ADDRESS]);
      if (flags.xdsProxyAddress !== undefined) parseRelayAddress(flags.xdsProxyAddress);
      const log = createLogger().child({ component: 'agent' });
      const credentials = xdsChannelCredentials(flags, (msg) => log.warn({}, msg));
      // One list for the SDS stream and the relay: they move to the next replica together.
      const addresses = new XdsAddressList(xdsAddresses, (from, to) => log.warn({ from, to }, 'meshcp replica unreachable; switching to the next --xds-address'));
      const agent = startAgent({ name: flags.name, mesh: flags.mesh, token, certDir: flags.certDir, xdsAddress: addresses, log, credentials, ...(flags.xdsCaCert !== undefined ? { caCertFile: flags.xdsCaCert } : {}) });
      let proxy: XdsProxy | undefined;
      if (flags.xdsProxyAddress !== undefined) {
        proxy = new XdsProxy({ listenAddress: flags.xdsProxyAddress, upstreamAddress: addresses, credentials, token, mesh: flags.mesh, log });
        const port = await listenOn('--xds-proxy-address', flags.xdsProxyAddress, proxy.listen());
        const listening = proxy.listening.startsWith('unix:') ? proxy.listening : proxy.listening.replace(/:\d+$/, `:${port}`);
        log.info({ address: listening, upstream: xdsAddresses }, `serving xDS to the local app (meshcp bootstrap grpc --xds-address ${listening})`);
      }
      const stop = (): void => {
        log.info({}, 'stopping');
        agent.stop();
        void proxy?.close();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await agent.done;
      } finally {
        await proxy?.close();
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}

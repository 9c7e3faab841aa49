import fs from 'node:fs';
import type { Command } from 'commander';
import YAML from 'yaml';
import { envoyBootstrap } from '../bootstrap/envoy.js';
import { grpcBootstrap } from '../bootstrap/grpc.js';

interface BootstrapOptions {
  name: string;
  mesh: string;
  token?: string;
  tokenFile?: string;
  xdsAddress: string;
  certDir?: string;
}

function readToken(options: BootstrapOptions): string | undefined {
  if (options.token !== undefined && options.tokenFile !== undefined) throw new Error('use either --token or --token-file, not both');
  if (options.tokenFile !== undefined) return fs.readFileSync(options.tokenFile, 'utf8').trim();
  return options.token;
}

function common(command: Command): Command {
  return command
    .requiredOption('--name <name>', 'proxy name (the Dataplane or Gateway name; becomes node.id)')
    .option('-m, --mesh <mesh>', 'mesh', 'default')
    .option('--token <token>', 'dataplane token')
    .option('--token-file <file>', 'file holding the dataplane token')
    .option('--xds-address <host:port>', 'meshcp xDS address', '127.0.0.1:5678');
}

export function registerBootstrap(program: Command): void {
  const bootstrap = program.command('bootstrap').description('Print a bootstrap for an Envoy proxy or a proxyless gRPC app');
  common(bootstrap.command('envoy').description('Print an Envoy bootstrap YAML that connects to ADS')).action((options: BootstrapOptions) => {
    const doc = envoyBootstrap({ name: options.name, mesh: options.mesh, xdsAddress: options.xdsAddress, token: readToken(options) });
    process.stdout.write(YAML.stringify(doc));
  });
  common(bootstrap.command('grpc').description('Print a gRPC xDS bootstrap JSON (server listener template, file_watcher certificate providers)'))
    .option('--cert-dir <dir>', 'directory where `meshcp agent` writes cert.pem, key.pem and ca.pem')
    .action((options: BootstrapOptions) => {
      const doc = grpcBootstrap({ name: options.name, mesh: options.mesh, xdsAddress: options.xdsAddress, token: readToken(options), certDir: options.certDir });
      process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    });
}

/** `meshcp secret create tls-ca|tls NAME` (the Kalix / Akka `secret create` commands, SPEC §3). */
import fs from 'node:fs';
import type { Command } from 'commander';
import { AdminClient, addServerOptions, type ServerOptions } from './admin-client.js';
import { CliError, type CliIo } from './output.js';
import { printApplied, printWarnings } from './resources.js';

interface SecretOptions extends ServerOptions {
  cert: string;
  key?: string;
  mesh: string;
  overwrite?: boolean;
}

function readPem(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError([`${flag}: cannot read "${file}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
}

async function createSecret(io: CliIo, name: string, secretType: 'tls' | 'tls-ca', options: SecretOptions): Promise<void> {
  const doc = {
    type: 'Secret',
    name,
    mesh: options.mesh,
    secretType,
    cert: readPem(options.cert, '--cert'),
    ...(options.key !== undefined ? { key: readPem(options.key, '--key') } : {}),
  };
  const result = await new AdminClient(options).apply([{ content: JSON.stringify(doc) }], { mode: options.overwrite ? 'apply' : 'create' });
  printWarnings(io, result.warnings);
  printApplied(io, result.applied);
}

function common(command: Command): Command {
  return addServerOptions(command.option('-m, --mesh <mesh>', 'mesh', 'default').option('--overwrite', 'replace a secret of that name instead of failing'));
}

export function registerSecret(program: Command, io: CliIo): void {
  const secret = program.command('secret').description('Manage TLS secrets (keys are never shown back)');
  const create = secret.command('create').description('Create a secret from PEM files');
  common(
    create
      .command('tls-ca')
      .description('A CA bundle (one or more CA certificates) used to validate peers, e.g. route client certificates')
      .argument('<name>', 'secret name')
      .requiredOption('--cert <file>', 'PEM file with the CA certificate(s)'),
  ).action((name: string, options: SecretOptions) => createSecret(io, name, 'tls-ca', options));
  common(
    create
      .command('tls')
      .description('A certificate (leaf first, then intermediates) and its unencrypted private key, e.g. a route server certificate')
      .argument('<name>', 'secret name')
      .requiredOption('--cert <file>', 'PEM file with the certificate chain')
      .requiredOption('--key <file>', 'PEM file with the private key'),
  ).action((name: string, options: SecretOptions) => createSecret(io, name, 'tls', options));
}

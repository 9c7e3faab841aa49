/**
 * `meshcp secret create tls-ca|tls NAME` (alias `secrets`): the Kalix / Akka `secret create`
 * commands (SPEC §3).
 *
 * akka's `secret create` silently replaces a secret of the same name; meshcp refuses and names
 * `--overwrite`, because a secret is shared by routes and replacing a client CA by a typo locks
 * clients out. `secret create tls --ca FILE` (akka's flag for the CA that issued the certificate)
 * also writes the tls-ca secret `NAME-ca`, the name `apply` gives the `ca.crt` of a cert-manager
 * Secret (SPEC §1), so a route can use it as `clientValidationCa` or a Service as `caSecret`.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { AdminClient, addServerOptions, type ServerOptions } from './admin-client.js';
import { fileFlagError } from './flag-errors.js';
import { CliError, type CliIo } from './output.js';
import { deleteResource, getResources, printApplied, printWarnings, type DeleteOptions, type GetOptions } from './resources.js';

interface SecretOptions extends ServerOptions {
  cert: string;
  key?: string;
  ca?: string;
  mesh: string;
  overwrite?: boolean;
}

function readPem(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError([fileFlagError(flag, file, err).message]);
  }
}

async function createSecret(io: CliIo, name: string, secretType: 'tls' | 'tls-ca', options: SecretOptions): Promise<void> {
  const docs = [
    {
      type: 'Secret',
      name,
      mesh: options.mesh,
      secretType,
      cert: readPem(options.cert, '--cert'),
      ...(options.key !== undefined ? { key: readPem(options.key, '--key') } : {}),
    },
    ...(options.ca !== undefined ? [{ type: 'Secret', name: `${name}-ca`, mesh: options.mesh, secretType: 'tls-ca', cert: readPem(options.ca, '--ca') }] : []),
  ];
  const client = new AdminClient(options);
  if (!options.overwrite) {
    for (const doc of docs) {
      if (await client.get('Secret', doc.name, options.mesh)) {
        throw new CliError([`Secret/${doc.name} already exists in mesh "${options.mesh}": add --overwrite to replace it (or \`meshcp delete secret ${doc.name}\` first)`]);
      }
    }
  }
  // Both secrets in one apply: all or nothing.
  const result = await client.apply(
    docs.map((doc) => ({ content: JSON.stringify(doc) })),
    { mode: options.overwrite ? 'apply' : 'create' },
  );
  printWarnings(io, result.warnings);
  printApplied(io, result.applied);
}

function common(command: Command): Command {
  return addServerOptions(command.option('-m, --mesh <mesh>', 'mesh', 'default').option('--overwrite', 'replace a secret of that name (without it, an existing name is refused)'));
}

export function registerSecret(program: Command, io: CliIo): void {
  const secret = program
    .command('secret')
    .alias('secrets')
    .description('Manage TLS secrets (keys are never shown back)')
    .addHelpText(
      'after',
      `
Examples:
  meshcp secret create tls-ca my-root-ca --cert ./my-root-ca.crt
  meshcp secret create tls my-tls-cert --key ./my-key.pem --cert ./my-cert.pem
  meshcp secret create tls my-tls-cert --key ./my-key.pem --cert ./my-cert.pem --ca ./ca.pem --overwrite
  meshcp secret list                      # = meshcp get secrets
  meshcp secret get my-tls-cert -o yaml   # certificate summary; a key is never shown
  meshcp secret delete my-tls-cert`,
    );
  const create = secret.command('create').description('Create a secret from PEM files');
  common(
    create
      .command('tls-ca')
      .description('A CA bundle (one or more CA certificates) used to validate peers, e.g. route client certificates')
      .argument('<name>', 'secret name')
      .requiredOption('--cert <file>', 'PEM file with the CA certificate(s)')
      .addHelpText('after', '\nExample:\n  meshcp secret create tls-ca my-root-ca --cert ./my-root-ca.crt\n'),
  ).action((name: string, options: SecretOptions) => createSecret(io, name, 'tls-ca', options));
  common(
    create
      .command('tls')
      .description('A certificate (leaf first, then intermediates) and its unencrypted private key, e.g. a route server certificate')
      .argument('<name>', 'secret name')
      .requiredOption('--cert <file>', 'PEM file with the certificate chain')
      .requiredOption('--key <file>', 'PEM file with the private key')
      .option('--ca <file>', 'PEM file with the CA that issued the certificate: also creates the tls-ca secret NAME-ca')
      .addHelpText('after', '\nExample:\n  meshcp secret create tls my-tls-cert --key ./my-key.pem --cert ./my-cert.pem\n'),
  ).action((name: string, options: SecretOptions) => createSecret(io, name, 'tls', options));

  // The akka CLI's `secrets list|get|delete`: the same as get secrets / get secret NAME / delete secret NAME.
  addServerOptions(
    secret
      .command('list')
      .alias('ls')
      .description('List secrets (the same table as `meshcp get secrets`; keys are never shown)')
      .option('-m, --mesh <mesh>', 'only secrets of this mesh (default: every mesh)')
      .option('-o, --output <format>', 'table (fits 120 columns) | wide | yaml | json', 'table'),
  ).action((options: GetOptions) => getResources(io, 'Secret', undefined, options));
  addServerOptions(
    secret
      .command('get')
      .description('Show one secret: its type and certificate summary (`meshcp get secret NAME`; keys are never shown)')
      .argument('<name>', 'secret name')
      .option('-m, --mesh <mesh>', 'mesh', 'default')
      .option('-o, --output <format>', 'table | wide | yaml | json | pem (its certificates)', 'table'),
  ).action((name: string, options: GetOptions) => getResources(io, 'Secret', name, options));
  addServerOptions(
    secret.command('delete').description('Delete a secret (`meshcp delete secret NAME`)').argument('<name>', 'secret name').option('-m, --mesh <mesh>', 'mesh', 'default'),
  ).action((name: string, options: DeleteOptions) => deleteResource(io, 'Secret', name, options));
}

/**
 * `meshcp token generate --name N` (SPEC §2, §3): prints a dataplane token bound to a proxy name
 * and mesh. By default it asks the control plane (`POST /api/tokens` on `--server`), as
 * `kumactl generate dataplane-token` does: the token is signed with the key the server verifies
 * with, wherever that key lives (data directory or etcd), and the call is authenticated like
 * every admin call (mTLS when the admin API requires it).
 *
 * `--data-dir DIR` signs offline with that data directory's key and never creates one: a fresh
 * key would sign tokens that the running server refuses ("invalid token signature") while the
 * command exits 0. `--store etcd://…` signs with the key the replicas share in etcd.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { processIo, type CliIo } from './output.js';
import { generateToken, loadOrCreateSigningKey, SIGNING_KEY_FILE } from '../auth/token.js';
import { parseValidFor } from './ca.js';
import { AdminClient, addServerOptions, type ServerOptions } from './admin-client.js';
import { CliError } from './output.js';
import { silentLogger } from '../log/logger.js';
import { openStore, type StoreOptions } from '../runtime/open-store.js';

export interface GenerateTokenCommandOptions {
  readonly name: string;
  readonly mesh: string;
  readonly validForSeconds: number;
  readonly dataDir: string;
  readonly now?: Date;
}

/** The token, signed with the data directory's existing key; an error naming the directory when it has none. */
export async function generateTokenWithDataDir(options: GenerateTokenCommandOptions): Promise<string> {
  const file = path.join(options.dataDir, SIGNING_KEY_FILE);
  if (!fs.existsSync(file)) {
    throw new CliError([
      `--data-dir ${options.dataDir}: no token signing key (${file}); a new key would sign tokens the control plane refuses. Give the data directory of \`meshcp serve\` (it creates the key on start), or drop --data-dir to ask the control plane (--server)`,
    ]);
  }
  // The key exists: this only reads it.
  const key = await loadOrCreateSigningKey(options.dataDir);
  return generateToken({ name: options.name, mesh: options.mesh, validForSeconds: options.validForSeconds, ...(options.now !== undefined ? { now: options.now } : {}) }, key);
}

interface TokenGenerateFlags extends Omit<StoreOptions, 'dataDir'>, ServerOptions {
  name: string;
  mesh: string;
  validFor: string;
  dataDir?: string;
}

/** With `--store etcd://…` the key is the one every replica shares in etcd (SPEC §5). */
async function generateTokenWithStore(flags: TokenGenerateFlags & { store: string }): Promise<string> {
  const opened = await openStore({ ...flags, dataDir: flags.dataDir ?? '' }, silentLogger());
  try {
    return generateToken({ name: flags.name, mesh: flags.mesh, validForSeconds: parseValidFor(flags.validFor) }, await opened.signingKey());
  } finally {
    await opened.store.close();
  }
}

/** `POST /api/tokens`: the control plane signs with its own key. */
async function generateTokenWithServer(flags: TokenGenerateFlags): Promise<string> {
  parseValidFor(flags.validFor); // a bad duration is the flag's error, before any network call
  const body = await new AdminClient(flags).postJson('/api/tokens', { name: flags.name, mesh: flags.mesh, validFor: flags.validFor });
  const token = body['token'];
  if (typeof token !== 'string' || token === '') throw new CliError([`the admin API at ${flags.server} answered without a token`]);
  return token;
}

export function registerToken(program: Command, io: CliIo = processIo()): void {
  const token = program.command('token').description('Dataplane tokens');
  const generate = token
    .command('generate')
    .description(
      'Print a dataplane token bound to a proxy name and mesh. By default the control plane signs it (--server, as `kumactl generate dataplane-token`); --data-dir signs offline with that data directory\'s existing key.',
    )
    .requiredOption('--name <name>', 'proxy name (the Dataplane or Gateway name; the Envoy node.id)')
    .option('-m, --mesh <mesh>', 'mesh', 'default')
    .option('--valid-for <duration>', 'lifetime, e.g. 24h or 30d', '24h')
    .option('--data-dir <dir>', "sign offline with the key in this control-plane data directory (token-signing.key; never created here)")
    .option('--store <url>', 'etcd://HOST:PORT[,…]: sign with the key the replicas share in etcd (same --store flags as `meshcp serve`)')
    .option('--store-ca-cert <file>', 'CA certificate of etcd\'s serving certificate')
    .option('--store-cert <file>', 'client certificate for etcd')
    .option('--store-key <file>', 'key of --store-cert')
    .option('--store-encryption-key-file <file>', 'the key encrypting private keys in etcd (as given to `meshcp serve`)');
  addServerOptions(generate).action(async (flags: TokenGenerateFlags, command: Command) => {
    if (flags.name.trim() === '') throw new Error('--name must not be empty');
    const offline = [flags.dataDir !== undefined ? '--data-dir' : undefined, flags.store !== undefined ? '--store' : undefined].filter((f) => f !== undefined);
    if (offline.length > 1) throw new CliError(['--data-dir and --store name two different keys: give one of them']);
    if (offline.length > 0 && command.getOptionValueSource('server') === 'cli') throw new CliError([`--server and ${offline.join('')} both say where the signing key is: give one of them`]);
    let value: string;
    if (flags.store !== undefined) value = await generateTokenWithStore({ ...flags, store: flags.store });
    else if (flags.dataDir !== undefined) value = await generateTokenWithDataDir({ name: flags.name, mesh: flags.mesh, validForSeconds: parseValidFor(flags.validFor), dataDir: flags.dataDir });
    else value = await generateTokenWithServer(flags);
    io.stdout.write(`${value}\n`);
  });
}

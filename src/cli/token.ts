/**
 * `meshcp token generate --name N` (SPEC §2): prints a dataplane token bound to a proxy name and
 * mesh. It signs with the control plane's key in its data directory, so it must run where that
 * directory is (as `kumactl generate dataplane-token` needs access to the control plane). An
 * admin-API variant for remote use can be added beside it.
 */
import type { Command } from 'commander';
import { generateToken, loadOrCreateSigningKey } from '../auth/token.js';
import { parseValidFor } from './ca.js';
import { silentLogger } from '../runtime/logger.js';
import { openStore, type StoreOptions } from '../store/open-store.js';

export interface GenerateTokenCommandOptions {
  readonly name: string;
  readonly mesh: string;
  readonly validForSeconds: number;
  readonly dataDir: string;
  readonly now?: Date;
}

/** The token, signed with the data directory's key (created there if it does not exist yet). */
export async function generateTokenWithDataDir(options: GenerateTokenCommandOptions): Promise<string> {
  const key = await loadOrCreateSigningKey(options.dataDir);
  return generateToken({ name: options.name, mesh: options.mesh, validForSeconds: options.validForSeconds, ...(options.now !== undefined ? { now: options.now } : {}) }, key);
}

interface TokenGenerateFlags extends Omit<StoreOptions, 'dataDir'> {
  name: string;
  mesh: string;
  validFor: string;
  dataDir: string;
}

/** With `--store etcd://…` the key is the one every replica shares in etcd (SPEC §5). */
async function generateTokenWithStore(flags: TokenGenerateFlags): Promise<string> {
  const opened = await openStore(flags, silentLogger());
  try {
    return generateToken({ name: flags.name, mesh: flags.mesh, validForSeconds: parseValidFor(flags.validFor) }, await opened.signingKey());
  } finally {
    await opened.store.close();
  }
}

export function registerToken(program: Command): void {
  const token = program.command('token').description('Dataplane tokens');
  token
    .command('generate')
    .description(
      "Print a dataplane token bound to a proxy name and mesh. It is signed with the key in the control plane's data directory, so run it where that directory is (same --data-dir as `meshcp serve`).",
    )
    .requiredOption('--name <name>', 'proxy name (the Dataplane or Gateway name; the Envoy node.id)')
    .option('-m, --mesh <mesh>', 'mesh', 'default')
    .option('--valid-for <duration>', 'lifetime, e.g. 24h or 30d', '24h')
    .option('--data-dir <dir>', "the control plane's data directory (holds token-signing.key)", './.meshcp')
    .option('--store <url>', 'etcd://HOST:PORT[,…]: sign with the key the replicas share in etcd (same --store flags as `meshcp serve`)')
    .option('--store-ca-cert <file>', 'CA certificate of etcd\'s serving certificate')
    .option('--store-cert <file>', 'client certificate for etcd')
    .option('--store-key <file>', 'key of --store-cert')
    .option('--store-encryption-key-file <file>', 'the key encrypting private keys in etcd (as given to `meshcp serve`)')
    .action(async (flags: TokenGenerateFlags) => {
      if (flags.name.trim() === '') throw new Error('--name must not be empty');
      const value =
        flags.store !== undefined
          ? await generateTokenWithStore(flags)
          : await generateTokenWithDataDir({ name: flags.name, mesh: flags.mesh, validForSeconds: parseValidFor(flags.validFor), dataDir: flags.dataDir });
      process.stdout.write(`${value}\n`);
    });
}

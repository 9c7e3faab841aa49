/**
 * `meshcp token …` (SPEC §2 "Tokens", "Token lifecycle"; §3):
 *
 *   token generate --name N [--mesh M] [--valid-for D]    a dataplane token bound to a proxy name and mesh
 *   token revoke (--id ID | --token-file F)               refused from now on; its open streams end
 *   token rotate-signing-key [--grace D]                  a new key signs; the others verify until they retire
 *   token signing-keys                                    the keys: ids, dates, which signs (never a key)
 *   token remove-signing-key KID                          refused from now on (not the key that signs)
 *
 * By default each asks the control plane (`--server`, the admin API, as `kumactl generate
 * dataplane-token` does), which shares the change with every replica through the store. Offline:
 * `--store etcd://…` works on the keys and revocations the replicas share in etcd (they follow
 * the change by watch); `--data-dir DIR` signs with that data directory's keys without touching
 * them (never creating one: a fresh key would sign tokens the server refuses), and changes them
 * only while no server holds the directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { readOnlyDataDirBlobs } from '../auth/data-dir-keyring.js';
import { TokenKeyring } from '../auth/keyring.js';
import { dataDirInitialKey, SIGNING_KEY_FILE } from '../auth/token.js';
import { DEFAULT_ROTATION_GRACE, tokenApiRequest } from '../auth/token-api.js';
import { parseValidFor } from './ca.js';
import { AdminClient, addServerOptions, type ServerOptions } from './admin-client.js';
import { CliError, processIo, type CliIo } from './output.js';
import { silentLogger } from '../log/logger.js';
import { openStore, type StoreOptions } from '../runtime/open-store.js';
import { listBlobFiles } from '../store/file-store.js';

export interface GenerateTokenCommandOptions {
  readonly name: string;
  readonly mesh: string;
  readonly validForSeconds: number;
  readonly dataDir: string;
  readonly now?: Date;
}

/** The token, signed with the data directory's current key; an error naming the directory when it has none. */
export async function generateTokenWithDataDir(options: GenerateTokenCommandOptions): Promise<string> {
  const file = path.join(options.dataDir, SIGNING_KEY_FILE);
  const rotated = await listBlobFiles(options.dataDir, 'auth/signing-keys/').catch(() => []);
  if (!fs.existsSync(file) && rotated.length === 0) {
    // serve opens its keyring before it listens (cli/serve.ts), whatever --auth says: once its admin API answers, the key exists.
    throw new CliError([
      `--data-dir ${options.dataDir}: no token signing key (${file}); a new key would sign tokens the control plane refuses. ` +
        '`meshcp serve` creates the key in its own --data-dir (default ./.meshcp, relative to where serve was started) as it starts, with any --auth, before its admin API answers; with --store etcd://… the key is in etcd (give --store instead). ' +
        "Start serve first and wait until it answers (curl http://127.0.0.1:5681/readyz), pass serve's --data-dir, or drop --data-dir to have the running control plane sign the token (--server)",
    ]);
  }
  // Read only: the running server holds the directory, and a key is never created here.
  const keyring = await TokenKeyring.open(readOnlyDataDirBlobs(options.dataDir), dataDirInitialKey(options.dataDir), { create: false, follow: false, ...(options.now ? { now: () => options.now! } : {}) });
  return keyring.sign({ name: options.name, mesh: options.mesh, validForSeconds: options.validForSeconds });
}

interface OfflineFlags extends Omit<StoreOptions, 'dataDir'>, ServerOptions {
  dataDir?: string;
}

interface TokenGenerateFlags extends OfflineFlags {
  name: string;
  mesh: string;
  validFor: string;
}

/** `--store` or `--data-dir` (read-write: refused while a server holds the directory), the keyring opened there, then closed. */
async function withOfflineKeyring<T>(flags: OfflineFlags, fn: (keyring: TokenKeyring) => Promise<T>): Promise<T> {
  let opened;
  try {
    opened = await openStore({ ...flags, dataDir: flags.dataDir ?? '' }, silentLogger());
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/is in use by another meshcp serve/.test(message)) throw new CliError([`${message.split('; stop it first')[0] ?? message}: make this change through it instead (drop --data-dir; --server)`]);
    throw err;
  }
  const keyring = await opened.keyring();
  try {
    return await fn(keyring);
  } finally {
    keyring.close();
    await opened.store.close();
  }
}

/** Where a command's keys are: the control plane (default), `--store`, or `--data-dir`; refuses two at once. */
function offlineTarget(flags: OfflineFlags, command: Command): 'store' | 'data-dir' | undefined {
  const offline = [flags.dataDir !== undefined ? '--data-dir' : undefined, flags.store !== undefined ? '--store' : undefined].filter((f) => f !== undefined);
  if (offline.length > 1) throw new CliError(['--data-dir and --store name two different keyrings: give one of them']);
  if (offline.length > 0 && command.getOptionValueSource('server') === 'cli') throw new CliError([`--server and ${offline.join('')} both say where the signing keys are: give one of them`]);
  return flags.store !== undefined ? 'store' : flags.dataDir !== undefined ? 'data-dir' : undefined;
}

/** `POST /api/tokens`: the control plane signs with its current key. */
async function generateTokenWithServer(flags: TokenGenerateFlags): Promise<string> {
  parseValidFor(flags.validFor); // a bad duration is the flag's error, before any network call
  const body = await new AdminClient(flags).postJson('/api/tokens', { name: flags.name, mesh: flags.mesh, validFor: flags.validFor });
  const token = body['token'];
  if (typeof token !== 'string' || token === '') throw new CliError([`the admin API at ${flags.server} answered without a token`]);
  return token;
}

/** A lifecycle call, through the admin API or on an offline keyring: the same handler answers both (auth/token-api.ts). */
async function lifecycle(flags: OfflineFlags, command: Command, method: 'GET' | 'POST' | 'DELETE', apiPath: readonly string[], body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const target = offlineTarget(flags, command);
  if (target === undefined) {
    const client = new AdminClient(flags);
    const url = `/api/tokens/${apiPath.map(encodeURIComponent).join('/')}`;
    return method === 'GET' ? client.getJson(url) : method === 'DELETE' ? client.deleteJson(url) : client.postJson(url, body);
  }
  return withOfflineKeyring(flags, async (keyring) => {
    const reply = await tokenApiRequest(keyring, method, apiPath, JSON.stringify(body));
    if (reply.status !== 200) throw new CliError(Array.isArray(reply.body['errors']) ? reply.body['errors'].map(String) : [`HTTP ${reply.status}`]);
    return reply.body;
  });
}

function addOfflineOptions(command: Command, dataDirHelp: string): Command {
  return addServerOptions(
    command
      .option('--data-dir <dir>', dataDirHelp)
      .option('--store <url>', 'etcd://HOST:PORT[,…]: work on the keys the replicas share in etcd (same --store flags as `meshcp serve`)')
      .option('--store-ca-cert <file>', 'CA certificate of etcd\'s serving certificate')
      .option('--store-cert <file>', 'client certificate for etcd')
      .option('--store-key <file>', 'key of --store-cert')
      .option('--store-encryption-key-file <file>', 'the key encrypting private keys in etcd (as given to `meshcp serve`)'),
  );
}

function keyTable(items: unknown): string {
  const rows = (Array.isArray(items) ? items : []) as { kid?: string; created?: string; retireAt?: string; removed?: boolean; current?: boolean }[];
  const lines = rows.map((k) => `${k.kid ?? ''}\t${k.current ? 'signs' : k.removed ? 'removed' : k.retireAt !== undefined && Date.parse(k.retireAt) <= Date.now() ? 'retired' : 'verifies'}\t${k.created?.startsWith('1970-') ? '-' : (k.created ?? '-')}\t${k.retireAt ?? '-'}`);
  return `KID\tSTATE\tCREATED\tRETIRES\n${lines.join('\n')}\n`;
}

export function registerToken(program: Command, io: CliIo = processIo()): void {
  const token = program.command('token').description('Dataplane tokens: generate, revoke, and rotate the key that signs them');
  const generate = addOfflineOptions(
    token
      .command('generate')
      .description('Print a dataplane token bound to a proxy name and mesh. By default the control plane signs it (--server, as `kumactl generate dataplane-token`); --data-dir signs offline with that data directory\'s current key.')
      .requiredOption('--name <name>', 'proxy name (the Dataplane or Gateway name; the Envoy node.id)')
      .option('-m, --mesh <mesh>', 'mesh', 'default')
      .option('--valid-for <duration>', 'lifetime, e.g. 24h or 30d', '24h'),
    "sign offline with the current key of this control-plane data directory (never created here)",
  );
  generate.action(async (flags: TokenGenerateFlags, command: Command) => {
    if (flags.name.trim() === '') throw new Error('--name must not be empty');
    const target = offlineTarget(flags, command);
    const claims = { name: flags.name, mesh: flags.mesh, validForSeconds: parseValidFor(flags.validFor) };
    let value: string;
    if (target === 'store') value = await withOfflineKeyring(flags, async (keyring) => keyring.sign(claims));
    else if (target === 'data-dir') value = await generateTokenWithDataDir({ ...claims, dataDir: flags.dataDir ?? '' });
    else value = await generateTokenWithServer(flags);
    io.stdout.write(`${value}\n`);
  });

  const revoke = addOfflineOptions(
    token
      .command('revoke')
      .description('Revoke a dataplane token on every replica: it is refused from now on and the xDS streams that presented it end (as Kuma\'s revocation list)')
      .option('--id <id>', 'the token id (its jti claim)')
      .option('--token-file <file>', 'the token itself'),
    'revoke in this data directory (only while no server runs on it)',
  );
  revoke.action(async (flags: OfflineFlags & { id?: string; tokenFile?: string }, command: Command) => {
    if ((flags.id === undefined) === (flags.tokenFile === undefined)) throw new CliError(['give the token to revoke: --id ID or --token-file FILE']);
    let body: Record<string, unknown> = { id: flags.id };
    if (flags.tokenFile !== undefined) {
      let text: string;
      try {
        text = fs.readFileSync(flags.tokenFile, 'utf8').trim();
      } catch (err) {
        throw new CliError([`--token-file: cannot read "${flags.tokenFile}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
      }
      body = { token: text };
    }
    const result = await lifecycle(flags, command, 'POST', ['revoke'], body);
    io.stdout.write(`token ${String(result['id'])} ${result['alreadyRevoked'] === true ? 'was already revoked' : 'revoked'}\n`);
  });

  const rotate = addOfflineOptions(
    token
      .command('rotate-signing-key')
      .description('Add a token signing key that signs from now on; the previous keys keep verifying for --grace, then retire (their tokens are refused and their streams end)')
      .option('--grace <duration>', 'how long tokens signed by the previous keys stay valid (0s: retire them now)', DEFAULT_ROTATION_GRACE),
    'rotate in this data directory (only while no server runs on it)',
  );
  rotate.action(async (flags: OfflineFlags & { grace: string }, command: Command) => {
    const result = await lifecycle(flags, command, 'POST', ['signing-keys'], { grace: flags.grace });
    io.stdout.write(`new signing key ${String(result['kid'])}\n${keyTable(result['items'])}`);
  });

  const list = addOfflineOptions(token.command('signing-keys').description('List the token signing keys: ids, which one signs, when the others retire (never a key)'), 'read this data directory');
  list.action(async (flags: OfflineFlags, command: Command) => {
    if (offlineTarget(flags, command) === 'data-dir') {
      const keyring = await TokenKeyring.open(readOnlyDataDirBlobs(flags.dataDir ?? ''), dataDirInitialKey(flags.dataDir ?? ''), { create: false, follow: false });
      io.stdout.write(keyTable(keyring.keyInfo()));
      return;
    }
    io.stdout.write(keyTable((await lifecycle(flags, command, 'GET', ['signing-keys'], {}))['items']));
  });

  const remove = addOfflineOptions(
    token.command('remove-signing-key').description('Remove a token signing key now: tokens it signed are refused and their streams end (not the key that signs: rotate first)').argument('<kid>', 'the key id (meshcp token signing-keys)'),
    'remove in this data directory (only while no server runs on it)',
  );
  remove.action(async (kid: string, flags: OfflineFlags, command: Command) => {
    const result = await lifecycle(flags, command, 'DELETE', ['signing-keys', kid], {});
    io.stdout.write(`removed signing key ${kid}\n${keyTable(result['items'])}`);
  });
}

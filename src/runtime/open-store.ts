/**
 * `--store` (SPEC §5): the embedded data directory by default, or etcd for several replicas.
 * The one place serve.ts chooses between them; everything above sees a `Store`.
 */
import fs from 'node:fs';
import { TokenKeyring, type InitialKey } from '../auth/keyring.js';
import { dataDirInitialKey } from '../auth/token.js';
import { storedInitialKey } from '../auth/signing-key-store.js';
import type { Logger } from '../log/logger.js';
import type { StatusRegistry } from '../xds/status.js';
import { EtcdStore, parseEtcdUrl, type EtcdTls } from '../store/etcd-store.js';
import { FileStore } from '../store/file-store.js';
import { SharedProxyStatus } from './replica-status.js';
import { ENCRYPTION_KEY_FLAG, readEncryptionKeyFile } from '../store/secret-box.js';
import type { Store } from '../store/store.js';

export interface StoreOptions {
  readonly dataDir: string;
  /** `etcd://HOST:PORT[,HOST:PORT…]`; undefined: the data directory. */
  readonly store?: string;
  readonly storeCaCert?: string;
  readonly storeCert?: string;
  readonly storeKey?: string;
  readonly storeEncryptionKeyFile?: string;
  /** etcd: TTL of the lease proxy status is published under (default 10 s); tests shorten it. */
  readonly statusLeaseSeconds?: number;
  /** etcd: proxy status is written at most once per this many ms (default 250); tests and the bench set it. */
  readonly statusFlushIntervalMs?: number;
}

export interface OpenedStore {
  readonly store: Store;
  /** How logs name it: the data directory, or the etcd URL. */
  readonly description: string;
  /**
   * The token signing keys and revocations (auth/keyring.ts), made once per opened store: the
   * initial key is a file in the data directory or a sealed blob in etcd shared by every replica,
   * rotated keys and revocations are blobs of the store, followed for changes.
   */
  keyring(): Promise<TokenKeyring>;
  /** etcd only: proxy status merged over every replica, this one's published under its lease. */
  shareStatus?(registry: StatusRegistry, log: Logger): SharedProxyStatus;
}

function readOption(file: string, flag: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`${flag}: cannot read "${file}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function etcdTls(options: StoreOptions): EtcdTls | undefined {
  const { storeCaCert, storeCert, storeKey } = options;
  if ((storeCert === undefined) !== (storeKey === undefined)) throw new Error('--store-cert and --store-key go together');
  if (storeCaCert === undefined) {
    if (storeCert !== undefined) throw new Error('--store-cert needs --store-ca-cert (the CA of etcd\'s serving certificate)');
    return undefined;
  }
  return {
    caPem: readOption(storeCaCert, '--store-ca-cert'),
    ...(storeCert !== undefined && storeKey !== undefined ? { certPem: readOption(storeCert, '--store-cert'), keyPem: readOption(storeKey, '--store-key') } : {}),
  };
}

export async function openStore(options: StoreOptions, log: Logger): Promise<OpenedStore> {
  const { store: url } = options;
  if (url === undefined || url === '') {
    for (const [flag, value] of [
      ['--store-ca-cert', options.storeCaCert],
      ['--store-cert', options.storeCert],
      ['--store-key', options.storeKey],
      [ENCRYPTION_KEY_FLAG, options.storeEncryptionKeyFile],
    ] as const) {
      if (value !== undefined) throw new Error(`${flag} applies to --store etcd://…; without --store the data directory is the store`);
    }
    const store = await FileStore.open(options.dataDir, { log });
    return { store, description: store.dataDir, keyring: keyringOnce(store, dataDirInitialKey(store.dataDir), log) };
  }
  const location = parseEtcdUrl(url);
  // private keys in etcd are sealed with a key kept outside etcd; there is no unencrypted mode.
  if (options.storeEncryptionKeyFile === undefined) {
    throw new Error(`--store ${location.name} needs ${ENCRYPTION_KEY_FLAG} FILE (a 32-byte key, the same on every replica: \`head -c 32 /dev/urandom | base64 > FILE\`); private keys in etcd are encrypted with it`);
  }
  const encryptionKey = readEncryptionKeyFile(options.storeEncryptionKeyFile);
  const tls = etcdTls(options);
  if (!tls) log.warn({ store: location.name }, 'talking to etcd without TLS: give --store-ca-cert (and --store-cert/--store-key for client-certificate auth)');
  const store = await EtcdStore.open(url, { encryptionKey, ...(tls ? { tls } : {}), log, ...(options.statusLeaseSeconds !== undefined ? { statusLeaseSeconds: options.statusLeaseSeconds } : {}), ...(options.statusFlushIntervalMs !== undefined ? { statusFlushIntervalMs: options.statusFlushIntervalMs } : {}) });
  return {
    store,
    description: location.name,
    keyring: keyringOnce(store, storedInitialKey(store), log),
    shareStatus: (registry, statusLog) => new SharedProxyStatus(store, registry, statusLog),
  };
}

/** The store's keyring, opened on first use and the same object after (the server and its admin API share it). */
function keyringOnce(store: Store, initial: InitialKey, log: Logger): () => Promise<TokenKeyring> {
  let opening: Promise<TokenKeyring> | undefined;
  return () => (opening ??= TokenKeyring.open(store, initial, { create: true, log: log.child({ component: 'tokens' }) }));
}

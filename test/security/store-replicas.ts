/**
 * `meshcp serve` replicas on a test etcd, as a user runs them (mTLS to etcd, the encryption key
 * file, token auth), for the store security tests. Each replica is closed by `stop()`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import type { Logger } from '../../src/log/logger.js';
import { silentLogger } from '../../src/log/logger.js';
import { startEtcd, type TestEtcd, etcdStoreFlags } from '../helpers/etcd.js';

export interface EtcdReplicas {
  readonly etcd: TestEtcd;
  readonly dir: string;
  /** A replica on `prefix` (etcd://HOST:PORT/<prefix>). */
  replica(prefix: string, log?: Logger): Promise<RunningServer>;
  /** Every key under `/<prefix>/` with its raw value, read from etcd directly. */
  raw(prefix: string): Promise<Record<string, string>>;
  /** Writes a raw record as a hand (or an older meshcp) would: `resources/<key>` → `{format: 1, resource}`. */
  putRecord(prefix: string, key: string, resource: unknown): Promise<void>;
  stop(): Promise<void>;
}

export async function startEtcdReplicas(): Promise<EtcdReplicas> {
  const etcd = await startEtcd();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-store-sec-'));
  const servers: RunningServer[] = [];
  return {
    etcd,
    dir,
    async replica(prefix, log = silentLogger()) {
      const server = await startServer(
        {
          config: [],
          dataDir: path.join(dir, `unused-${servers.length}`),
          xdsAddress: '127.0.0.1:0',
          adminAddress: '127.0.0.1:0',
          auth: 'token',
          xdsPlaintext: true,
          ...etcdStoreFlags(etcd, `${etcd.url}/${prefix}`),
        },
        log,
      );
      servers.push(server);
      return server;
    },
    raw: (prefix) => etcd.client().getAll().prefix(`/${prefix}/`).strings(),
    async putRecord(prefix, key, resource) {
      const now = new Date().toISOString();
      await etcd.client().put(`/${prefix}/resources/${key}`).value(JSON.stringify({ format: 1, creationTime: now, modificationTime: now, resource }));
    },
    async stop() {
      for (const s of servers.splice(0)) await s.close();
      await etcd.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The etcd client of a store: its endpoints, TLS and call deadlines (etcd-store.ts opens it).
 */
import type * as grpc from '@grpc/grpc-js';
import { Etcd3, type IOptions } from 'etcd3';
import { withoutIpServerName } from '../net/tls-server-name.js';

const DEFAULT_PREFIX = '/meshcp/';

export interface EtcdTls {
  /** PEM of the CA that signed etcd's serving certificate (`--store-ca-cert`). */
  readonly caPem: Buffer;
  /** Client certificate and key for etcd's `--client-cert-auth` (`--store-cert`, `--store-key`). */
  readonly certPem?: Buffer;
  readonly keyPem?: Buffer;
}

export interface EtcdLocation {
  readonly hosts: readonly string[];
  readonly prefix: string;
  /** `etcd://host:port[,…][/path]`: how errors and logs name the store. */
  readonly name: string;
}

/** `etcd://HOST:PORT[,HOST:PORT…][/PREFIX]` (SPEC §5). */
export function parseEtcdUrl(url: string): EtcdLocation {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(url);
  const hosts = m?.[1]?.split(',') ?? [];
  const bad = hosts.find((h) => !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(h));
  if (!m || hosts.length === 0 || bad !== undefined) {
    throw new Error(`--store "${url}": expected etcd://HOST:PORT[,HOST:PORT…]${bad !== undefined ? ` (bad endpoint "${bad}")` : ''}`);
  }
  const path = (m[2] ?? '').replace(/\/+$/, '');
  const prefix = path === '' ? DEFAULT_PREFIX : `${path}/`;
  return { hosts, prefix, name: `etcd://${hosts.join(',')}${path}` };
}

/** Watch reconnect backoff: doubling from 100 ms to 2 s, so a replica catches up soon after etcd returns. */
function watchBackoff(ms = 100): NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']> {
  return { duration: ms, next: () => watchBackoff(Math.min(ms * 2, 2000)) };
}

export function createEtcdClient(location: EtcdLocation, options: { readonly tls?: EtcdTls; readonly callTimeoutMs?: number }): Etcd3 {
  const scheme = options.tls ? 'https' : 'http';
  const timeout = options.callTimeoutMs ?? 5000;
  const client = new Etcd3({
    hosts: location.hosts.map((h) => `${scheme}://${h}`),
    ...(options.tls
      ? {
          credentials: {
            rootCertificate: options.tls.caPem,
            ...(options.tls.certPem ? { certChain: options.tls.certPem } : {}),
            ...(options.tls.keyPem ? { privateKey: options.tls.keyPem } : {}),
          },
        }
      : {}),
    // A listing of a large store exceeds gRPC's 4 MiB default.
    grpcOptions: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeout }),
    faultHandling: { watchBackoff: watchBackoff() },
  });
  if (options.tls) withoutIpSni(client);
  return client;
}

/**
 * etcd3 builds its TLS credentials itself (grpc-js `createSsl`) and gives each host its own channel,
 * made on first use: the hosts' credentials are swapped for ones that send no IP address as SNI
 * (net/tls-server-name.ts), before any channel exists. etcd3 1.1.2's pool keeps its hosts in
 * `pool.hosts`, each with `channelCredentials`; should an upgrade move them, nothing is swapped and
 * test/etcd/failover.test.ts, which asserts that no replica prints DEP0123, fails.
 */
function withoutIpSni(client: Etcd3): void {
  const pool = (client as unknown as { pool?: { hosts?: Array<{ channelCredentials?: grpc.ChannelCredentials }> } }).pool;
  for (const host of pool?.hosts ?? []) {
    if (host.channelCredentials !== undefined) host.channelCredentials = withoutIpServerName(host.channelCredentials);
  }
}

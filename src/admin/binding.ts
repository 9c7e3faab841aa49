/**
 * Where the admin API listens and which Host names it answers to: off loopback it must
 * authenticate its clients (mTLS), and a Host header naming anything but the bound address,
 * loopback or a configured name is refused (DNS rebinding).
 */
import { isIP } from 'node:net';
import os from 'node:os';

export interface AdminTlsOptions {
  /** PEM server certificate (chain) and key. */
  readonly cert: string;
  readonly key: string;
  /** PEM CA bundle; when set, clients must present a certificate it signed (mTLS). */
  readonly clientCa?: string;
}

/** `name:port`, `[v6]:port`, or `name` without a port; undefined when malformed. */
export function splitHostHeader(header: string): { host: string; port?: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(header.trim());
  if (!m) return undefined;
  const host = m[1] ?? m[2] ?? '';
  return m[3] !== undefined ? { host, port: Number(m[3]) } : { host };
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/** The wildcard addresses: listening on every interface. */
function isWildcard(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** Whether `host` (an --admin-address host) reaches only this machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

/** The Host names this server answers to: loopback names, the bound address (every interface address for a wildcard), and configured names. */
export function allowedHostnames(boundHost: string, extra: readonly string[]): Set<string> {
  const names = new Set<string>(LOOPBACK_NAMES);
  const bare = boundHost.replace(/^\[|\]$/g, '').toLowerCase();
  if (isWildcard(bare)) {
    // IP literals cannot be rebound by DNS; a name must be configured with --admin-hostname.
    for (const addresses of Object.values(os.networkInterfaces())) for (const a of addresses ?? []) names.add(a.address.toLowerCase());
  } else {
    names.add(bare);
  }
  for (const name of extra) names.add(name.replace(/^\[|\]$/g, '').toLowerCase());
  return names;
}

/**
 * The admin API can change every resource, so off loopback it must authenticate its clients. Throws (a one-line error naming the flags) when `address` is not loopback and no
 * client CA is configured; returns the line to log at start otherwise.
 */
export function checkAdminBinding(address: string, tls: AdminTlsOptions | undefined): string | undefined {
  const { host } = splitHostPort(address);
  if (isLoopbackHost(host)) return undefined;
  if (tls?.clientCa === undefined) {
    throw new Error(
      `--admin-address ${address} is not a loopback address, and the admin API can change every resource: require client certificates with --admin-tls-cert, --admin-tls-key and --admin-client-ca, or bind it to 127.0.0.1`,
    );
  }
  return `the admin API listens on ${address} (not loopback); clients must present a certificate signed by --admin-client-ca`;
}

export function splitHostPort(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid address "${address}": expected HOST:PORT`);
  return { host: match[1] ?? match[2] ?? '', port };
}

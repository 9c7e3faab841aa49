/**
 * Where the agent's xDS relay listens (SPEC §2 "Proxyless gRPC and TLS"). The relay hands out the
 * workload's identity, private key included, to whoever connects, so only its owner may reach it:
 *
 * - `unix:///PATH` (the default form): a Unix domain socket with mode 0600, as istio-agent serves
 *   SDS. Connecting to a socket needs write permission on it, so only the agent's user (and root)
 *   can. The socket is made in a private 0700 directory beside PATH, set to 0600, and renamed into
 *   place, so it is never reachable with a wider mode, not even for an instant. An existing PATH
 *   is replaced only if it is a socket of this user (a previous agent's); a directory above it
 *   that others may write without the sticky bit is refused (they could swap the socket).
 * - `HOST:PORT` on loopback: still accepted, but any local user can then connect and obtain the
 *   identity; the agent says so with a warning. Any other host is refused.
 */
import fs from 'node:fs';
import net, { isIP } from 'node:net';
import path from 'node:path';

export type RelayAddress = { readonly kind: 'unix'; readonly path: string } | { readonly kind: 'tcp'; readonly address: string; readonly port: number };

const FLAG = '--xds-proxy-address';

/** `unix:///abs/path` or `unix:relative/path` (resolved now), or a loopback `HOST:PORT`. */
export function parseRelayAddress(address: string, flag = FLAG): RelayAddress {
  if (address.startsWith('unix:')) {
    const rest = address.startsWith('unix://') ? address.slice('unix://'.length) : address.slice('unix:'.length);
    if (address.startsWith('unix://') && !rest.startsWith('/')) throw new Error(`${flag} "${address}": give an absolute path after unix:// (unix:///run/meshcp/xds.sock), or unix:relative/path`);
    if (rest === '' || rest.endsWith('/')) throw new Error(`${flag} "${address}": expected unix:///PATH of a socket file, e.g. unix:///run/meshcp/xds.sock`);
    return { kind: 'unix', path: path.resolve(rest) };
  }
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${flag} "${address}" must be unix:///PATH (a socket only this user can reach, e.g. unix:///run/meshcp/xds.sock) or a loopback HOST:PORT`);
  }
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!loopback) {
    throw new Error(`${flag} "${address}" is not a loopback address: the xDS relay is plaintext and hands out this agent's identity, so it listens on a Unix socket (unix:///PATH) or, at most, on 127.0.0.1`);
  }
  return { kind: 'tcp', address, port };
}

/** The warning a TCP relay deserves (logged by the agent). */
export function tcpRelayWarning(address: string): string {
  return `--xds-proxy-address ${address} is TCP: ANY local user can connect to it and obtain this workload's identity, its private key included. Use a Unix socket only this user can reach: --xds-proxy-address unix:///PATH`;
}

/** What the relay's gRPC server binds to: the private path, for a socket (see `UnixRelaySocket`). */
export function bindTarget(socketPath: string): string {
  return `unix://${socketPath}`;
}

/**
 * The socket's life: `prepare` checks PATH and makes the private directory to bind in, `publish`
 * sets 0600 and renames the socket to PATH, `remove` takes it away when the relay closes.
 */
export class UnixRelaySocket {
  private privateDir: string | undefined;
  private published: { readonly ino: number } | undefined;

  constructor(readonly target: string) {}

  /** Returns the path to bind to: a socket file inside a fresh 0700 directory beside the target. */
  async prepare(): Promise<string> {
    const dir = path.dirname(this.target);
    const parent = fs.statSync(dir);
    if (!parent.isDirectory()) throw new Error(`${FLAG} unix://${this.target}: ${dir} is not a directory`);
    if ((parent.mode & 0o002) !== 0 && (parent.mode & 0o1000) === 0) {
      throw new Error(`${FLAG} unix://${this.target}: ${dir} is writable by every user without the sticky bit, so another user could replace the socket; use a directory only this user can write (e.g. $XDG_RUNTIME_DIR or /run/meshcp)`);
    }
    await this.removeStale();
    this.privateDir = fs.mkdtempSync(path.join(dir, '.meshcp-relay-'));
    fs.chmodSync(this.privateDir, 0o700);
    return path.join(this.privateDir, 's');
  }

  /** After the bind: owner-only, then in place. */
  publish(): void {
    if (!this.privateDir) throw new Error('internal: publish before prepare');
    const bound = path.join(this.privateDir, 's');
    fs.chmodSync(bound, 0o600);
    fs.renameSync(bound, this.target);
    fs.rmdirSync(this.privateDir);
    this.privateDir = undefined;
    this.published = { ino: fs.lstatSync(this.target).ino };
  }

  /** Removes the socket if it is still the one this relay published, and any leftover private directory. */
  remove(): void {
    if (this.privateDir) fs.rmSync(this.privateDir, { recursive: true, force: true });
    this.privateDir = undefined;
    const published = this.published;
    this.published = undefined;
    if (!published) return;
    try {
      if (fs.lstatSync(this.target).ino === published.ino) fs.unlinkSync(this.target);
    } catch {
      // Already gone.
    }
  }

  /** A socket left by an earlier agent of this user (nobody answers on it) is replaced; anything else at PATH is refused. */
  private async removeStale(): Promise<void> {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(this.target);
    } catch {
      return;
    }
    const uid = process.geteuid?.();
    if (!stat.isSocket() || (uid !== undefined && stat.uid !== uid)) {
      throw new Error(`${FLAG} unix://${this.target}: the path exists and is not a socket of this user; remove it, or choose another path`);
    }
    const answered = await new Promise<boolean>((resolve) => {
      const probe = net.connect(this.target);
      probe.once('connect', () => {
        probe.destroy();
        resolve(true);
      });
      probe.once('error', () => resolve(false));
    });
    if (answered) throw new Error(`${FLAG} unix://${this.target}: another process serves on this socket (another agent?); stop it, or choose another path`);
    fs.unlinkSync(this.target);
  }
}

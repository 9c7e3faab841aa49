/**
 * Test hosts in network namespaces (iproute2; the tests run as root): each host a namespace of
 * its own with one address on a bridge in a hub namespace, and names resolved through
 * `/etc/netns/NS/hosts`, which `ip netns exec` mounts over /etc/hosts. Nothing outside the
 * namespaces this lab creates is touched, and `close()` removes all of them and every process
 * started in them (by PID).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export function ip(...args: string[]): void {
  const run = spawnSync('ip', args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`ip ${args.join(' ')}: ${run.stderr.trim()}`);
}

export interface NsProcess {
  readonly child: ChildProcess;
  output(): string;
}

export interface NsRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export class NetnsLab {
  private readonly namespaces: string[] = [];
  private readonly processes: NsProcess[] = [];
  private readonly hub: string;
  private hostsLines: string[] = [];
  private readonly hosts = new Map<string, { ns: string; address: string }>();

  /** `tag` keeps concurrent runs apart (namespace names are machine-wide). */
  constructor(private readonly tag: string, private readonly subnetPrefix: number) {
    this.hub = this.add('hub');
    ip('-n', this.hub, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', this.hub, 'link', 'set', 'br0', 'up');
  }

  private add(name: string): string {
    const ns = `${this.tag}-${name}`;
    ip('netns', 'add', ns);
    this.namespaces.push(ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    return ns;
  }

  /** A host `name` at `address` (in the lab's /24); `aliases` resolve to it on every host. */
  host(name: string, address: string, aliases: readonly string[] = []): string {
    const ns = this.add(name);
    const hubEnd = `v-${name}`.slice(0, 15);
    ip('-n', this.hub, 'link', 'add', hubEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('-n', this.hub, 'link', 'set', hubEnd, 'master', 'br0', 'up');
    ip('-n', ns, 'addr', 'add', `${address}/${this.subnetPrefix}`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    this.hosts.set(name, { ns, address });
    if (aliases.length > 0) this.hostsLines.push(`${address} ${aliases.join(' ')}`);
    this.writeHostsFiles();
    return ns;
  }

  private writeHostsFiles(): void {
    for (const { ns } of this.hosts.values()) {
      const dir = path.join('/etc/netns', ns);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'hosts'), `127.0.0.1 localhost\n::1 localhost\n${this.hostsLines.join('\n')}\n`);
    }
  }

  ns(name: string): string {
    const found = this.hosts.get(name);
    if (!found) throw new Error(`no host ${name}`);
    return found.ns;
  }

  /** A long-running `args…` on host `name`, in its own process group. */
  start(name: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): NsProcess {
    const child = spawn('ip', ['netns', 'exec', this.ns(name), ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...(options.env ? { env: options.env } : {}), ...(options.cwd ? { cwd: options.cwd } : {}) });
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-100_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const proc = { child, output: () => output };
    this.processes.push(proc);
    return proc;
  }

  /** `args…` on host `name`, to completion. */
  run(name: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<NsRun> {
    return new Promise((resolve) => {
      const child = spawn('ip', ['netns', 'exec', this.ns(name), ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(options.env ? { env: options.env } : {}), ...(options.cwd ? { cwd: options.cwd } : {}) });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
  }

  /** Stops every process (SIGTERM to its group, then SIGKILL) and removes every namespace and hosts file. */
  async close(): Promise<void> {
    await Promise.all(
      this.processes.map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          return;
        }
        const timer = setTimeout(() => {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            // already gone
          }
        }, 5_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    for (const ns of this.namespaces.reverse()) {
      spawnSync('ip', ['netns', 'del', ns]);
      fs.rmSync(path.join('/etc/netns', ns), { recursive: true, force: true });
    }
  }
}

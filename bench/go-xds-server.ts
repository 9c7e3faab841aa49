/**
 * A go-control-plane xDS server process (test/peers/go/cmd/xds-server): resources for named nodes
 * in, xDS out over plaintext or TLS. The bench drives it beside meshcp; a fleet of real Envoys can
 * be served by it the same way (its control protocol is described in its main.go).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import readline from 'node:readline';
import { goBinary } from '../test/peers/go-binaries.js';
import type { MemorySample } from './ipc.js';

export type GoEvent = { event: string } & Record<string, unknown>;

export interface GoXdsServerOptions {
  readonly listen?: string;
  /** serving certificate and key files: xDS over TLS. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** linear (default): one LinearCache serves EDS to every node; snapshot: EDS in each node's snapshot. */
  readonly edsCache?: 'linear' | 'snapshot';
}

/** The Go server process: commands on its stdin, events from its stdout. */
export class GoXdsServer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting = new Map<string, { resolve: (e: GoEvent) => void; reject: (err: Error) => void }>();
  private stderr = '';
  private failure: Error | undefined;
  private stopping = false;

  constructor(options: GoXdsServerOptions = {}) {
    const args = ['--listen', options.listen ?? '127.0.0.1:0', '--eds-cache', options.edsCache ?? 'linear'];
    if (options.tls) args.push('--tls-cert', options.tls.certFile, '--tls-key', options.tls.keyFile);
    this.child = spawn(goBinary('xds-server'), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-10_000)));
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      const event = JSON.parse(line) as GoEvent;
      if (event.event === 'nack') return this.fail(new Error(`go-control-plane: ${String(event['node'])} NACKed ${String(event['typeUrl'])}: ${String(event['error'])}`));
      const key = `${event.event}|${String(event['token'] ?? '')}`;
      const waiter = this.waiting.get(key);
      this.waiting.delete(key);
      waiter?.resolve(event);
    });
    this.child.on('exit', (code, signal) => this.fail(new Error(`go-control-plane xds-server exited (${signal ?? `code ${String(code)}`}): ${this.stderr}`)));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private fail(err: Error): void {
    if (this.stopping) return;
    this.failure ??= err;
    for (const waiter of this.waiting.values()) waiter.reject(err);
    this.waiting.clear();
  }

  async send(command: Record<string, unknown>): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.child.stdin.write(`${JSON.stringify(command)}\n`)) await new Promise((resolve) => this.child.stdin.once('drain', resolve));
  }

  /** Sends `command` and resolves with the event `event` (with the command's token, if any). */
  async request(command: Record<string, unknown>, event: string): Promise<GoEvent> {
    const answer = new Promise<GoEvent>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.waiting.set(`${event}|${String(command['token'] ?? '')}`, { resolve, reject });
    });
    await this.send(command);
    return answer;
  }

  async memory(): Promise<MemorySample> {
    const e = await this.request({ op: 'memory' }, 'memory');
    return { rssBytes: Number(e['rssBytes']), heapUsedBytes: Number(e['heapUsedBytes']) };
  }

  /** Closing stdin ends it; SIGKILL (this process's own child, by PID) if it lingers. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.stopping = true;
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}


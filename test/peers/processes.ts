/**
 * Child processes for the real-peer tests over the production path: `meshcp serve` (TLS xDS,
 * token auth), `meshcp agent`, and the Go peers. Each is stopped by its PID; each keeps its output,
 * and a process that exits while it is waited on fails the wait with that output, so a peer that
 * crashes fails its test with its log instead of timing out silently.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import path from 'node:path';

const BIN = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../dist/src/cli/main.js');

/** The built `meshcp` bin (`npm run build` first, as `npm test` does). */
export function meshcp(args: readonly string[], input?: string): string {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000, ...(input !== undefined ? { input } : {}) });
  if (result.status !== 0) throw new Error(`meshcp ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`}):\n${result.stderr}`);
  return result.stdout;
}

/** A running child whose stdout is JSON lines (other lines are kept in the log). */
export class PeerProcess<E extends object = Record<string, unknown>> {
  readonly events: E[] = [];
  private log = '';
  private readonly child: ChildProcess;
  private readonly listeners = new Set<() => void>();
  private exited: string | undefined;

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv = {},
  ) {
    // stdin stays open: the Go peers stop when it closes, so they die with the test process.
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    this.child.stderr!.on('data', (chunk: Buffer) => this.append(chunk.toString()));
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let event: E | undefined;
      try {
        const parsed: unknown = JSON.parse(line);
        if (parsed !== null && typeof parsed === 'object') event = parsed as E;
      } catch {
        // not a JSON line
      }
      if (event) this.events.push(event);
      else this.append(`${line}\n`);
      this.notify();
    });
    this.child.on('error', (err) => this.finish(`could not start: ${err.message}`));
    this.child.on('exit', (code, signal) => this.finish(`exited with ${signal ?? `code ${String(code)}`}`));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** stderr and non-JSON stdout, the last 8 kB. */
  output(): string {
    return this.log;
  }

  private append(text: string): void {
    this.log = (this.log + text).slice(-8_000);
  }

  private finish(why: string): void {
    if (this.exited === undefined) this.exited = why;
    this.notify();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Throws with the process's output if it has exited. */
  assertRunning(): void {
    if (this.exited !== undefined) throw new Error(`${this.name} ${this.exited}; its output:\n${this.log}`);
  }

  /**
   * Resolves with the first event at or after index `from` that `match` accepts. Rejects with the
   * process's output when it exits first or after `timeoutMs`.
   */
  waitEvent(what: string, match: (event: E) => boolean, options: { from?: number; timeoutMs?: number } = {}): Promise<E> {
    const from = options.from ?? 0;
    return new Promise<E>((resolve, reject) => {
      let next = from;
      const check = (): void => {
        for (; next < this.events.length; next++) {
          const event = this.events[next]!;
          if (match(event)) return done(() => resolve(event));
        }
        if (this.exited !== undefined) done(() => reject(new Error(`${this.name} ${this.exited} while waiting for ${what}; its output:\n${this.log}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${what} from ${this.name}; its output:\n${this.log}`))), options.timeoutMs ?? 30_000);
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        settle();
      };
      this.listeners.add(check);
      check();
    });
  }

  /** SIGKILL, as a crash. */
  async kill9(): Promise<void> {
    await this.signal('SIGKILL', 0);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 5_000): Promise<void> {
    await this.signal('SIGTERM', graceMs);
  }

  private async signal(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    if (this.exited !== undefined || this.child.pid === undefined) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.exited = `stopped by the test (${signal})`;
    this.child.stdin?.end();
    const kill = (sig: NodeJS.Signals): void => {
      try {
        if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.child.pid!, sig);
      } catch {
        // it exited meanwhile
      }
    };
    kill(signal);
    const timer = graceMs > 0 ? setTimeout(() => kill('SIGKILL'), graceMs) : undefined;
    await gone;
    if (timer) clearTimeout(timer);
  }
}

/** `meshcp serve` as users run it; `ready` resolves with its admin URL once it logs that it is serving. */
export class ServeProcess extends PeerProcess<{ msg?: string; admin?: string; xds?: string }> {
  readonly ready: Promise<{ adminUrl: string; xdsAddress: string }>;

  constructor(args: readonly string[]) {
    super('meshcp serve', process.execPath, [BIN, 'serve', ...args]);
    this.ready = this.waitEvent('"meshcp is serving"', (e) => e.msg === 'meshcp is serving', { timeoutMs: 60_000 }).then((e) => ({ adminUrl: String(e.admin), xdsAddress: String(e.xds) }));
  }
}

/** `meshcp agent` (keeps DIR/cert.pem, key.pem, ca.pem; optionally relays xDS for a grpc-js app). */
export function startAgentProcess(args: readonly string[]): PeerProcess {
  return new PeerProcess(`meshcp agent ${args.join(' ')}`, process.execPath, [BIN, 'agent', ...args]);
}

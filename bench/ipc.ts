/**
 * Messages between the orchestrator (run.ts) and its forked processes: one server process
 * (meshcp or the baseline) and one process holding all the simulated Envoys. Each side
 * measures with its own clock; only durations cross process boundaries.
 */
import type { ChildProcess } from 'node:child_process';
import type { Scenario } from './scenario.js';

export type ServerCommand =
  | { type: 'init'; proxies: number; scenario: Scenario; port?: number; tls?: { certPem: string; keyPem: string } }
  | { type: 'begin-initial' }
  | { type: 'measure-idle' }
  | { type: 'change'; iteration: number }
  | { type: 'stop' };

export interface MemorySample {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /**
   * Node servers only: the V8 heap committed (`heapTotal`, what RSS holds for the heap, used or
   * not) and the memory of Buffers and other objects outside it (`external`). RSS minus both is
   * native memory: HTTP/2 sessions, sockets, code, allocator slack.
   */
  readonly heapTotalBytes?: number;
  readonly externalBytes?: number;
}

/** Responses pushed per type short name (CDS, EDS...) while a change was being applied. */
export type PushCounts = Readonly<Record<string, number>>;

/** What one change recomputed in meshcp (ControlPlane.recompute(), issue #11). */
export interface RecomputeDelta {
  /** Meshes translated. */
  readonly translations: number;
  /** Proxy configs generated from the model. */
  readonly proxyGenerations: number;
  /** Proxy configs updated by swapping ClusterLoadAssignments, without generating. */
  readonly endpointPatches: number;
  /** Proxy configs updated by a certificate or trust bundle change (SDS only), without generating. */
  readonly identityPatches: number;
  /** Resources serialized with protobuf. */
  readonly resourcesEncoded: number;
}

/** meshcp: what the initial config (all N proxies connecting) generated and encoded. */
export interface InitialRecompute {
  readonly proxyGenerations: number;
  readonly resourcesEncoded: number;
}

export type ServerReply =
  | { type: 'ready'; port: number; memory: MemorySample; gcExposed: boolean; prepareMs: number }
  | { type: 'initial-started' }
  | { type: 'initial-done'; ms: number; certificatesIssued?: number; allSecretsSentMs?: number; initialRecompute?: InitialRecompute }
  | { type: 'idle'; memory: MemorySample }
  | { type: 'changed'; iteration: number; ms: number; syncMs: number; pushed: PushCounts; recompute?: RecomputeDelta; heapUsedBytes: number; writeSyscalls?: number }
  | { type: 'error'; message: string };

export type ClientsCommand =
  | { type: 'connect'; address: string; proxies: number; perConnection: number; tls?: { caPem: string; serverName: string }; reconnect?: boolean }
  | { type: 'mark'; types: readonly string[] }
  | { type: 'await-acked' }
  | { type: 'stats' }
  | { type: 'stop' };

export interface ClientStats {
  readonly streams: number;
  readonly connections: number;
  readonly responses: number;
  readonly requests: number;
  readonly streamErrors: number;
  readonly lastError?: string;
  readonly rssBytes: number;
}

export type ClientsReply = { type: 'ready' } | { type: 'marked' } | { type: 'acked'; ms: number; firstResponseMs: number } | { type: 'stats'; stats: ClientStats } | { type: 'error'; message: string };

type Reply = { readonly type: string };

/** The orchestrator's handle on a forked process: send a command, await a reply of a given type. */
export class ChildLink<Command, Answer extends Reply> {
  private readonly queue: Answer[] = [];
  private readonly waiters: ((answer: Answer) => void)[] = [];
  private exitError?: Error;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (message: Answer) => {
      const waiter = this.waiters.shift();
      if (waiter) waiter(message);
      else this.queue.push(message);
    });
    child.on('exit', (code, signal) => {
      this.exitError = new Error(`${name} exited (code ${code}, signal ${signal})`);
    });
  }

  send(command: Command): void {
    this.child.send(command as object);
  }

  /** The next message from the child, which must be of `type`; an `error` message or a deadline rejects. */
  async expect<T extends Answer['type']>(type: T, timeoutMs: number): Promise<Extract<Answer, { type: T }>> {
    const message = await this.next(timeoutMs);
    if (message.type !== type) {
      const detail = message.type === 'error' ? (message as unknown as { message: string }).message : JSON.stringify(message);
      throw new Error(`${this.name}: expected "${type}", got "${message.type}": ${detail}`);
    }
    return message as Extract<Answer, { type: T }>;
  }

  async request<T extends Answer['type']>(command: Command, type: T, timeoutMs: number): Promise<Extract<Answer, { type: T }>> {
    this.send(command);
    return this.expect(type, timeoutMs);
  }

  /** Asks the child to stop and waits for it to exit; kills it (this process's own child, by pid) after a grace period. */
  async stop(command: Command): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.connected) this.child.send(command as object);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  private next(timeoutMs: number): Promise<Answer> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.exitError) return Promise.reject(this.exitError);
    return new Promise<Answer>((resolve, reject) => {
      const onExit = (): void => {
        clearTimeout(timer);
        reject(this.exitError ?? new Error(`${this.name} exited`));
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        this.child.off('exit', onExit);
        reject(new Error(`${this.name}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (answer: Answer): void => {
        clearTimeout(timer);
        this.child.off('exit', onExit);
        resolve(answer);
      };
      this.waiters.push(waiter);
      this.child.once('exit', onExit);
    });
  }
}

/** Child side: handles each command from the parent; a thrown error is reported as an `error` message. */
export function serveParent<Command>(handle: (command: Command) => Promise<void>): void {
  process.on('message', (command: Command) => {
    handle(command).catch((err: unknown) => {
      replyToParent({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    });
  });
  // The orchestrator going away must not leave this process behind.
  process.on('disconnect', () => process.exit(0));
}

export function replyToParent(reply: ServerReply | ClientsReply): void {
  process.send?.(reply);
}

/**
 * How long a server idles before a memory sample, with a full collection every second
 * (BENCH_SETTLE_MS, default 12 s; the same for both servers). Right after a burst, V8's young
 * generation is still grown and, in meshcp's mtls scenario, the certificate worker threads are
 * still up (they stop after 10 s idle): neither is memory an idle proxy holds.
 */
const SETTLE_MS = Number(process.env['BENCH_SETTLE_MS'] ?? 12_000);

/** Memory after the server idled `SETTLE_MS` with a full collection every second (when node runs with --expose-gc). */
export async function settledMemory(): Promise<MemorySample> {
  const passes = Math.max(3, Math.ceil(SETTLE_MS / 1000));
  const pauseMs = SETTLE_MS > 0 ? SETTLE_MS / passes : 100;
  for (let i = 0; i < passes; i++) {
    globalThis.gc?.();
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  globalThis.gc?.();
  const usage = process.memoryUsage();
  return { rssBytes: usage.rss, heapUsedBytes: usage.heapUsed, heapTotalBytes: usage.heapTotal, externalBytes: usage.external };
}

/** Progress for long phases, on stderr: at most ~10 lines per phase. */
export function progress(label: string, done: number, total: number): void {
  const step = Math.max(1, Math.ceil(total / 10));
  if (done % step === 0 || done === total) process.stderr.write(`  ${label} ${done}/${total}\n`);
}

/**
 * The part of a server process (meshcp or baseline) that talks to the orchestrator. A target
 * starts a server for N proxies, reports when every proxy has ACKed its initial config, and
 * applies "one changed cluster" measuring until every proxy has ACKed it.
 */
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { performance } from 'node:perf_hooks';
import { replyToParent, serveParent, settledMemory, type InitialRecompute, type MemorySample, type PushCounts, type RecomputeDelta, type ServerCommand } from './ipc.js';
import type { Scenario } from './scenario.js';

export interface ChangeResult {
  /** From the change to the last ACK. */
  readonly ms: number;
  /** How long the change call itself kept the event loop (translate + generate + write). */
  readonly syncMs: number;
  readonly pushed: PushCounts;
  /** meshcp only: what the change recomputed. */
  readonly recompute?: RecomputeDelta;
}

/** Where a server listens: a given port (a restarted server takes its old one) and TLS; by default any free port, plaintext. */
export interface ListenOptions {
  readonly port?: number;
  readonly tls?: { readonly certPem: string; readonly keyPem: string };
}

export interface BenchTarget {
  /** Binds on 127.0.0.1 and prepares everything that does not depend on connected proxies (mtls: the mesh CA exists). */
  start(proxies: number, scenario: Scenario, listen?: ListenOptions): Promise<number>;
  /** Resolves when every proxy has ACKed CDS, EDS, LDS and RDS (and SDS in the mtls scenario). */
  initialConfigAcked(): Promise<void>;
  /** meshcp, mtls: workload certificates issued since start. */
  certificatesIssued?(): number;
  /** meshcp, mtls: when, within the initial config, every proxy had been sent its SDS response (certificate issued, config generated). */
  coldStartMilestones?(): { allSecretsSentMs?: number; initialRecompute?: InitialRecompute };
  change(iteration: number): Promise<ChangeResult>;
  /**
   * A server in another process (go-control-plane) measures its own memory; without these, this
   * process's settled memory is the server's. `memoryBefore` is read once start() has returned.
   */
  memoryBefore?(): Promise<MemorySample>;
  memoryIdle?(): Promise<MemorySample>;
  /** The process that serves xDS, when it is not this one (its write syscalls are counted). */
  serverPid?(): number | undefined;
  stop(): Promise<void>;
}

/** Rejects when `promise` takes longer than `ms`, naming what was awaited. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Write-family system calls (write, writev, sendmsg…) the server process has made, from Linux's
 * /proc/PID/io `syscw` (all its threads); undefined where that file does not exist. Counted per
 * change, it shows how many socket writes the same pushes took, whatever else the machine does.
 */
function writeSyscalls(pid: number | undefined): number | undefined {
  try {
    const match = /^syscw:\s*(\d+)$/m.exec(fs.readFileSync(`/proc/${pid ?? 'self'}/io`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function runServerProcess(target: BenchTarget): void {
  serveParent<ServerCommand>(async (command) => {
    switch (command.type) {
      case 'init': {
        const started = performance.now();
        const port = await target.start(command.proxies, command.scenario, { ...(command.port !== undefined ? { port: command.port } : {}), ...(command.tls ? { tls: command.tls } : {}) });
        const prepareMs = performance.now() - started;
        const memory = target.memoryBefore ? await target.memoryBefore() : await settledMemory();
        replyToParent({ type: 'ready', port, memory, gcExposed: typeof globalThis.gc === 'function', prepareMs });
        return;
      }
      case 'begin-initial': {
        const started = performance.now();
        const acked = target.initialConfigAcked();
        replyToParent({ type: 'initial-started' });
        await withDeadline(acked, 180_000, 'initial config ACKed by every proxy');
        const ms = performance.now() - started;
        const certificatesIssued = target.certificatesIssued?.();
        replyToParent({ type: 'initial-done', ms, ...(certificatesIssued !== undefined ? { certificatesIssued } : {}), ...(target.coldStartMilestones?.() ?? {}) });
        return;
      }
      case 'measure-idle': {
        const memory = target.memoryIdle ? await target.memoryIdle() : await settledMemory();
        // BENCH_HEAP_SNAPSHOT_DIR=DIR: a V8 heap snapshot of the idle server, after its memory was read
        // (DIR/<server script>-<pid>.heapsnapshot, for Chrome DevTools).
        const dir = process.env['BENCH_HEAP_SNAPSHOT_DIR'];
        if (dir) {
          fs.mkdirSync(dir, { recursive: true });
          v8.writeHeapSnapshot(path.join(dir, `${path.basename(process.argv[1] ?? 'server', '.js')}-${process.pid}.heapsnapshot`));
        }
        replyToParent({ type: 'idle', memory });
        return;
      }
      case 'change': {
        const pid = target.serverPid?.();
        const writesBefore = writeSyscalls(pid);
        const result = await withDeadline(target.change(command.iteration), 60_000, `change ${command.iteration} ACKed by every proxy`);
        const writesAfter = writeSyscalls(pid);
        const writes = writesBefore !== undefined && writesAfter !== undefined ? { writeSyscalls: writesAfter - writesBefore } : {};
        replyToParent({ type: 'changed', iteration: command.iteration, ...result, heapUsedBytes: process.memoryUsage().heapUsed, ...writes });
        return;
      }
      case 'stop':
        await target.stop();
        process.exit(0);
    }
  });
}

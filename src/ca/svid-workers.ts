/**
 * The worker threads that sign SVIDs (svid.ts): every per-certificate step (key, DER, signature,
 * PEM) runs there synchronously, in batches, and the event loop only queues requests and resolves
 * results. The workers evaluate svid-core.ts's `svidCore` from its source text.
 *
 * One pool per server, like the cores it is sized to: the composition root (runtime/root.ts) makes
 * it and hands it to the CA providers, and what it shares between their CAs is CPU, never state.
 * Issuers given no pool (a control plane made without CA providers, tools) share the process's.
 * Each `SvidIssuer` registers its own template (by a fresh id), forgotten when the issuer is
 * collected.
 */
import type crypto from 'node:crypto';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { svidCore, type IssuerTemplate, type SignedSvid, type SvidCore } from './svid-core.js';

/** Messages to a worker. */
type ToWorker =
  | { readonly kind: 'issuer'; readonly id: number; readonly template: IssuerTemplate }
  | { readonly kind: 'forget'; readonly id: number }
  /** Flat: issuer id, notBefore ms, notAfter ms, SPIFFE IDs, per job. */
  | { readonly kind: 'batch'; readonly jobs: ReadonlyArray<readonly [number, number, number, readonly string[]]> };

/** Per job, in order: [certPem, keyPem, serialHex] or [error message]. */
type FromWorker = ReadonlyArray<readonly [string, string, string] | readonly [string]>;

/**
 * A worker's main loop. Self-contained like svidCore, and run from its source text: it gets the
 * core's source evaluated and `require` as parameters.
 */
function svidWorkerMain(makeCore: typeof svidCore, load: NodeJS.Require): void {
  const { parentPort } = load('node:worker_threads') as typeof import('node:worker_threads');
  const workerCore = makeCore(load('node:crypto') as typeof crypto);
  const signers = new Map<number, ReturnType<SvidCore['signer']>>();
  parentPort?.on('message', (message: ToWorker) => {
    if (message.kind === 'issuer') signers.set(message.id, workerCore.signer(message.template));
    else if (message.kind === 'forget') signers.delete(message.id);
    else {
      const results: Array<readonly [string, string, string] | readonly [string]> = [];
      for (const [issuer, notBeforeMs, notAfterMs, spiffeIds] of message.jobs) {
        try {
          const sign = signers.get(issuer);
          if (sign === undefined) throw new Error(`internal error: issuer ${issuer} is unknown to the worker`);
          const svid = sign(notBeforeMs, notAfterMs, spiffeIds);
          results.push([svid.certPem, svid.keyPem, svid.serialHex]);
        } catch (err) {
          results.push([err instanceof Error ? err.message : String(err)]);
        }
      }
      parentPort.postMessage(results);
    }
  });
}

const WORKER_SOURCE = `'use strict';\nconst svidCore = ${svidCore.toString()};\n(${svidWorkerMain.toString()})(svidCore, require);\n`;

interface Job {
  readonly issuer: number;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly spiffeIds: readonly string[];
  readonly resolve: (svid: SignedSvid) => void;
  readonly reject: (err: Error) => void;
}

interface PoolWorker {
  readonly worker: Worker;
  /** Armed while the worker has nothing to do: it is stopped when this fires. */
  idleTimer?: NodeJS.Timeout;
  /** Issuers this worker has a template for. */
  readonly issuers: Set<number>;
  /** Batches posted and not yet answered, oldest first (a worker answers in order). */
  readonly inFlight: Job[][];
}

/** Jobs per batch at most: with a P-256 CA about 5 ms of work, with RSA-2048 about 25 ms. */
const MAX_BATCH = 64;
/** Batches a worker holds at once: one to work on and one waiting, so it never idles for a round trip. */
const BATCHES_PER_WORKER = 2;

/** Workers at most, whatever the core count: each holds a V8 isolate (about 10 MB). */
const MAX_WORKERS = 8;

export interface SvidWorkerPoolOptions {
  /**
   * A worker with nothing to do for this long is stopped, and its isolate's memory returned:
   * certificates come in bursts (connections, rotations at 4/5 of a day-long lifetime), and a
   * stopped worker costs only a restart (tens of ms) at the next burst (idle memory). Default 10 s.
   */
  readonly idleWorkerMs?: number;
}

const DEFAULT_IDLE_WORKER_MS = 10_000;

/**
 * The worker threads that issue SVIDs, for every issuer given the pool: one per core (at most
 * MAX_WORKERS), started by the first burst that can use them. Idle workers do not keep the process
 * alive; a worker that dies fails its unanswered jobs and is replaced on the next request.
 */
export class SvidWorkerPool {
  private readonly size = Math.max(1, Math.min(MAX_WORKERS, os.availableParallelism()));
  private readonly idleWorkerMs: number;
  private readonly workers: PoolWorker[] = [];
  private readonly queue: Job[] = [];
  private readonly templates = new Map<number, IssuerTemplate>();
  private nextIssuer = 1;
  private readonly forgotten = new FinalizationRegistry<number>((id) => this.forget(id));

  constructor(options: SvidWorkerPoolOptions = {}) {
    this.idleWorkerMs = options.idleWorkerMs ?? DEFAULT_IDLE_WORKER_MS;
  }

  register(owner: object, template: IssuerTemplate): number {
    const id = this.nextIssuer++;
    this.templates.set(id, template);
    this.forgotten.register(owner, id);
    return id;
  }

  submit(issuer: number, notBeforeMs: number, notAfterMs: number, spiffeIds: readonly string[]): Promise<SignedSvid> {
    return new Promise((resolve, reject) => {
      this.queue.push({ issuer, notBeforeMs, notAfterMs, spiffeIds, resolve, reject });
      // One pump per burst: the requests of one synchronous loop share their batches.
      if (this.queue.length === 1) queueMicrotask(() => this.pump());
    });
  }

  private forget(id: number): void {
    this.templates.delete(id);
    for (const w of this.workers) if (w.issuers.delete(id)) w.worker.postMessage({ kind: 'forget', id } satisfies ToWorker);
  }

  private pump(): void {
    // One worker per queued job up to one per core: a lone request starts one worker, a burst all of them.
    while (this.workers.length < Math.min(this.size, this.queue.length)) this.workers.push(this.start());
    // Fill the least busy workers first, in batches that spread the queue over all of them.
    for (let round = 0; round < BATCHES_PER_WORKER && this.queue.length > 0; round++) {
      for (const w of this.workers) {
        if (this.queue.length === 0) break;
        if (w.inFlight.length > round) continue;
        const size = Math.min(MAX_BATCH, Math.ceil(this.queue.length / this.workers.length));
        this.post(w, this.queue.splice(0, size));
      }
    }
  }

  private post(w: PoolWorker, batch: Job[]): void {
    for (const job of batch) {
      if (w.issuers.has(job.issuer)) continue;
      const template = this.templates.get(job.issuer);
      if (template === undefined) throw new Error(`internal error: issuer ${job.issuer} has no template`);
      w.worker.postMessage({ kind: 'issuer', id: job.issuer, template } satisfies ToWorker);
      w.issuers.add(job.issuer);
    }
    if (w.inFlight.length === 0) w.worker.ref();
    if (w.idleTimer !== undefined) clearTimeout(w.idleTimer);
    w.idleTimer = undefined;
    w.inFlight.push(batch);
    w.worker.postMessage({ kind: 'batch', jobs: batch.map((j) => [j.issuer, j.notBeforeMs, j.notAfterMs, j.spiffeIds] as const) } satisfies ToWorker);
  }

  /** Stops `w` once it has stayed without work for `idleWorkerMs`; new work cancels that (post). */
  private retireWhenIdle(w: PoolWorker): void {
    if (w.idleTimer !== undefined) clearTimeout(w.idleTimer);
    w.idleTimer = setTimeout(() => {
      w.idleTimer = undefined;
      const index = this.workers.indexOf(w);
      if (index < 0 || w.inFlight.length > 0) return;
      // Out of the pool first: its exit is then no failure (fail() finds it gone).
      this.workers.splice(index, 1);
      void w.worker.terminate();
    }, this.idleWorkerMs);
    w.idleTimer.unref();
  }

  /** Worker threads running now (`meshcp_svid_worker_threads` on /metrics). */
  get running(): number {
    return this.workers.length;
  }

  private start(): PoolWorker {
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'meshcp-svid' });
    const w: PoolWorker = { worker, issuers: new Set(), inFlight: [] };
    worker.on('message', (results: FromWorker) => {
      const batch = w.inFlight.shift() ?? [];
      if (w.inFlight.length === 0) {
        worker.unref();
        this.retireWhenIdle(w);
      }
      batch.forEach((job, i) => {
        const result = results[i];
        if (result !== undefined && result.length === 3) job.resolve({ certPem: result[0], keyPem: result[1], serialHex: result[2] });
        else job.reject(new Error(`SVID issuance failed: ${result?.[0] ?? 'no result from the worker'}`));
      });
      this.pump();
    });
    const fail = (reason: string): void => {
      if (w.idleTimer !== undefined) clearTimeout(w.idleTimer);
      const index = this.workers.indexOf(w);
      if (index < 0) return;
      this.workers.splice(index, 1);
      for (const job of w.inFlight.splice(0).flat()) job.reject(new Error(`SVID issuance failed: ${reason}`));
      void worker.terminate();
      this.pump();
    };
    worker.on('error', (err) => fail(`worker error: ${err.message}`));
    worker.on('exit', (code) => fail(`worker exited with code ${code}`));
    // After the listeners: adding a 'message' listener refs the worker's port again.
    worker.unref();
    return w;
  }
}

let pool: SvidWorkerPool | undefined;

/** The process's pool, with the default options: for issuers not given one by a composition root. */
export function svidWorkerPool(): SvidWorkerPool {
  pool ??= new SvidWorkerPool();
  return pool;
}

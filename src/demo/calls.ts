/** A continuous call loop and a deadline-bound wait, for the demo. */
import type * as grpc from '@grpc/grpc-js';
import { callWho } from './echo.js';

export async function waitUntil<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Calls `Who` back to back and records who answered and what failed. */
export class CallLoop {
  readonly answers: string[] = [];
  readonly failures: string[] = [];
  private running = false;
  private done: Promise<void> = Promise.resolve();

  constructor(private readonly client: grpc.Client) {}

  start(): void {
    this.running = true;
    this.done = (async () => {
      while (this.running) {
        try {
          this.answers.push((await callWho(this.client)).server);
        } catch (err) {
          this.failures.push((err as Error).message);
          // A failing call can complete without ever yielding to timers; let them run.
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  total(): number {
    return this.answers.length;
  }

  countSince(mark: number, server: string): number {
    return this.answers.slice(mark).filter((s) => s === server).length;
  }

  countIn(mark: number, n: number, server: string): number {
    return this.answers.slice(mark, mark + n).filter((s) => s === server).length;
  }

  lastAllFrom(n: number, server: string): boolean {
    return this.answers.length >= n && this.answers.slice(-n).every((s) => s === server);
  }
}

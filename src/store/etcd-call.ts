/**
 * How the etcd store runs one call: failures become one-line errors naming the store, so an
 * operator sees at once which store failed and why, and "unreachable" is remembered for /readyz.
 */
import { StoreConflictError, StoreUnavailableError } from './store.js';

export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]?.trim() ?? '';
}

/** Errors meaning "cannot reach etcd right now" rather than "etcd refused this". */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return ['GRPCUnavailableError', 'GRPCDeadlineExceededError', 'BrokenCircuitError', 'GRPCCancelledError', 'ClientClosedError', 'TaskCancelledError'].includes(err.constructor.name) || /unavailable|deadline|ECONNREFUSED|No connection established/i.test(err.message);
}

export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs etcd calls for a store named `name`, remembering whether the last one found etcd unreachable. */
export class EtcdCalls {
  /** Why the last call could not reach etcd; undefined once one succeeds. */
  down: string | undefined;

  constructor(readonly name: string) {}

  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      this.down = undefined;
      return result;
    } catch (err) {
      if (err instanceof StoreConflictError) throw err;
      if (isUnavailable(err)) {
        this.down = oneLine(err);
        const advice = /^(reading blob|listing)/.test(what) ? 'check that etcd is running and reachable with the --store-* TLS files' : 'nothing was written, retry when etcd is reachable';
        throw new StoreUnavailableError(`${this.name}: unavailable: ${what} failed (${oneLine(err)}); ${advice}`);
      }
      if (/too many operations in txn/i.test(oneLine(err))) {
        throw new Error(`${this.name}: ${what} failed: the batch is larger than etcd's --max-txn-ops; raise it on etcd (e.g. --max-txn-ops 10000) or apply in smaller batches`);
      }
      if (/request is too large/i.test(oneLine(err))) {
        throw new Error(`${this.name}: ${what} failed: the batch is larger than etcd's --max-request-bytes; raise it on etcd or apply in smaller batches`);
      }
      throw new Error(`${this.name}: ${what} failed: ${oneLine(err)}`);
    }
  }
}

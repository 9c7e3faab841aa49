/**
 * Backoff between attempts of a read-modify-write that lost a compare-and-swap race (SPEC §5:
 * concurrent `route update` through several replicas all land). The model is kubectl's
 * `retry.RetryOnConflict`: re-read and retry at once-ish, with a small first delay and jitter so
 * racing writers spread out; here the delay also grows (doubling, "full jitter": a uniform draw
 * below the cap of the step, https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/),
 * because dozens of writers may race for one key, where kubectl expects a few controllers.
 */

export interface ConflictBackoffOptions {
  /** The cap of the first step's draw. Default 10 ms (kubectl's DefaultRetry.Duration). */
  readonly initialMs?: number;
  /** The largest cap. Default 1000 ms. */
  readonly maxMs?: number;
  /** Uniform in [0, 1). */
  readonly random?: () => number;
}

/** The delay before attempt `attempt + 1`, after `attempt` (1-based) attempts lost their race. */
export function conflictBackoffMs(attempt: number, options: ConflictBackoffOptions = {}): number {
  const initial = options.initialMs ?? 10;
  const max = options.maxMs ?? 1000;
  const cap = Math.min(max, initial * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.floor((options.random ?? Math.random)() * cap);
}

/** Attempts of one read-modify-write before it gives up and says so. */
export const CONFLICT_ATTEMPTS = 30;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

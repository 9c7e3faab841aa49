/**
 * A stream's refused secret requests, logged without letting the stream write unbounded logs.
 *
 * A secret that is not in this proxy's snapshot is never looked up anywhere else: the snapshot
 * was generated for this proxy's identity alone, so asking for another proxy's identity, a
 * route's server key or a CA key yields nothing, and the refusal is logged (SPEC §2). It is
 * logged once per name and stream, as one line per push with a count and a few sample names (a
 * request for 100k unknown secrets once wrote 100k lines), through the proxy's log budget.
 *
 * A name this stream gave the client is not a refusal: the config stopped naming it (a route's
 * certificate replaced, a CA switch) and the client, still holding a listener that names it (a
 * draining listener, for minutes), asks for it until that is gone. Make-before-break keeps
 * sending it while a held listener names it; the session passes names the client still holds
 * as held, and this remembers those it was sent and that were dropped since.
 */
import { printableExcerpt, type ProxyRef } from '../snapshot/node.js';

/** Refused names remembered per stream, so each is logged once. */
const MAX_TRACKED_REFUSALS = 1024;
/** Dropped secret names remembered per stream as once given to it; a config names a handful. */
const MAX_TRACKED_DROPPED = 4096;
/** Names quoted in a refusal log line. */
const REFUSAL_SAMPLES = 5;

export interface RefusalLog {
  /** Whether a line about this proxy may be written now (its log budget); with how many were suppressed before it. */
  allow(): number | undefined;
  warn(obj: object, msg: string): void;
}

export class SecretRefusals {
  private refused: Set<string> | undefined = undefined;
  private dropped: Set<string> | undefined = undefined;
  /** Refusals found by the push in progress, logged as one line. */
  private batch: { count: number; samples: string[]; saturated: boolean } | undefined = undefined;
  /** Set once more than MAX_TRACKED_REFUSALS names were refused: later refusals are not logged (they would repeat on every push). */
  private saturated = false;

  constructor(
    private readonly proxy: () => ProxyRef,
    private readonly log: RefusalLog,
  ) {}

  /** Secrets this stream had sent and a push dropped: never logged as refused later. */
  droppedFromClient(names: Iterable<string>): void {
    for (const name of names) {
      const dropped = (this.dropped ??= new Set());
      if (dropped.size >= MAX_TRACKED_DROPPED) return;
      dropped.add(name);
    }
  }

  /** A requested secret that the snapshot does not hold; `held`: the client holds it from this stream. */
  absent(name: string, held: boolean): void {
    if (held || this.saturated || this.dropped?.has(name) === true || this.refused?.has(name) === true) return;
    let batch = this.batch;
    if (batch === undefined) {
      const current = { count: 0, samples: [] as string[], saturated: false };
      this.batch = batch = current;
      // Every name of one push is selected synchronously: the batch is complete when this runs.
      queueMicrotask(() => this.flush(current));
    }
    const refused = (this.refused ??= new Set());
    if (refused.size < MAX_TRACKED_REFUSALS) refused.add(name);
    else batch.saturated = true;
    batch.count++;
    if (batch.samples.length < REFUSAL_SAMPLES) batch.samples.push(printableExcerpt(name));
  }

  private flush(batch: { count: number; samples: string[]; saturated: boolean }): void {
    this.batch = undefined;
    if (batch.saturated) this.saturated = true;
    const suppressed = this.log.allow();
    if (suppressed === undefined) return;
    const { mesh, name } = this.proxy();
    const more = batch.saturated ? `; over ${MAX_TRACKED_REFUSALS} refused on this stream, further refusals on it are not logged` : '';
    this.log.warn(
      { node: name, mesh, count: batch.count, secrets: batch.samples, ...(suppressed > 0 ? { suppressed } : {}) },
      `${batch.count} secret(s) refused: not (or not yet) part of this proxy's configuration${more}`,
    );
  }
}

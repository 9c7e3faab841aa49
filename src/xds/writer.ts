/**
 * A stream's responses, written with backpressure: once `write` says the stream's buffer is full
 * (a client that stopped reading), later responses wait for 'drain', at most one per type. A newer
 * response of a type replaces the waiting one, keeping its place in the order (make-before-break
 * order is by type): the session has moved on to the newer nonce, the only one it accepts.
 *
 * The session sends at most one unacknowledged response per type, so a client that does not read
 * can hold at most that many; the writer keeps the server from queueing more into grpc-js whatever
 * the session does.
 */
export interface WritableCall {
  write(message: object): boolean;
  once(event: 'drain', listener: () => void): unknown;
}

export class ResponseWriter {
  /** Made when the stream first fills: every connected proxy has a writer, few ever wait. */
  private waiting: Map<string, object> | undefined = undefined;
  private blocked = false;

  constructor(private readonly call: WritableCall) {}

  /** Responses waiting for the stream to drain. */
  get queued(): number {
    return this.waiting?.size ?? 0;
  }

  write(typeUrl: string, message: object): void {
    if (this.blocked) {
      (this.waiting ??= new Map()).set(typeUrl, message);
      return;
    }
    this.send(message);
  }

  private send(message: object): void {
    if (this.call.write(message)) return;
    this.blocked = true;
    this.call.once('drain', () => this.drained());
  }

  private drained(): void {
    this.blocked = false;
    const waiting = this.waiting;
    if (waiting === undefined) return;
    for (const [typeUrl, message] of waiting) {
      waiting.delete(typeUrl);
      this.send(message);
      if (this.blocked) return;
    }
  }
}

/**
 * How many log lines one proxy's own input may cause: a few per window, the rest counted and
 * reported with the next line that is written. A proxy decides what its NACKs, unknown type URLs
 * and refused names say, and how often it sends them; without a budget an authenticated proxy
 * wrote tens of MiB of log in a few requests.
 */
export class LogBudget {
  private left: number;
  private windowStart: number;
  private suppressed = 0;

  constructor(
    private readonly perWindow: number,
    private readonly windowMs: number,
    now: number,
  ) {
    this.left = perWindow;
    this.windowStart = now;
  }

  /** undefined: no line now (counted). Otherwise a line may be written, and this many were suppressed before it. */
  take(now: number): number | undefined {
    if (now - this.windowStart >= this.windowMs || now < this.windowStart) {
      this.windowStart = now;
      this.left = this.perWindow;
    }
    if (this.left === 0) {
      this.suppressed++;
      return undefined;
    }
    this.left--;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    return suppressed;
  }
}

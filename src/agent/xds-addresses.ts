/**
 * The meshcp replicas an agent may talk to (`--xds-address A --xds-address B`, SPEC §5: replicas
 * are equal, any replica serves any proxy). Everything in one agent (its SDS stream and every
 * relayed app stream) uses the same current address, so they move together: when a stream to the
 * current address fails, the next address becomes current, round robin. An agent stays on an
 * address while it works; it does not go back to the first one when that one returns.
 *
 * How long to wait before the next attempt is each stream's own business (`ReconnectBackoff`):
 * a stream that was answered and then broke (a replica killed, shut down, restarted) moves to the
 * next replica at once; attempts that fail without an answer back off exponentially, so a mesh
 * whose replicas are all down is not hammered.
 */

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

/** Splits repeated and comma-separated `--xds-address` values; refuses an empty list or a malformed entry. */
export function parseXdsAddresses(values: readonly string[], flag = '--xds-address'): string[] {
  const addresses = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  if (addresses.length === 0) throw new Error(`${flag} needs at least one HOST:PORT, e.g. ${flag} meshcp-1:5678 ${flag} meshcp-2:5678`);
  for (const address of addresses) {
    if (!/^(?:\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(address)) throw new Error(`${flag} "${address}" must be HOST:PORT, e.g. 127.0.0.1:5678 (several: repeat the flag or separate with commas)`);
  }
  return [...new Set(addresses)];
}

export class XdsAddressList {
  private readonly list: readonly string[];
  private index = 0;

  constructor(
    addresses: string | readonly string[],
    private readonly onSwitch?: (from: string, to: string) => void,
  ) {
    this.list = typeof addresses === 'string' ? [addresses] : [...addresses];
    if (this.list.length === 0) throw new Error('no meshcp xDS address');
  }

  get all(): readonly string[] {
    return this.list;
  }

  current(): string {
    return this.list[this.index]!;
  }

  /**
   * The stream to `address` failed: when it is still the current address, the next one becomes
   * current (another stream may already have moved on, and then nothing changes). Returns the
   * address to use now.
   */
  failed(address: string): string {
    if (this.list.length > 1 && address === this.current()) {
      this.index = (this.index + 1) % this.list.length;
      this.onSwitch?.(address, this.current());
    }
    return this.current();
  }
}

/** Accepts what callers have: one address, several, or a list shared with other streams. */
export function addressListOf(addresses: string | readonly string[] | XdsAddressList): XdsAddressList {
  return addresses instanceof XdsAddressList ? addresses : new XdsAddressList(addresses);
}

/** One stream's reconnect delay. */
export class ReconnectBackoff {
  private delayMs: number;

  constructor(
    private readonly options: BackoffOptions,
    private readonly addressCount: number,
  ) {
    this.delayMs = options.initialMs;
  }

  /** A response arrived: the next failure starts over. */
  answered(): void {
    this.delayMs = this.options.initialMs;
  }

  /**
   * The delay before the next attempt. A stream that had been answered moves to another replica
   * at once (a killed replica must not stall its proxies); otherwise, and with one address only,
   * the delay doubles up to the maximum.
   */
  next(wasAnswered: boolean): number {
    if (wasAnswered && this.addressCount > 1) return 0;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.options.maxMs, this.delayMs * 2);
    return delay;
  }
}

/**
 * Channel options of every agent stream to meshcp: HTTP/2 keepalive pings, so a replica that went
 * silent (a cut link drops packets, it sends no reset) is noticed within about 15 s and the agent
 * moves on (SPEC §5), instead of waiting for TCP to give up after many minutes. grpc-js servers
 * (meshcp) accept pings on open streams at this rate.
 */
export const UPSTREAM_KEEPALIVE: Readonly<Record<string, number>> = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
};

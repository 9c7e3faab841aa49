/**
 * The rows the status registry (status.ts) keeps per proxy and type: times as small integers,
 * NACK fields only once a type was refused, types in a flat list (idle memory per connected
 * proxy), turned into plain TypeStatus and ProxyStatus objects when read.
 */
import type { LogBudget } from './log-budget.js';
import type { ProxyStatus, TypeStatus } from './status-types.js';

export const MAX_ERROR_LENGTH = 4096;

/**
 * NACKs whose `error_detail` shows a known limitation of a client rather than a meshcp bug, with
 * what to do about it. Matched on the client's own words (the source that prints them is cited).
 */
const NACK_HINTS: readonly { readonly pattern: RegExp; readonly hint: string }[] = [
  {
    // grpc-js-xds listener-resource-type.js: `${httpFilter.name} filter validation failed`; its
    // RBAC filter is off unless GRPC_XDS_EXPERIMENTAL_RBAC=true (environment.js).
    pattern: /envoy\.filters\.http\.rbac filter validation failed/,
    hint: 'grpc-js-xds accepts the RBAC filter of mesh mTLS listeners only with GRPC_XDS_EXPERIMENTAL_RBAC=true: set it in the application\'s environment (TrafficPermission is enforced by that filter)',
  },
  {
    // grpc-js-xds: `Unmatched …certificate_provider_instance.instance_name: NAME`.
    pattern: /Unmatched [A-Za-z._]*certificate_provider[A-Za-z._]*: /,
    hint: 'the gRPC bootstrap has no such certificate provider: write it with `meshcp bootstrap grpc --cert-dir DIR` and keep DIR current with `meshcp agent`',
  },
  {
    // Envoy (source/common/common/regex.cc): "RE2 program size of N > max program size of M set for the error level threshold".
    pattern: /RE2 program size of \d+ > max program size/,
    hint: 'Envoy\'s re2.max_program_size.error_level is below what a subject matcher needs: bootstrap Envoy with `meshcp bootstrap envoy`, which raises it, or raise it in the runtime',
  },
  {
    // Envoy: "Didn't find a registered implementation for 'NAME' with type URL: 'TYPE'".
    pattern: /Didn't find a registered implementation for/,
    hint: 'this Envoy build lacks an extension meshcp uses (e.g. the ssl matching inputs of client-certificate routes): run a current official Envoy image',
  },
];

/** The hint for a NACK's error text, or undefined when the error is not a known client limitation. */
export function nackHint(error: string | undefined): string | undefined {
  if (error === undefined) return undefined;
  return NACK_HINTS.find((h) => h.pattern.test(error))?.hint;
}

/** Whether a Dataplane or Gateway of that name exists in that mesh: only those keep a row while offline. */
export type ProxyDefined = (mesh: string, name: string) => boolean;

/**
 * A TypeStatus as the registry keeps it: the times as epoch milliseconds, turned into Dates when
 * read. Every connected proxy has four or five of these; a Date each for the last push and the
 * last ACK cost over a kilobyte per proxy.
 */
export class TypeRow implements TypeStatus {
  lastSentVersion?: string;
  lastSentNonce?: string;
  lastAckedVersion?: string;
  totalUpdates = 0;
  lastSentNames: readonly string[] = NO_NAMES;
  /** The NACK fields, which most rows never get: one slot per row until the first NACK (idle memory). */
  private nacks: NackFields | undefined = undefined;
  /**
   * The times as milliseconds since TIME_BASE_MS, undefined when none: an epoch millisecond count
   * does not fit a small integer, so V8 boxed each in a 16-byte number per row (idle memory).
   */
  private sentOffset: number | undefined = undefined;
  private ackedOffset: number | undefined = undefined;

  get nackCount(): number {
    return this.nacks?.nackCount ?? 0;
  }
  set nackCount(value: number) {
    this.nackFields().nackCount = value;
  }
  get lastError(): string | undefined {
    return this.nacks?.lastError;
  }
  set lastError(value: string | undefined) {
    this.nackFields().lastError = value;
  }
  get lastErrorHint(): string | undefined {
    return this.nacks?.lastErrorHint;
  }
  set lastErrorHint(value: string | undefined) {
    this.nackFields().lastErrorHint = value;
  }
  private nackFields(): NackFields {
    return (this.nacks ??= { nackCount: 0, lastError: undefined, lastErrorHint: undefined });
  }
  /** Epoch milliseconds of the last push; -1 when none. */
  get sentMs(): number {
    return this.sentOffset === undefined ? -1 : TIME_BASE_MS + this.sentOffset;
  }
  set sentMs(value: number) {
    this.sentOffset = value < 0 ? undefined : smallOffset(value);
  }
  /** Epoch milliseconds of the last ACK; -1 when none. */
  get ackedMs(): number {
    return this.ackedOffset === undefined ? -1 : TIME_BASE_MS + this.ackedOffset;
  }
  set ackedMs(value: number) {
    this.ackedOffset = value < 0 ? undefined : smallOffset(value);
  }
  get lastSentAt(): Date | undefined {
    return this.sentOffset === undefined ? undefined : new Date(this.sentMs);
  }
  set lastSentAt(value: Date | undefined) {
    this.sentMs = value === undefined ? -1 : value.getTime();
  }
  get lastAckedAt(): Date | undefined {
    return this.ackedOffset === undefined ? undefined : new Date(this.ackedMs);
  }
  set lastAckedAt(value: Date | undefined) {
    this.ackedMs = value === undefined ? -1 : value.getTime();
  }
  /** As a plain object (tests and logs see the fields, not the accessors). */
  toJSON(): TypeStatus {
    const { sentOffset: _sent, ackedOffset: _acked, nacks: _nacks, ...fields } = this;
    return {
      ...fields,
      nackCount: this.nackCount,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      ...(this.lastErrorHint !== undefined ? { lastErrorHint: this.lastErrorHint } : {}),
      ...(this.sentOffset !== undefined ? { lastSentAt: this.lastSentAt } : {}),
      ...(this.ackedOffset !== undefined ? { lastAckedAt: this.lastAckedAt } : {}),
    };
  }
}

interface NackFields {
  nackCount: number;
  lastError: string | undefined;
  lastErrorHint: string | undefined;
}

/**
 * A proxy's rows by type URL, as a Map: the four or five entries in one exact-size array of
 * [typeUrl, row] pairs rather than a hash table (a Map of five entries grows a table of eight or
 * more slots; every connected proxy has one: idle memory). Insertion order, as a Map.
 */
class TypeRows implements Map<string, TypeStatus> {
  private entriesList: (string | TypeStatus)[] = [];

  get size(): number {
    return this.entriesList.length / 2;
  }

  get [Symbol.toStringTag](): string {
    return 'Map';
  }

  private indexOf(key: string): number {
    const list = this.entriesList;
    for (let i = 0; i < list.length; i += 2) if (list[i] === key) return i;
    return -1;
  }

  get(key: string): TypeStatus | undefined {
    const i = this.indexOf(key);
    return i < 0 ? undefined : (this.entriesList[i + 1] as TypeStatus);
  }

  has(key: string): boolean {
    return this.indexOf(key) >= 0;
  }

  set(key: string, value: TypeStatus): this {
    const i = this.indexOf(key);
    // A copy of exact size: a type is added a few times per proxy lifetime, and a grown array keeps spare slots.
    if (i < 0) {
      const list = this.entriesList;
      const grown = new Array<string | TypeStatus>(list.length + 2);
      for (let j = 0; j < list.length; j++) grown[j] = list[j]!;
      grown[list.length] = key;
      grown[list.length + 1] = value;
      this.entriesList = grown;
    } else this.entriesList[i + 1] = value;
    return this;
  }

  delete(key: string): boolean {
    const i = this.indexOf(key);
    if (i < 0) return false;
    this.entriesList = this.entriesList.filter((_, j) => j !== i && j !== i + 1);
    return true;
  }

  clear(): void {
    this.entriesList = [];
  }

  forEach(callback: (value: TypeStatus, key: string, map: Map<string, TypeStatus>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }

  *entries(): MapIterator<[string, TypeStatus]> {
    const list = this.entriesList;
    for (let i = 0; i < list.length; i += 2) yield [list[i] as string, list[i + 1] as TypeStatus];
  }

  *keys(): MapIterator<string> {
    const list = this.entriesList;
    for (let i = 0; i < list.length; i += 2) yield list[i] as string;
  }

  *values(): MapIterator<TypeStatus> {
    const list = this.entriesList;
    for (let i = 0; i < list.length; i += 2) yield list[i + 1] as TypeStatus;
  }

  [Symbol.iterator](): MapIterator<[string, TypeStatus]> {
    return this.entries();
  }
}

/**
 * A ProxyStatus as the registry keeps it: the connection times as milliseconds since TIME_BASE_MS
 * (small integers), turned into Dates when read; a Date per connected proxy cost about 100 bytes
 * (idle memory).
 */
export class ProxyRow implements ProxyStatus {
  activeStreams = 0;
  readonly types: Map<string, TypeStatus> = new TypeRows();
  /** Log lines this proxy's input may cause (StatusRegistry.allowLog), once it caused one. */
  logBudget: LogBudget | undefined = undefined;
  private connectedOffset: number | undefined = undefined;
  private lastConnectedOffset: number | undefined = undefined;
  private lastDisconnectedOffset: number | undefined = undefined;

  constructor(
    readonly nodeId: string,
    readonly mesh: string,
    public flavor: string,
  ) {}

  get connectedSince(): Date | undefined {
    return dateAt(this.connectedOffset);
  }
  set connectedSince(value: Date | undefined) {
    this.connectedOffset = offsetOf(value);
  }
  get lastConnectedAt(): Date | undefined {
    return dateAt(this.lastConnectedOffset);
  }
  set lastConnectedAt(value: Date | undefined) {
    this.lastConnectedOffset = offsetOf(value);
  }
  get lastDisconnectedAt(): Date | undefined {
    return dateAt(this.lastDisconnectedOffset);
  }
  set lastDisconnectedAt(value: Date | undefined) {
    this.lastDisconnectedOffset = offsetOf(value);
  }

  /** As a plain object (tests and logs see the fields, not the accessors). */
  toJSON(): ProxyStatus {
    return {
      nodeId: this.nodeId,
      mesh: this.mesh,
      flavor: this.flavor,
      activeStreams: this.activeStreams,
      ...(this.connectedOffset !== undefined ? { connectedSince: this.connectedSince } : {}),
      ...(this.lastConnectedOffset !== undefined ? { lastConnectedAt: this.lastConnectedAt } : {}),
      ...(this.lastDisconnectedOffset !== undefined ? { lastDisconnectedAt: this.lastDisconnectedAt } : {}),
      types: this.types,
    };
  }
}

function offsetOf(date: Date | undefined): number | undefined {
  return date === undefined ? undefined : smallOffset(date.getTime());
}

function dateAt(offset: number | undefined): Date | undefined {
  return offset === undefined ? undefined : new Date(TIME_BASE_MS + offset);
}

/** The origin of TypeRow times: this process's start, so the offsets of its lifetime are small integers. */
const TIME_BASE_MS = Date.now();

/**
 * `ms` - TIME_BASE_MS, as a small integer when it is one: the difference of two doubles may be
 * kept as a boxed number even when integral, `| 0` makes V8 store it in the field itself.
 */
function smallOffset(ms: number): number {
  const offset = ms - TIME_BASE_MS;
  return offset === (offset | 0) ? offset | 0 : offset;
}
const NO_NAMES: readonly string[] = Object.freeze([]);

/** A proxy's status row of one type (StatusRegistry.typeRowOf), which an open stream keeps and hands back. */
export type StatusTypeRow = TypeRow;

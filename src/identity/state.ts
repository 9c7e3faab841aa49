/**
 * The identity manager's mutable state (manager.ts), shared by the CA switch (ca-switch.ts):
 * per mesh, its issuing CA and any switch in progress; per connected proxy, its identity.
 */
import type { MtlsBackend } from '../api/types.js';
import type { DependencyKey } from '../change/keys.js';
import type { IssuedIdentity, MeshCa } from '../ca/providers/types.js';

export interface MeshState {
  readonly name: string;
  /** The enabled backend, undefined when mTLS is disabled. */
  backend?: MtlsBackend;
  /** The issuing CA and its material key. */
  ca?: MeshCa;
  caKey?: string;
  /** Material key of a CA being initialized. */
  initializing?: string;
  caError?: string;
  /** Step 1 of a switch: the new CA, trusted but not issuing yet. */
  pending?: PendingSwitch;
  /** Previous CAs still trusted during a switch. */
  retiring: MeshCa[];
  /** A settle delay running before the next switch step (see `settleMs`). */
  settling?: () => void;
  /** The trust bundle last built, and the CAs (issuing, pending, retiring, in order) it was built from. */
  bundle?: { readonly cas: readonly MeshCa[]; readonly pem: string };
}

export interface PendingSwitch {
  readonly ca: MeshCa;
  readonly key: string;
  /** When the grown bundle was published. */
  readonly since: Date;
  readonly cancelTimeout: () => void;
}

/** Told each new version of a proxy's material (an rxjs Subscriber is one: it takes the version alone). */
export interface VersionListener {
  /**
   * `keys`: the identity events this version stands for, as dependency keys (identity-keys.ts):
   * `Certificate/<mesh>/<proxy>` for the proxy's own certificate, the mesh's `TrustBundle`,
   * `CaPhase` and `ServerCertificate` keys for a change of the whole mesh. Undefined for the
   * current version told to a new listener, which is no change but the state to start from.
   */
  next(version: number, keys?: readonly DependencyKey[]): void;
  /** A subscriber that unsubscribed while being told. */
  readonly closed?: boolean;
}

export interface ProxyState {
  readonly mesh: string;
  readonly name: string;
  subscribers: number;
  /** -1 until the first config may be generated; every publish adds one. */
  version: number;
  /**
   * The `watch` subscribers, told every new version (a plain list rather than a BehaviorSubject
   * and a filter per proxy: per-proxy memory). The usual lone subscriber is kept as is,
   * without a one-element array.
   */
  watchers: VersionListener | VersionListener[];
  ready: boolean;
  /** Undefined when the proxy gets no identity. */
  spiffeIds?: readonly string[] | undefined;
  identity?: IssuedIdentity | undefined;
  /** When the current identity was handed to the runtime (for MaterialDelivery), as {@link msOffset} gives it. */
  identityPublishedAt?: number | undefined;
  issueSeq: number;
  issuing: boolean;
  cancelTimer?: (() => void) | undefined;
}

export interface MutableStatus {
  mesh: string;
  name: string;
  connected: boolean;
  spiffeIds: readonly string[];
  backend?: string | undefined;
  serialHex?: string | undefined;
  regeneratedAt?: Date | undefined;
  expiration?: Date | undefined;
  /** As {@link msOffset} gives it (a small integer per proxy rather than a Date object or a boxed number). */
  nextRotationAt?: number | undefined;
  regenerations: number;
  lastError?: string | undefined;
}

/** The origin of the times kept per proxy: this process's start. */
const TIME_BASE_MS = Date.now();

/**
 * Epoch milliseconds as kept per proxy: relative to the process start, so that the times of its
 * lifetime are small integers, which V8 stores in the field itself (an epoch millisecond count is
 * a boxed 16-byte number per field: per-proxy memory). {@link msAt} turns it back.
 */
export function msOffset(epochMs: number): number {
  const offset = epochMs - TIME_BASE_MS;
  return offset === (offset | 0) ? offset | 0 : offset;
}

/** The epoch milliseconds of an {@link msOffset}. */
export function msAt(offset: number): number {
  return TIME_BASE_MS + offset;
}

export function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]));
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

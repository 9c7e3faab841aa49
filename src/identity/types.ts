/** The identity module's public shapes, shared by the manager, the runtime and the admin API. */
import { Observable } from 'rxjs';

export interface IdentityLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Whether a proxy has received material published at or after `since` (and ACKed it, where that can be seen). */
export interface MaterialDelivery {
  delivered(mesh: string, proxyName: string, since: Date): boolean;
  /** Ticks when deliveries may have progressed (e.g. on every ACK). */
  readonly changes: Observable<unknown>;
}

/** Without a way to observe deliveries, publishing is delivering. */
export const IMMEDIATE_DELIVERY: MaterialDelivery = { delivered: () => true, changes: new Observable<never>() };

export interface ProxyRef {
  readonly mesh: string;
  readonly name: string;
}

/** What `inspect` shows about a proxy's certificate (Kuma's CERT REGENERATED AGO / EXPIRATION / REGENERATIONS). */
export interface IdentityStatus {
  readonly mesh: string;
  readonly name: string;
  readonly connected: boolean;
  readonly spiffeIds: readonly string[];
  readonly backend?: string;
  readonly serialHex?: string;
  readonly regeneratedAt?: Date;
  readonly expiration?: Date;
  readonly nextRotationAt?: Date;
  /** Certificates issued to this proxy since the control plane started. */
  readonly regenerations: number;
  readonly lastError?: string;
}

/** A mesh CA as the admin API shows it (identity manager `caState`). */
export interface CaAbout {
  readonly backend: string;
  readonly type: string;
  readonly notAfter: Date;
}

export interface MeshCaState {
  readonly enabledBackend?: string;
  readonly issuing?: CaAbout;
  /** Switch step 1: the new CA is in the trust bundle but does not issue yet. */
  readonly pending?: CaAbout & { readonly since: Date };
  /** Switch step 2: CAs no longer issuing but still trusted until every proxy holds a new certificate. */
  readonly retiring: readonly CaAbout[];
  readonly initializing: boolean;
  readonly error?: string;
}

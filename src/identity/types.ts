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

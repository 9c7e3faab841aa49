/**
 * Whether each Dataplane's proxy is online, for the health of its endpoints: a Dataplane whose
 * proxy has had no stream open, on this replica or any other (the shared status in etcd), for the
 * grace period is offline, and its endpoints are reported UNHEALTHY until its proxy connects
 * again, as Kuma reports an offline dataplane's endpoints. The grace covers a proxy that is moving
 * to another replica or restarting, and the control plane's own start: nothing is connected yet
 * when it starts, so nobody is offline before the grace has passed since then.
 */
import { Subject, type Observable, type Subscription } from 'rxjs';
import type { StatusRegistry } from '../xds/status.js';

export interface LivenessChange {
  readonly mesh: string;
  readonly name: string;
  readonly offline: boolean;
}

/** Proxies connected to other replicas (runtime/replica-status.ts), and when that view changes. */
export interface RemoteProxies {
  online(mesh: string, name: string): boolean;
  readonly changes: Observable<void>;
}

export interface LivenessOptions {
  readonly status: StatusRegistry;
  /** How long a defined proxy may have no stream before it is offline. */
  readonly graceMs: number;
  /** Tests: the timer. */
  readonly setTimer?: (run: () => void, ms: number) => { unref?(): void };
  readonly clearTimer?: (timer: { unref?(): void }) => void;
}

type Timer = { unref?(): void };

export class DataplaneLiveness {
  private readonly offlineByMesh = new Map<string, Set<string>>();
  private readonly defined = new Map<string, Set<string>>();
  private readonly timers = new Map<string, Timer>();
  private readonly subject = new Subject<LivenessChange>();
  private readonly subscriptions: Subscription[] = [];
  private remote: RemoteProxies | undefined;
  private readonly setTimer: (run: () => void, ms: number) => Timer;
  private readonly clearTimer: (timer: Timer) => void;
  readonly changes: Observable<LivenessChange> = this.subject.asObservable();

  constructor(private readonly options: LivenessOptions) {
    this.setTimer = options.setTimer ?? ((run, ms) => setTimeout(run, ms));
    this.clearTimer = options.clearTimer ?? ((timer) => clearTimeout(timer as NodeJS.Timeout));
    this.subscriptions.push(
      options.status.events.subscribe((event) => {
        if (event.kind === 'connect') this.markOnline(event.mesh, event.nodeId);
        else if (event.kind === 'disconnect' && !this.isOnline(event.mesh, event.nodeId)) this.schedule(event.mesh, event.nodeId);
      }),
    );
  }

  /** Whether the Dataplane `name` of `mesh` is offline now (the translator's predicate). */
  readonly isOffline = (mesh: string, name: string): boolean => this.offlineByMesh.get(mesh)?.has(name) ?? false;

  /** The proxies the config defines now: a new one gets the grace to connect, a removed one is forgotten. */
  define(mesh: string, name: string, defined: boolean): void {
    let names = this.defined.get(mesh);
    if (defined) {
      if (!names) this.defined.set(mesh, (names = new Set()));
      if (names.has(name)) return;
      names.add(name);
      if (!this.isOnline(mesh, name)) this.schedule(mesh, name);
      return;
    }
    names?.delete(name);
    this.cancel(mesh, name);
    this.offlineByMesh.get(mesh)?.delete(name);
  }

  /** Proxies held by other replicas count as online (called once the shared status exists). */
  attachRemote(remote: RemoteProxies): void {
    this.remote = remote;
    this.subscriptions.push(
      remote.changes.subscribe(() => {
        for (const [mesh, names] of this.defined) {
          for (const name of names) {
            if (this.isOnline(mesh, name)) this.markOnline(mesh, name);
            else if (!this.isOffline(mesh, name)) this.schedule(mesh, name);
          }
        }
      }),
    );
  }

  close(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    for (const timer of this.timers.values()) this.clearTimer(timer);
    this.timers.clear();
    this.subject.complete();
  }

  private isOnline(mesh: string, name: string): boolean {
    return (this.options.status.get(name, mesh)?.activeStreams ?? 0) > 0 || (this.remote?.online(mesh, name) ?? false);
  }

  private schedule(mesh: string, name: string): void {
    const key = `${mesh}\u0000${name}`;
    if (this.timers.has(key)) return;
    const timer = this.setTimer(() => {
      this.timers.delete(key);
      if (!this.defined.get(mesh)?.has(name) || this.isOnline(mesh, name) || this.isOffline(mesh, name)) return;
      let names = this.offlineByMesh.get(mesh);
      if (!names) this.offlineByMesh.set(mesh, (names = new Set()));
      names.add(name);
      this.subject.next({ mesh, name, offline: true });
    }, this.options.graceMs);
    timer.unref?.();
    this.timers.set(key, timer);
  }

  private cancel(mesh: string, name: string): void {
    const key = `${mesh}\u0000${name}`;
    const timer = this.timers.get(key);
    if (timer) this.clearTimer(timer);
    this.timers.delete(key);
  }

  private markOnline(mesh: string, name: string): void {
    this.cancel(mesh, name);
    if (this.offlineByMesh.get(mesh)?.delete(name)) this.subject.next({ mesh, name, offline: false });
  }
}

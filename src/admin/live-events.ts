/**
 * `GET /api/events`: the web GUI's live feed, as server-sent events
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html).
 *
 * Every push, ACK and NACK of every proxy passes through the status registry: at 5,000 proxies a
 * mesh-wide change is tens of thousands of events. The feed never forwards them one by one. It
 * folds them into one batch (counts per kind, the proxies touched, the notable events: connects,
 * disconnects, NACKs, new certificates, resource changes) and sends at most one batch per
 * `intervalMs` to each client, each batch bounded in size. A client that stops reading is dropped
 * once its unsent output passes a bound, and the number of clients is bounded, so the feed's memory
 * does not grow with the event rate or with slow readers. The GUI re-reads the views a batch
 * touches; the batch itself is only a hint.
 */
import type http from 'node:http';
import type { Observable, Subscription } from 'rxjs';
import { SECRET_TYPE, TYPE_SHORT_NAMES } from '../snapshot/types.js';
import type { StatusEvent } from '../xds/status.js';

export interface LiveSources {
  readonly status: Observable<StatusEvent>;
  /** Ticks when the served resources change. */
  readonly resources: Observable<unknown>;
  /** The workload certificate a proxy holds now (identity manager `getStatus`). */
  readonly certificate: (mesh: string, name: string) => { readonly serialHex?: string; readonly regenerations: number } | undefined;
}

export interface LiveFeedOptions {
  /** The least time between two batches to a client. */
  readonly intervalMs?: number;
  readonly maxClients?: number;
  /** A comment line keeps idle connections (and proxies in between) open. */
  readonly heartbeatMs?: number;
  /** A client whose unsent output passes this many bytes is disconnected. */
  readonly maxBufferedBytes?: number;
  readonly now?: () => Date;
}

export type LiveEventKind = 'connect' | 'disconnect' | 'nack' | 'certificate' | 'resources';

export interface LiveEvent {
  readonly kind: LiveEventKind;
  readonly at: string;
  readonly mesh?: string;
  readonly proxy?: string;
  /** LDS, RDS, CDS, EDS, SDS (a NACK). */
  readonly type?: string;
  readonly error?: string;
  readonly serial?: string;
  /** The serial the proxy held before: a rotation (or a re-issue) rather than a first certificate. */
  readonly previousSerial?: string;
  readonly regenerations?: number;
}

export interface LiveBatch {
  readonly seq: number;
  readonly at: string;
  readonly counts: Readonly<Record<'connect' | 'disconnect' | 'sent' | 'ack' | 'nack' | 'certificate', number>>;
  /** `mesh/name` of the proxies the batch touched, at most MAX_PROXIES. */
  readonly proxies: readonly string[];
  readonly proxiesTruncated: boolean;
  readonly resources: boolean;
  /** The notable events, oldest first, at most MAX_EVENTS; `eventsDropped` counts the rest. */
  readonly events: readonly LiveEvent[];
  readonly eventsDropped: number;
}

const MAX_PROXIES = 100;
const MAX_EVENTS = 20;
const MAX_ERROR_CHARS = 500;

interface Pending {
  counts: Record<keyof LiveBatch['counts'], number>;
  proxies: Set<string>;
  truncated: boolean;
  resources: boolean;
  events: LiveEvent[];
  dropped: number;
}

function emptyPending(): Pending {
  return { counts: { connect: 0, disconnect: 0, sent: 0, ack: 0, nack: 0, certificate: 0 }, proxies: new Set(), truncated: false, resources: false, events: [], dropped: 0 };
}

export class LiveFeed {
  private readonly clients = new Set<http.ServerResponse>();
  private readonly subscriptions: Subscription[];
  private readonly intervalMs: number;
  private readonly maxClients: number;
  private readonly maxBufferedBytes: number;
  private readonly now: () => Date;
  /** The serial each connected proxy was last seen with (dropped when it disconnects). */
  private readonly serials = new Map<string, string>();
  private pending: Pending | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private lastFlushMs = 0;
  private seq = 0;
  /** Batches written, summed over clients. */
  batchesSent = 0;

  constructor(
    private readonly sources: LiveSources,
    options: LiveFeedOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 500;
    this.maxClients = options.maxClients ?? 16;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.now = options.now ?? (() => new Date());
    this.subscriptions = [sources.status.subscribe((e) => this.onStatus(e)), sources.resources.subscribe(() => this.onResources())];
    this.heartbeat = setInterval(() => this.writeAll(': keep-alive\n\n'), options.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Takes over `res` as an event stream; false (nothing written) when the client limit is reached. */
  attach(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    if (this.clients.size >= this.maxClients) return false;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
    });
    // The browser reconnects by itself; after a reconnect the GUI re-reads every view it shows.
    res.write(`retry: 2000\nevent: hello\ndata: ${JSON.stringify({ at: this.now().toISOString(), intervalMs: this.intervalMs })}\n\n`);
    this.clients.add(res);
    const drop = (): void => {
      this.clients.delete(res);
    };
    req.once('close', drop);
    res.once('close', drop);
    return true;
  }

  close(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    clearInterval(this.heartbeat);
    if (this.timer) clearTimeout(this.timer);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private batch(): Pending | undefined {
    if (this.clients.size === 0) return undefined;
    if (!this.pending) {
      this.pending = emptyPending();
      const wait = Math.max(0, this.lastFlushMs + this.intervalMs - Date.now());
      this.timer = setTimeout(() => this.flush(), wait);
      this.timer.unref();
    }
    return this.pending;
  }

  private note(p: Pending, event: Omit<LiveEvent, 'at'>): void {
    if (p.events.length >= MAX_EVENTS) p.dropped++;
    else p.events.push({ ...event, at: this.now().toISOString() });
  }

  private onStatus(e: StatusEvent): void {
    const key = `${e.mesh}/${e.nodeId}`;
    if (e.kind === 'disconnect') this.serials.delete(key);
    // A certificate reaches a proxy over SDS (pushes are rare: connects, rotations, CA switches);
    // serials are followed with or without clients, so a client's first batch is not a false "new".
    const certificate = e.kind === 'sent' && e.typeUrl === SECRET_TYPE ? this.newCertificate(key, e.mesh, e.nodeId) : undefined;
    const p = this.batch();
    if (!p) return;
    p.counts[e.kind]++;
    if (p.proxies.size < MAX_PROXIES) p.proxies.add(key);
    else if (!p.proxies.has(key)) p.truncated = true;
    if (e.kind === 'connect' || e.kind === 'disconnect') this.note(p, { kind: e.kind, mesh: e.mesh, proxy: e.nodeId });
    else if (e.kind === 'nack') {
      const error = e.error.length > MAX_ERROR_CHARS ? `${e.error.slice(0, MAX_ERROR_CHARS)}…` : e.error;
      this.note(p, { kind: 'nack', mesh: e.mesh, proxy: e.nodeId, type: TYPE_SHORT_NAMES[e.typeUrl] ?? e.typeUrl, error });
    }
    if (certificate) {
      p.counts.certificate++;
      this.note(p, certificate);
    }
  }

  private newCertificate(key: string, mesh: string, name: string): Omit<LiveEvent, 'at'> | undefined {
    const cert = this.sources.certificate(mesh, name);
    const serial = cert?.serialHex;
    const previous = this.serials.get(key);
    if (serial === undefined || previous === serial) return undefined;
    this.serials.set(key, serial);
    return { kind: 'certificate', mesh, proxy: name, serial, ...(previous !== undefined ? { previousSerial: previous } : {}), regenerations: cert?.regenerations ?? 0 };
  }

  private onResources(): void {
    const p = this.batch();
    if (!p || p.resources) return;
    p.resources = true;
    this.note(p, { kind: 'resources' });
  }

  private flush(): void {
    const p = this.pending;
    this.pending = undefined;
    this.timer = undefined;
    if (!p || this.clients.size === 0) return;
    this.lastFlushMs = Date.now();
    const batch: LiveBatch = {
      seq: ++this.seq,
      at: this.now().toISOString(),
      counts: p.counts,
      proxies: [...p.proxies],
      proxiesTruncated: p.truncated,
      resources: p.resources,
      events: p.events,
      eventsDropped: p.dropped,
    };
    this.batchesSent += this.writeAll(`event: update\nid: ${batch.seq}\ndata: ${JSON.stringify(batch)}\n\n`);
  }

  private writeAll(text: string): number {
    let written = 0;
    for (const res of this.clients) {
      if (res.writableLength > this.maxBufferedBytes) {
        this.clients.delete(res);
        res.destroy();
        continue;
      }
      res.write(text);
      written++;
    }
    return written;
  }
}

/**
 * The live feed (`GET /api/events`, server-sent events): batches of status changes, at most one
 * per interval the server chooses. The browser's EventSource reconnects by itself; after a
 * reconnect every view reads itself again, since batches sent meanwhile were missed.
 */
import type { LiveBatch, LiveEvent } from './api.js';

export type LiveState = 'connecting' | 'live' | 'reconnecting';

/** What a view is told: a batch, or `everything` after a (re)connect. */
export type LiveSignal = { readonly kind: 'batch'; readonly batch: LiveBatch } | { readonly kind: 'everything' };

const MAX_LOG = 100;

export class LiveConnection {
  state: LiveState = 'connecting';
  /** The notable events seen, newest first. */
  log: LiveEvent[] = [];
  private source: EventSource | undefined;
  private readonly listeners = new Set<(signal: LiveSignal) => void>();
  private readonly stateListeners = new Set<() => void>();
  private connectedOnce = false;

  start(): void {
    const source = new EventSource('/api/events');
    this.source = source;
    source.addEventListener('hello', () => {
      this.setState('live');
      if (this.connectedOnce) this.emit({ kind: 'everything' });
      this.connectedOnce = true;
    });
    source.addEventListener('update', (e) => {
      const batch = JSON.parse((e as MessageEvent<string>).data) as LiveBatch;
      if (batch.events.length > 0) this.log = [...[...batch.events].reverse(), ...this.log].slice(0, MAX_LOG);
      this.emit({ kind: 'batch', batch });
    });
    source.addEventListener('error', () => {
      // CLOSED: the server refused the stream (e.g. 503, too many clients); retry later ourselves.
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        window.setTimeout(() => this.start(), 5000);
      }
      this.setState('reconnecting');
      // The views read themselves again: they then show the server unreachable, or catch up.
      this.emit({ kind: 'everything' });
    });
  }

  subscribe(listener: (signal: LiveSignal) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onState(listener: () => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  stop(): void {
    this.source?.close();
  }

  private setState(state: LiveState): void {
    if (this.state === state) return;
    this.state = state;
    for (const l of this.stateListeners) l();
  }

  private emit(signal: LiveSignal): void {
    for (const l of this.listeners) l(signal);
    for (const l of this.stateListeners) l();
  }
}

/** Whether a batch touches the proxy `mesh/name` (or may have: the list is capped). */
export function touchesProxy(signal: LiveSignal, mesh: string, name: string): boolean {
  if (signal.kind === 'everything') return true;
  const b = signal.batch;
  return b.resources || b.proxiesTruncated || b.proxies.includes(`${mesh}/${name}`);
}

/** Whether a batch changes what is connected or refused (counts, states). */
export function touchesStatus(signal: LiveSignal): boolean {
  if (signal.kind === 'everything') return true;
  const { counts, resources } = signal.batch;
  return resources || counts.connect + counts.disconnect + counts.nack + counts.certificate + counts.ack + counts.sent > 0;
}

export function touchesResources(signal: LiveSignal): boolean {
  return signal.kind === 'everything' || signal.batch.resources;
}

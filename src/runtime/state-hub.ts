/** The model states, and how they reach every connected proxy's generation (proxy-configs.ts). */
import type { Observable, Subscription } from 'rxjs';
import type { GenerateContext } from '../generate/generate.js';
import type { ModelRevision } from '../translate/incremental.js';

/** What every proxy's generation reads: the model revision and the generation context built with it. */
export interface ResourceState {
  readonly revision: ModelRevision;
  readonly context: GenerateContext;
}

/**
 * The model states, fanned out to every connected proxy by a plain loop: one subscription to the
 * states for the whole fleet instead of one rxjs subscriber chain per proxy (each costs memory
 * per connected proxy and a few calls per proxy per change; a profiled hot path).
 */
export class StateHub {
  private current?: ResourceState;
  private failure?: { error: unknown };
  private readonly listeners = new Set<StateListener>();
  private readonly subscription: Subscription;

  constructor(states: Observable<ResourceState>) {
    this.subscription = states.subscribe({
      next: (state) => {
        this.current = state;
        // Listeners that join while this runs get the state when they join.
        for (const listener of [...this.listeners]) if (this.listeners.has(listener)) listener.next(state);
      },
      error: (error: unknown) => {
        this.failure = { error };
        for (const listener of [...this.listeners]) listener.error(error);
        this.listeners.clear();
      },
    });
  }

  /** Listens from now on; the current state, if any, is delivered at once. Returns the way to stop. */
  listen(listener: StateListener): () => void {
    if (this.failure) {
      listener.error(this.failure.error);
      return () => undefined;
    }
    this.listeners.add(listener);
    if (this.current !== undefined) listener.next(this.current);
    return () => void this.listeners.delete(listener);
  }

  /** Proxies listening, for tests. */
  get size(): number {
    return this.listeners.size;
  }

  close(): void {
    this.subscription.unsubscribe();
    this.listeners.clear();
  }
}

export interface StateListener {
  next(state: ResourceState): void;
  error(error: unknown): void;
}

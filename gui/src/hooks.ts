/** Views that read themselves from the admin API and again when the live feed says they changed. */
import { createContext } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, getJson, type ApiError } from './api.js';
import type { LiveConnection, LiveSignal } from './live.js';

export interface AppContext {
  readonly live: LiveConnection;
  /** Set once a view answered: whether the admin API requires client certificates. */
  adminMtls?: boolean;
}

export const App = createContext<AppContext | undefined>(undefined);

export function useApp(): AppContext {
  const app = useContext(App);
  if (!app) throw new Error('useApp outside <App.Provider>');
  return app;
}

export interface ViewState<T> {
  readonly data?: T;
  readonly error?: ApiError;
  /** When `data` was read; with an `error` it is the last good answer. */
  readonly readAt?: Date;
  readonly loading: boolean;
}

/**
 * Reads `path` (GET), and again whenever `changed` says a live signal touches it, at most once per
 * `minIntervalMs`: a burst of batches is one read, and a read in flight is followed by one more at
 * most. The last good data stays on screen while a read fails.
 */
export function useView<T>(path: string | undefined, changed: (signal: LiveSignal) => boolean, minIntervalMs = 1000): ViewState<T> {
  const { live } = useApp();
  const [state, setState] = useState<ViewState<T>>({ loading: path !== undefined });
  const changedRef = useRef(changed);
  changedRef.current = changed;
  useEffect(() => {
    if (path === undefined) return undefined;
    let cancelled = false;
    let inFlight = false;
    let again = false;
    let lastRead = 0;
    let timer: number | undefined;
    const read = async (): Promise<void> => {
      if (inFlight) {
        again = true;
        return;
      }
      inFlight = true;
      lastRead = Date.now();
      try {
        const data = await getJson<T>(path);
        if (!cancelled) setState({ data, readAt: new Date(), loading: false });
      } catch (err) {
        const error: ApiError = err instanceof ApiFailure ? err.error : { kind: 'unreachable', message: String(err) };
        if (!cancelled) setState((s) => ({ ...s, error, loading: false }));
      } finally {
        inFlight = false;
        if (again && !cancelled) {
          again = false;
          schedule();
        }
      }
    };
    const schedule = (): void => {
      if (timer !== undefined) return;
      const wait = Math.max(0, lastRead + minIntervalMs - Date.now());
      timer = window.setTimeout(() => {
        timer = undefined;
        void read();
      }, wait);
    };
    setState((s) => ({ ...s, loading: true }));
    void read();
    const unsubscribe = live.subscribe((signal) => {
      if (changedRef.current(signal)) schedule();
    });
    return () => {
      cancelled = true;
      unsubscribe();
      if (timer !== undefined) window.clearTimeout(timer);
    };
  }, [path, live, minIntervalMs]);
  return state;
}

/** Re-renders every `ms`, for "ago" columns. */
export function useTick(ms: number): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const id = window.setInterval(() => setTick((t) => t + 1), ms);
    return () => window.clearInterval(id);
  }, [ms]);
  return tick;
}

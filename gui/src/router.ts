/**
 * Pages live in the URL's fragment (`#/dataplanes?mesh=default`), so every page and filter is a
 * link, the back button works, and the admin API serves one file for all of them.
 */
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  readonly path: readonly string[];
  readonly params: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const pathPart = q < 0 ? raw : raw.slice(0, q);
  const path = pathPart.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
  return { path, params: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) };
}

export function href(path: readonly string[], params: Readonly<Record<string, string | undefined>> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return `#/${path.map(encodeURIComponent).join('/')}${s === '' ? '' : `?${s}`}`;
}

/** Replaces the current entry (filters and sorting do not stack up history). */
export function replaceParams(route: Route, changes: Readonly<Record<string, string | undefined>>): void {
  const params: Record<string, string | undefined> = Object.fromEntries(route.params.entries());
  Object.assign(params, changes);
  window.history.replaceState(null, '', href(route.path, params));
  window.dispatchEvent(new HashChangeEvent('hashchange'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const onChange = (): void => setRoute(parseHash(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

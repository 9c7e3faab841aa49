/** The meshcp web GUI: a read-only view of the admin API, live through its event feed. */
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import './styles.css';
import { App, type AppContext } from './hooks.js';
import { LiveConnection } from './live.js';
import { href, useRoute, type Route } from './router.js';
import { OverviewPage } from './pages/overview.js';
import { DataplanesPage } from './pages/dataplanes.js';
import { DataplanePage } from './pages/dataplane.js';
import { ServicesPage } from './pages/services.js';
import { GatewaysPage } from './pages/gateways.js';
import { CertCheckPage } from './pages/cert-check.js';
import { SecretsPage } from './pages/secrets.js';

const PAGES: readonly { readonly path: string; readonly title: string }[] = [
  { path: '', title: 'Overview' },
  { path: 'dataplanes', title: 'Dataplanes' },
  { path: 'services', title: 'Services & permissions' },
  { path: 'gateways', title: 'Gateways & routes' },
  { path: 'cert-check', title: 'Certificate check' },
  { path: 'secrets', title: 'Secrets' },
];

function Page({ route }: { route: Route }) {
  const [first, second, third] = route.path;
  switch (first ?? '') {
    case '':
      return <OverviewPage />;
    case 'dataplanes':
      return second !== undefined && third !== undefined ? <DataplanePage mesh={second} name={third} /> : <DataplanesPage route={route} />;
    case 'services':
      return <ServicesPage route={route} />;
    case 'gateways':
      return <GatewaysPage route={route} />;
    case 'cert-check':
      return <CertCheckPage />;
    case 'secrets':
      return <SecretsPage route={route} />;
    default:
      return (
        <div class="state state-empty" role="status">
          <h1>No such page</h1>
          <p>
            <a href="#/">Go to the overview</a>
          </p>
        </div>
      );
  }
}

function LiveIndicator({ app }: { app: AppContext }) {
  const [, setVersion] = useState(0);
  useEffect(() => app.live.onState(() => setVersion((v) => v + 1)), [app]);
  const state = app.live.state;
  const text = state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting…' : 'Reconnecting…';
  return (
    <span class={`live live-${state}`} role="status" aria-live="polite" data-live-state={state}>
      <span class="dot" aria-hidden="true" />
      {text}
    </span>
  );
}

function Shell() {
  const route = useRoute();
  const app = useMemo<AppContext>(() => ({ live: new LiveConnection() }), []);
  useEffect(() => {
    app.live.start();
    return () => app.live.stop();
  }, [app]);
  const current = route.path[0] ?? '';
  const title = PAGES.find((p) => p.path === current)?.title ?? 'meshcp';
  useEffect(() => {
    document.title = `${title} · meshcp`;
    // Move focus to the page on navigation, so keyboard and screen-reader users start at its top.
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [title, route.path.join('/')]);
  return (
    <App.Provider value={app}>
      <a class="skip" href="#main" onClick={(e) => {
        e.preventDefault();
        document.getElementById('main')?.focus();
      }}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/">
          meshcp
        </a>
        <nav aria-label="Pages">
          <ul>
            {PAGES.map((p) => (
              <li key={p.path}>
                <a href={href(p.path === '' ? [] : [p.path])} aria-current={p.path === current ? 'page' : undefined}>
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <LiveIndicator app={app} />
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </App.Provider>
  );
}

const root = document.getElementById('app');
if (root) render(<Shell />, root);

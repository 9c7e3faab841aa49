/** Small pieces every page uses: badges that say their state in words, and the empty, loading and error states. */
import type { ComponentChildren } from 'preact';
import type { ApiError } from './api.js';
import { daysLeft, until, utc } from './format.js';
import { useApp, type ViewState } from './hooks.js';

export type Tone = 'good' | 'bad' | 'warn' | 'neutral' | 'info';

/** Colour is never the only signal: the text says the state. */
export function Badge({ tone, children, title }: { tone: Tone; children: ComponentChildren; title?: string }) {
  return (
    <span class={`badge badge-${tone}`} title={title}>
      {children}
    </span>
  );
}

export function StatusBadge({ status }: { status: 'Online' | 'Offline' }) {
  return <Badge tone={status === 'Online' ? 'good' : 'neutral'}>{status}</Badge>;
}

const STATE_TONES: Readonly<Record<string, Tone>> = { ACKED: 'good', NACKED: 'bad', SENT: 'info', NOT_SENT: 'neutral' };

export function XdsStateBadge({ state }: { state: string }) {
  return <Badge tone={STATE_TONES[state] ?? 'neutral'}>{state}</Badge>;
}

/** An expiry date with how long is left; within 30 days it is marked (as `meshcp get secrets` marks it with (!)). */
export function Expiry({ iso, warnDays = 30 }: { iso: string | undefined; warnDays?: number }) {
  const days = daysLeft(iso);
  if (iso === undefined || days === undefined) return <span>—</span>;
  const tone: Tone | undefined = days < 0 ? 'bad' : days < warnDays ? 'warn' : undefined;
  return (
    <span class="expiry">
      <time dateTime={iso}>{utc(iso)}</time> <span class="muted">({until(iso)})</span>
      {tone && <> <Badge tone={tone}>{days < 0 ? 'expired' : 'expires soon'}</Badge></>}
    </span>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="state state-empty" role="status">
      <h2>{title}</h2>
      {children}
    </div>
  );
}

function ErrorText({ error }: { error: ApiError }) {
  const app = useApp();
  if (error.kind === 'unreachable') {
    return (
      <>
        <h2>The control plane is unreachable</h2>
        <p>
          This page could not reach meshcp's admin API ({error.message}). Check that <code>meshcp serve</code> is running; the page retries
          on its own and shows the live mesh as soon as the server answers.
        </p>
        {app.adminMtls && (
          <p>
            This admin API requires a client certificate (mTLS, <code>--admin-client-ca</code>): if the server is up, check that your browser
            still presents a certificate signed by that CA.
          </p>
        )}
      </>
    );
  }
  const why =
    error.status === 421
      ? 'The admin API refused this address (Host check): open the GUI at 127.0.0.1 or localhost, or add the name with serve --admin-hostname.'
      : error.status === 403
        ? 'The admin API refused the request.'
        : undefined;
  return (
    <>
      <h2>The admin API answered with an error ({error.status})</h2>
      <p class="error-text">{error.message}</p>
      {why && <p>{why}</p>}
    </>
  );
}

export function ErrorState({ error }: { error: ApiError }) {
  return (
    <div class="state state-error" role="alert">
      <ErrorText error={error} />
    </div>
  );
}

/**
 * What a view shows around its data: loading at first, the error when there is no data, and a
 * banner over the last good data when a later read failed.
 */
export function ViewFrame<T>({ view, children }: { view: ViewState<T>; children: (data: T) => ComponentChildren }) {
  if (view.data === undefined) {
    if (view.error) return <ErrorState error={view.error} />;
    return (
      <p class="loading" role="status">
        Loading…
      </p>
    );
  }
  return (
    <>
      {view.error && (
        <div class="stale" role="alert">
          <ErrorText error={view.error} />
          {view.readAt && <p>Showing what it said at {view.readAt.toLocaleTimeString()}.</p>}
        </div>
      )}
      {children(view.data)}
    </>
  );
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section class="panel" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

/** A select of meshes, '' for every mesh. */
export function MeshSelect({ meshes, value, onChange, all = true, id = 'mesh-select' }: { meshes: readonly string[]; value: string; onChange: (mesh: string) => void; all?: boolean; id?: string }) {
  return (
    <label class="field" for={id}>
      <span>Mesh</span>
      <select id={id} value={value} onChange={(e) => onChange((e.currentTarget as HTMLSelectElement).value)}>
        {all && <option value="">All meshes</option>}
        {meshes.map((m) => (
          <option key={m} value={m}>
            {m}
          </option>
        ))}
      </select>
    </label>
  );
}

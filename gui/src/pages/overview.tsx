/** Each mesh at a glance (GET /api/inspect/meshes), and the live event log. */
import { useEffect, useState } from 'preact/hooks';
import type { LiveEvent, MeshOverview, MeshesResponse } from '../api.js';
import { Badge, EmptyState, Expiry, ViewFrame, type Tone } from '../components.js';
import { useApp, useView } from '../hooks.js';
import { touchesStatus } from '../live.js';
import { href } from '../router.js';

const MODE_TONES: Readonly<Record<string, Tone>> = { STRICT: 'good', PERMISSIVE: 'warn', off: 'neutral' };
const PHASE_TONES: Readonly<Record<string, Tone>> = { ready: 'good', switching: 'warn', initializing: 'info', error: 'bad', off: 'neutral' };

function MeshCard({ mesh }: { mesh: MeshOverview }) {
  const { mtls, ca, proxies } = mesh;
  return (
    <article class="card mesh-card" aria-labelledby={`mesh-${mesh.name}`} data-mesh={mesh.name}>
      <h2 id={`mesh-${mesh.name}`}>
        Mesh <span class="name">{mesh.name}</span>
      </h2>
      <dl class="facts">
        <dt>mTLS</dt>
        <dd>
          <Badge tone={MODE_TONES[mtls.mode] ?? 'neutral'}>{mtls.mode === 'off' ? 'off' : mtls.mode}</Badge>
          {mtls.mode === 'off' && <span class="muted"> — no workload certificates, TrafficPermissions not enforced</span>}
        </dd>
        <dt>CA backend</dt>
        <dd data-testid="ca-backend">
          {mtls.enabledBackend ?? <span class="muted">none enabled</span>}
          {mtls.backends.length > 0 && <span class="muted"> — backends: {mtls.backends.map((b) => `${b.name} (${b.type})`).join(', ')}</span>}
        </dd>
        <dt>CA phase</dt>
        <dd data-testid="ca-phase">
          <Badge tone={PHASE_TONES[ca.phase] ?? 'neutral'}>{ca.phase}</Badge>
          {ca.step && <span> {ca.step}</span>}
          {ca.error && <p class="error-text">{ca.error}</p>}
          {ca.cas.length > 0 && (
            <ul class="plain">
              {ca.cas.map((c) => (
                <li key={`${c.backend}-${c.role}`}>
                  <strong>{c.backend}</strong> ({c.type}) — {c.role === 'issuing' ? 'issuing' : c.role === 'trusted' ? 'trusted, not issuing yet' : 'retiring, still trusted'}; CA
                  certificate <Expiry iso={c.notAfter} />
                </li>
              ))}
            </ul>
          )}
        </dd>
        <dt>Proxies</dt>
        <dd data-testid="proxies">
          <a href={href(['dataplanes'], { mesh: mesh.name, status: 'Online' })}>{proxies.online} online</a>,{' '}
          <a href={href(['dataplanes'], { mesh: mesh.name, status: 'Offline' })}>{proxies.offline} offline</a>
          <span class="muted"> of {proxies.total}</span>
        </dd>
        <dt>NACKs</dt>
        <dd data-testid="nacks">
          {mesh.nacks === 0 ? (
            <Badge tone="good">none</Badge>
          ) : (
            <a href={href(['dataplanes'], { mesh: mesh.name, status: 'NACK' })}>
              <Badge tone="bad">
                {mesh.nacks} refused ({proxies.nacking} {proxies.nacking === 1 ? 'proxy' : 'proxies'})
              </Badge>
            </a>
          )}
        </dd>
        <dt>Expires first</dt>
        <dd data-testid="soonest-expiry">
          {mesh.soonestExpiry ? (
            <>
              {mesh.soonestExpiry.kind} <strong>{mesh.soonestExpiry.name}</strong>:{' '}
              {/* What meshcp issues it also rotates; a user Secret or a CA needs someone to act in time. */}
              <Expiry iso={mesh.soonestExpiry.notAfter} warnDays={mesh.soonestExpiry.kind === 'secret' || mesh.soonestExpiry.kind === 'mesh CA' ? 30 : 0} />
            </>
          ) : (
            <span class="muted">no certificate</span>
          )}
        </dd>
        <dt>Resources</dt>
        <dd class="muted">
          {mesh.counts.dataplanes} dataplanes, {mesh.counts.services} services, {mesh.counts.gateways} gateways, {mesh.counts.routes} routes,{' '}
          {mesh.counts.trafficPermissions} traffic permissions, {mesh.counts.secrets} secrets
        </dd>
      </dl>
    </article>
  );
}

function describe(e: LiveEvent): string {
  const who = e.proxy !== undefined ? `${e.proxy} (${e.mesh})` : '';
  switch (e.kind) {
    case 'connect':
      return `${who} connected`;
    case 'disconnect':
      return `${who} disconnected`;
    case 'nack':
      return `${who} refused ${e.type}: ${e.error ?? ''}`;
    case 'certificate':
      return e.previousSerial !== undefined ? `${who} certificate rotated (serial ${e.serial ?? '?'})` : `${who} certificate issued (serial ${e.serial ?? '?'})`;
    case 'resources':
      return 'resources changed';
    default:
      return e.kind;
  }
}

function EventLog() {
  const { live } = useApp();
  const [events, setEvents] = useState(live.log);
  useEffect(() => live.subscribe(() => setEvents(live.log)), [live]);
  return (
    <section class="panel" aria-labelledby="events-title">
      <h2 id="events-title">Live events</h2>
      {events.length === 0 ? (
        <p class="muted">Connects, NACKs, new certificates and resource changes appear here as they happen.</p>
      ) : (
        <div role="log" aria-label="Live events, newest first">
        <ol class="event-log">
          {events.map((e, i) => (
            <li key={`${e.at}-${i}`} class={`event event-${e.kind}`}>
              <time dateTime={e.at}>{new Date(e.at).toLocaleTimeString()}</time> {describe(e)}
            </li>
          ))}
        </ol>
        </div>
      )}
    </section>
  );
}

export function OverviewPage() {
  const app = useApp();
  const view = useView<MeshesResponse>('/api/inspect/meshes', touchesStatus, 1000);
  if (view.data) app.adminMtls = view.data.adminApi.mtls;
  return (
    <>
      <h1>Overview</h1>
      <ViewFrame view={view}>
        {(data) => (
          <>
            <p class="muted">
              Admin API: {data.adminApi.mtls ? `mTLS required${data.adminApi.clientCertificate ? ` (you: ${data.adminApi.clientCertificate})` : ''}` : 'loopback, no client certificate'}
            </p>
            {data.items.length === 0 ? (
              <EmptyState title="No meshes yet">
                <p>Apply a Mesh to start, for example:</p>
                <pre>
                  {`cat <<'EOF' | meshcp apply -f -
type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends: [{ name: ca-1, type: builtin }]
EOF`}
                </pre>
              </EmptyState>
            ) : (
              <div class="cards">
                {data.items.map((m) => (
                  <MeshCard key={m.name} mesh={m} />
                ))}
              </div>
            )}
          </>
        )}
      </ViewFrame>
      <EventLog />
    </>
  );
}

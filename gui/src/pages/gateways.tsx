/** Gateways and their routes (GET /api/inspect/gateways): hosts, server certificates, client CAs, subject matchers. */
import type { GatewayView, List } from '../api.js';
import { Badge, EmptyState, Expiry, MeshSelect, StatusBadge, ViewFrame } from '../components.js';
import { hexGroups } from '../format.js';
import { useTick, useView } from '../hooks.js';
import { touchesStatus } from '../live.js';
import { href, replaceParams, type Route } from '../router.js';

type RouteView = GatewayView['routes'][number];

function ServerCertificate({ cert, host }: { cert: RouteView['serverCertificate']; host: string }) {
  const c = cert.certificate;
  return (
    <div>
      {cert.kind === 'custom' ? (
        <Badge tone="info">custom: Secret {cert.secret}</Badge>
      ) : (
        <Badge tone="warn" title="Issued by the mesh CA for this host; clients must be given that CA">
          issued by meshcp
        </Badge>
      )}
      {c ? (
        <ul class="plain">
          <li>{c.subject}</li>
          <li>DNS names: {c.dnsNames.length > 0 ? c.dnsNames.join(', ') : 'none'}</li>
          <li>
            {/* meshcp rotates the certificates it issues: only a custom one needs a reminder. */}
            Expires <Expiry iso={c.notAfter} warnDays={cert.kind === 'custom' ? 30 : 0} />
          </li>
          <li class="muted">serial {hexGroups(c.serial)}</li>
        </ul>
      ) : (
        <p class="muted">{cert.kind === 'issued' ? 'not issued yet (issued when the gateway asks for it)' : 'no readable certificate'}</p>
      )}
      {cert.kind === 'custom' && cert.hostMismatch !== undefined && (
        <p>
          <Badge tone="bad">SAN mismatch</Badge> {cert.hostMismatch}: clients that verify the name will refuse {host}.
        </p>
      )}
    </div>
  );
}

function RouteRow({ route, mesh }: { route: RouteView; mesh: string }) {
  return (
    <tr data-route={route.route}>
      <th scope="row">
        {route.route}
        <div class="muted">{route.host}</div>
      </th>
      <td>
        <ServerCertificate cert={route.serverCertificate} host={route.host} />
      </td>
      <td>
        {route.clientCa ? (
          <>
            <Badge tone="good">Secret {route.clientCa.secret}</Badge>
            <ul class="plain">
              {route.clientCa.certificates.map((c) => (
                <li key={c.fingerprintSha256}>
                  {c.subject} — <Expiry iso={c.notAfter} />
                </li>
              ))}
            </ul>
          </>
        ) : (
          <span class="muted">none: no client certificate asked</span>
        )}
      </td>
      <td>
        {route.subjectMatches.length === 0 ? (
          <span class="muted">{route.clientCa ? 'any certificate from the CA' : '—'}</span>
        ) : (
          <ul class="plain">
            {route.subjectMatches.map((m, i) => (
              <li key={i}>
                {m.kind}: <code>{m.value}</code>
              </li>
            ))}
          </ul>
        )}
      </td>
      <td>
        <ul class="plain">
          {route.rules.map((r) => (
            <li key={r.prefix}>
              <code>{r.prefix}</code> → <a href={href(['services'], { mesh, focus: r.service })}>{r.service}</a>
            </li>
          ))}
        </ul>
      </td>
      <td>
        {route.warnings.map((w) => (
          <p key={w} class="warning">
            {w}
          </p>
        ))}
        {route.nacks.map((n) => (
          <p key={`${n.proxy}-${n.type}`} class="error-text">
            <Badge tone="bad">NACK</Badge> proxy {n.proxy} refused its {n.type}: {n.error}
          </p>
        ))}
        {route.warnings.length === 0 && route.nacks.length === 0 && <span class="muted">—</span>}
      </td>
    </tr>
  );
}

export function GatewaysPage({ route }: { route: Route }) {
  useTick(60_000);
  const view = useView<List<GatewayView>>('/api/inspect/gateways', touchesStatus, 2000);
  const mesh = route.params.get('mesh') ?? '';
  return (
    <>
      <h1>Gateways &amp; routes</h1>
      <ViewFrame view={view}>
        {(data) => {
          const meshes = [...new Set(data.items.map((g) => g.mesh))].sort();
          const gateways = data.items.filter((g) => mesh === '' || g.mesh === mesh);
          if (data.items.length === 0) {
            return (
              <EmptyState title="No gateways yet">
                <p>
                  Apply a Gateway and Routes (<code>meshcp route create NAME --host H --client-ca-secret S</code>) to serve client-certificate routes at the edge.
                </p>
              </EmptyState>
            );
          }
          return (
            <>
              <form class="filters" aria-label="Filter gateways" onSubmit={(e) => e.preventDefault()}>
                <MeshSelect meshes={meshes} value={mesh} onChange={(m) => replaceParams(route, { mesh: m })} />
              </form>
              {gateways.map((g) => (
                <section key={`${g.mesh}/${g.name}`} class="panel" aria-labelledby={`gw-${g.mesh}-${g.name}`} data-gateway={g.name}>
                  <h2 id={`gw-${g.mesh}-${g.name}`}>
                    Gateway {g.name} <StatusBadge status={g.status} />
                  </h2>
                  <p class="muted">
                    Mesh {g.mesh}; listeners on {g.ports.join(', ')}; {g.routes.length} routes
                  </p>
                  {g.warnings.map((w) => (
                    <p key={w} class="warning">
                      {w}
                    </p>
                  ))}
                  <div class="table-wrap">
                    <table class="grid">
                      <caption>Routes of gateway {g.name}</caption>
                      <thead>
                        <tr>
                          <th scope="col">Route / host</th>
                          <th scope="col">Server certificate</th>
                          <th scope="col">Client CA</th>
                          <th scope="col">Subject matchers</th>
                          <th scope="col">Paths</th>
                          <th scope="col">Warnings and NACKs</th>
                        </tr>
                      </thead>
                      <tbody>
                        {g.routes.map((r) => (
                          <RouteRow key={r.route} route={r} mesh={g.mesh} />
                        ))}
                      </tbody>
                    </table>
                  </div>
                </section>
              ))}
            </>
          );
        }}
      </ViewFrame>
    </>
  );
}

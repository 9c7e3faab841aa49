/**
 * One proxy: what was last sent per type with its ACK/NACK state and, for a NACK, the user
 * resources that caused it (GET …/config-dump), its workload certificate (GET /api/identities),
 * and who may call it (GET …/permissions).
 */
import type { ConfigDump, DataplaneInspection, DataplanePermissions, IdentityJson, List } from '../api.js';
import { proxyPath, query } from '../api.js';
import { Badge, ErrorState, Expiry, Section, StatusBadge, ViewFrame, XdsStateBadge } from '../components.js';
import { ago, hexGroups, utc } from '../format.js';
import { useTick, useView } from '../hooks.js';
import { touchesProxy, touchesResources, type LiveSignal } from '../live.js';
import { href } from '../router.js';

type TypeDump = ConfigDump['types'][number];

function RefusedConfig({ types }: { types: readonly TypeDump[] }) {
  const refused = types.filter((t) => t.state === 'NACKED');
  if (refused.length === 0) return null;
  return (
    <div class="nack-box" role="alert" data-testid="nacks">
      <h3>Refused config</h3>
      {refused.map((t) => (
        <div key={t.type} class="nack" data-type={t.type}>
          <p>
            <Badge tone="bad">NACK</Badge> {t.type} version <code>{t.lastSentVersion ?? '?'}</code> was refused; the proxy keeps{' '}
            {t.lastAckedVersion !== undefined ? <code>{t.lastAckedVersion}</code> : 'nothing of this type'}.
          </p>
          <ul class="caused-by" aria-label={`Resources behind the refused ${t.type}`}>
            {(t.causedBy ?? []).map((cause) => (
              <li key={cause} data-resource={cause}>
                <strong>{cause}</strong>: <span class="error-text">{t.lastError}</span>
              </li>
            ))}
            {(t.causedBy ?? []).length === 0 && (
              <li>
                <span class="error-text">{t.lastError}</span>
              </li>
            )}
          </ul>
          {t.hint && <p class="hint">Hint: {t.hint}</p>}
        </div>
      ))}
    </div>
  );
}

function ConfigTable({ dump }: { dump: ConfigDump }) {
  return (
    <>
      <RefusedConfig types={dump.types} />
      <div class="table-wrap">
        <table class="grid">
          <caption>Resources last sent, per type{dump.snapshotVersion !== undefined && <> (snapshot {dump.snapshotVersion})</>}</caption>
          <thead>
            <tr>
              <th scope="col">Type</th>
              <th scope="col">State</th>
              <th scope="col">Last sent</th>
              <th scope="col">Last ACKed</th>
              <th scope="col" class="num">
                Updates
              </th>
              <th scope="col" class="num">
                NACKs
              </th>
              <th scope="col">Resources</th>
            </tr>
          </thead>
          <tbody>
            {dump.types.map((t) => (
              <tr key={t.type} data-type={t.type} data-state={t.state}>
                <th scope="row">{t.type}</th>
                <td>
                  <XdsStateBadge state={t.state} />
                </td>
                <td>
                  {t.lastSentVersion !== undefined ? (
                    <>
                      <code>{t.lastSentVersion}</code> <span class="muted">{ago(t.lastSentAt)}</span>
                    </>
                  ) : (
                    '—'
                  )}
                </td>
                <td>
                  {t.lastAckedVersion !== undefined ? (
                    <>
                      <code>{t.lastAckedVersion}</code> <span class="muted">{ago(t.lastAckedAt)}</span>
                    </>
                  ) : (
                    '—'
                  )}
                </td>
                <td class="num">{t.totalUpdates}</td>
                <td class="num">{t.nackCount}</td>
                <td>
                  {t.resources.length === 0 ? (
                    <span class="muted">none</span>
                  ) : (
                    <details>
                      <summary>
                        {t.resources.length} {t.resources.length === 1 ? 'resource' : 'resources'}
                        {!t.resourcesMatchLastSent && ' (changed since sent)'}
                      </summary>
                      {t.resources.map((r, i) => (
                        <details key={i} class="resource">
                          <summary>{String(r['name'] ?? r['cluster_name'] ?? i)}</summary>
                          <pre>{JSON.stringify(r, null, 2)}</pre>
                        </details>
                      ))}
                    </details>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function CertificatePanel({ identity }: { identity: IdentityJson | undefined }) {
  if (!identity || (identity.regenerations === 0 && identity.lastError === undefined)) {
    return <p class="muted">No workload certificate (mTLS is off in this mesh, or the proxy has not connected since the control plane started).</p>;
  }
  return (
    <dl class="facts" data-testid="certificate">
      <dt>SPIFFE ID</dt>
      <dd>
        {identity.spiffeIds.map((id) => (
          <code key={id} class="block">
            {id}
          </code>
        ))}
      </dd>
      <dt>Serial</dt>
      <dd>
        <code data-testid="serial" data-serial={identity.serial}>
          {hexGroups(identity.serial)}
        </code>
      </dd>
      <dt>CA backend</dt>
      <dd>{identity.backend ?? '—'}</dd>
      <dt>Issued</dt>
      <dd>
        {utc(identity.regeneratedAt)} <span class="muted">({ago(identity.regeneratedAt)})</span>
      </dd>
      <dt>Expires</dt>
      <dd>
        {/* Workload certificates are short-lived by design and rotated at 4/5 of their life: no "expires soon" mark. */}
        <Expiry iso={identity.expiration} warnDays={0} />
      </dd>
      <dt>Next rotation</dt>
      <dd>{identity.nextRotationAt !== undefined ? utc(identity.nextRotationAt) : <span class="muted">none scheduled (disconnected)</span>}</dd>
      <dt>Regenerations</dt>
      <dd data-testid="regenerations">{identity.regenerations}</dd>
      {identity.lastError !== undefined && (
        <>
          <dt>Last error</dt>
          <dd class="error-text">{identity.lastError}</dd>
        </>
      )}
    </dl>
  );
}

function PermissionsPanel({ permissions }: { permissions: DataplanePermissions }) {
  if (permissions.mtls === 'off') return <p>mTLS is off in mesh {permissions.mesh}: TrafficPermissions are not enforced and every caller reaches this proxy.</p>;
  return (
    <>
      {permissions.inbounds.map((inbound) => (
        <div key={inbound.port} class="inbound">
          <h3>
            Inbound {inbound.port} — service <a href={href(['services'], { mesh: permissions.mesh, focus: inbound.service })}>{inbound.service}</a>
          </h3>
          {inbound.permissions.length === 0 ? (
            <p>
              <Badge tone="bad">denied</Badge> No TrafficPermission applies: every caller is refused (default deny).
            </p>
          ) : (
            <ul>
              {inbound.permissions.map((p) => (
                <li key={p.name}>
                  <strong>TrafficPermission/{p.name}</strong> lets {p.callers.join(', ')} call it <span class="muted">({p.principals.join(', ')})</span>
                </li>
              ))}
            </ul>
          )}
          {permissions.mtls === 'PERMISSIVE' && (
            <p class="muted">
              Plaintext callers (PERMISSIVE): {inbound.plaintext.length > 0 ? `admitted by ${inbound.plaintext.join(', ')}` : 'refused: no permission admits any caller'}.
            </p>
          )}
        </div>
      ))}
    </>
  );
}

export function DataplanePage({ mesh, name }: { mesh: string; name: string }) {
  useTick(15_000);
  const mine = (s: LiveSignal): boolean => touchesProxy(s, mesh, name);
  const row = useView<DataplaneInspection>(proxyPath(mesh, name), mine);
  const dump = useView<ConfigDump>(proxyPath(mesh, name, 'config-dump'), mine);
  const identity = useView<List<IdentityJson>>(`/api/identities${query({ mesh, name })}`, mine);
  const permissions = useView<DataplanePermissions>(proxyPath(mesh, name, 'permissions'), touchesResources);
  return (
    <>
      <p class="crumbs">
        <a href={href(['dataplanes'], { mesh })}>Dataplanes</a> / {mesh}
      </p>
      <h1>
        {name} {row.data && <StatusBadge status={row.data.status} />}
      </h1>
      <ViewFrame view={row}>
        {(r) => (
          <p class="muted">
            {r.kind} in mesh {r.mesh}
            {r.flavor && `, ${r.flavor} flavor`}; tags {r.tags || '—'}; last connected {ago(r.lastConnected)}, last updated {ago(r.lastUpdated)}; {r.totalUpdates} updates,{' '}
            {r.totalErrors} errors
          </p>
        )}
      </ViewFrame>
      <Section title="Workload certificate" id="cert-title">
        <ViewFrame view={identity}>{(list) => <CertificatePanel identity={list.items[0]} />}</ViewFrame>
      </Section>
      <Section title="Resources as last sent" id="xds-title">
        <ViewFrame view={dump}>{(d) => <ConfigTable dump={d} />}</ViewFrame>
      </Section>
      <Section title="Who may call it" id="perm-title">
        {permissions.error?.kind === 'http' && permissions.error.status === 404 && !permissions.data ? (
          <p class="muted">Not a Dataplane: TrafficPermissions apply to Dataplane inbounds.</p>
        ) : permissions.error && !permissions.data ? (
          <ErrorState error={permissions.error} />
        ) : (
          <ViewFrame view={permissions}>{(p) => <PermissionsPanel permissions={p} />}</ViewFrame>
        )}
      </Section>
    </>
  );
}

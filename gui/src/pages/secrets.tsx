/** Secrets (GET /api/inspect/secrets): fingerprints, subjects, expiry and who uses them; never key material. */
import type { List, SecretView } from '../api.js';
import { Badge, EmptyState, Expiry, MeshSelect, ViewFrame } from '../components.js';
import { hexGroups } from '../format.js';
import { useTick, useView } from '../hooks.js';
import { touchesResources } from '../live.js';
import { replaceParams, type Route } from '../router.js';

export function SecretsPage({ route }: { route: Route }) {
  useTick(60_000);
  const view = useView<List<SecretView>>('/api/inspect/secrets', touchesResources, 2000);
  const mesh = route.params.get('mesh') ?? '';
  return (
    <>
      <h1>Secrets</h1>
      <p class="muted">Certificates are summarized: subject, SHA-256 fingerprint and expiry. Private keys never leave the control plane.</p>
      <ViewFrame view={view}>
        {(data) => {
          if (data.items.length === 0) {
            return (
              <EmptyState title="No secrets yet">
                <p>
                  <code>meshcp secret create tls-ca NAME --cert FILE</code> adds a client CA; builtin mesh CAs appear here once a Mesh enables one.
                </p>
              </EmptyState>
            );
          }
          const meshes = [...new Set(data.items.map((s) => String(s.resource['mesh'])))].sort();
          const items = data.items.filter((s) => mesh === '' || s.resource['mesh'] === mesh);
          return (
            <>
              <form class="filters" aria-label="Filter secrets" onSubmit={(e) => e.preventDefault()}>
                <MeshSelect meshes={meshes} value={mesh} onChange={(m) => replaceParams(route, { mesh: m })} />
              </form>
              <div class="table-wrap">
                <table class="grid">
                  <caption>Secrets ({items.length})</caption>
                  <thead>
                    <tr>
                      <th scope="col">Mesh</th>
                      <th scope="col">Name</th>
                      <th scope="col">Type</th>
                      <th scope="col">Subject</th>
                      <th scope="col">SHA-256 fingerprint</th>
                      <th scope="col">Expires</th>
                      <th scope="col">Used by</th>
                    </tr>
                  </thead>
                  <tbody>
                    {items.map((s) => {
                      const summary = s.secret;
                      const name = String(s.resource['name']);
                      return (
                        <tr key={`${String(s.resource['mesh'])}/${name}`} data-secret={name}>
                          <td>{String(s.resource['mesh'])}</td>
                          <td>
                            {name}
                            {s.origin === 'system' && <> <Badge tone="info">meshcp</Badge></>}
                            {s.pinned && (
                              <p class="error-text">
                                <Badge tone="bad">pinned</Badge> {s.pinned.errors.join('; ')}
                              </p>
                            )}
                          </td>
                          <td>{String(s.resource['secretType'] ?? '')}</td>
                          <td>{summary && 'subject' in summary ? summary.subject : summary && 'keyType' in summary ? `${summary.keyType} key (${summary.privateKey})` : '—'}</td>
                          <td>
                            <code class="fingerprint">{hexGroups(summary?.fingerprintSha256)}</code>
                          </td>
                          <td>
                            <Expiry iso={summary?.notAfter} />
                          </td>
                          <td>
                            {s.usedBy.length === 0 ? (
                              <span class="muted">unused</span>
                            ) : (
                              <ul class="plain">
                                {s.usedBy.map((u) => (
                                  <li key={`${u.resource}-${u.as}`}>
                                    {u.resource} ({u.as})
                                  </li>
                                ))}
                              </ul>
                            )}
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            </>
          );
        }}
      </ViewFrame>
    </>
  );
}

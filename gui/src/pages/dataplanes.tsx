/**
 * Every proxy with Kuma's `inspect dataplanes` columns (GET /api/inspect/dataplanes), filtered and
 * sorted in the page, 100 rows at a time so a mesh of thousands stays quick to use.
 */
import { useMemo } from 'preact/hooks';
import type { DataplaneInspection, List } from '../api.js';
import { Badge, EmptyState, StatusBadge, ViewFrame } from '../components.js';
import { ago, utc } from '../format.js';
import { useTick, useView } from '../hooks.js';
import { touchesStatus } from '../live.js';
import { href, replaceParams, type Route } from '../router.js';

const PAGE_SIZE = 100;

type Row = DataplaneInspection;
type SortKey = 'mesh' | 'name' | 'tags' | 'status' | 'lastConnected' | 'lastUpdated' | 'totalUpdates' | 'totalErrors' | 'certRegenerated' | 'certExpiration' | 'certRegenerations';

/** Kuma's column titles (`kumactl inspect dataplanes`), in its order. */
const COLUMNS: readonly { readonly key: SortKey; readonly title: string; readonly numeric?: boolean }[] = [
  { key: 'mesh', title: 'Mesh' },
  { key: 'name', title: 'Name' },
  { key: 'tags', title: 'Tags' },
  { key: 'status', title: 'Status' },
  { key: 'lastConnected', title: 'Last connected ago' },
  { key: 'lastUpdated', title: 'Last updated ago' },
  { key: 'totalUpdates', title: 'Total updates', numeric: true },
  { key: 'totalErrors', title: 'Total errors', numeric: true },
  { key: 'certRegenerated', title: 'Cert regenerated ago' },
  { key: 'certExpiration', title: 'Cert expiration' },
  { key: 'certRegenerations', title: 'Cert regenerations', numeric: true },
];

function sortValue(r: Row, key: SortKey): string | number {
  switch (key) {
    case 'lastConnected':
      return r.lastConnected ?? '';
    case 'lastUpdated':
      return r.lastUpdated ?? '';
    case 'certRegenerated':
      return r.certificate?.regeneratedAt ?? '';
    case 'certExpiration':
      return r.certificate?.expiration ?? '';
    case 'certRegenerations':
      return r.certificate?.regenerations ?? 0;
    default:
      return r[key];
  }
}

export function servicesOf(tags: string): string[] {
  return tags
    .split(',')
    .filter((t) => t.startsWith('kuma.io/service='))
    .map((t) => t.slice('kuma.io/service='.length));
}

function matches(r: Row, f: { mesh: string; service: string; tag: string; status: string }): boolean {
  if (f.mesh !== '' && r.mesh !== f.mesh) return false;
  if (f.service !== '' && !servicesOf(r.tags).includes(f.service)) return false;
  if (f.tag !== '' && !r.tags.toLowerCase().includes(f.tag.toLowerCase())) return false;
  if (f.status === 'NACK') return r.totalErrors > 0;
  return f.status === '' || r.status === f.status;
}

export function DataplanesPage({ route }: { route: Route }) {
  useTick(15_000);
  const view = useView<List<Row>>('/api/inspect/dataplanes', touchesStatus, 2000);
  const p = route.params;
  const filter = { mesh: p.get('mesh') ?? '', service: p.get('service') ?? '', tag: p.get('tag') ?? '', status: p.get('status') ?? '' };
  const sort = (p.get('sort') ?? 'name') as SortKey;
  const desc = p.get('dir') === 'desc';
  const page = Math.max(0, Number(p.get('page') ?? '0') || 0);
  const set = (changes: Record<string, string | undefined>): void => replaceParams(route, { page: undefined, ...changes });
  const items = view.data?.items;
  const { rows, meshes, services } = useMemo(() => {
    const all = items ?? [];
    const filtered = all.filter((r) => matches(r, filter));
    const sign = desc ? -1 : 1;
    filtered.sort((a, b) => {
      const x = sortValue(a, sort);
      const y = sortValue(b, sort);
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      return c !== 0 ? sign * c : a.mesh === b.mesh ? a.name.localeCompare(b.name) : a.mesh.localeCompare(b.mesh);
    });
    return {
      rows: filtered,
      meshes: [...new Set(all.map((r) => r.mesh))].sort(),
      services: [...new Set(all.flatMap((r) => servicesOf(r.tags)))].sort(),
    };
  }, [items, filter.mesh, filter.service, filter.tag, filter.status, sort, desc]);
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  const current = Math.min(page, pages - 1);
  const shown = rows.slice(current * PAGE_SIZE, (current + 1) * PAGE_SIZE);
  return (
    <>
      <h1>Dataplanes</h1>
      <form class="filters" role="search" aria-label="Filter dataplanes" onSubmit={(e) => e.preventDefault()}>
        <label class="field" for="f-mesh">
          <span>Mesh</span>
          <select id="f-mesh" value={filter.mesh} onChange={(e) => set({ mesh: (e.currentTarget as HTMLSelectElement).value })}>
            <option value="">All meshes</option>
            {meshes.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
        <label class="field" for="f-service">
          <span>Service</span>
          <select id="f-service" value={filter.service} onChange={(e) => set({ service: (e.currentTarget as HTMLSelectElement).value })}>
            <option value="">All services</option>
            {services.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label class="field" for="f-tag">
          <span>Tag contains</span>
          <input id="f-tag" type="search" placeholder="version=v2" value={filter.tag} onInput={(e) => set({ tag: (e.currentTarget as HTMLInputElement).value })} />
        </label>
        <label class="field" for="f-status">
          <span>Status</span>
          <select id="f-status" value={filter.status} onChange={(e) => set({ status: (e.currentTarget as HTMLSelectElement).value })}>
            <option value="">Any</option>
            <option value="Online">Online</option>
            <option value="Offline">Offline</option>
            <option value="NACK">With NACKs (total errors &gt; 0)</option>
          </select>
        </label>
      </form>
      <ViewFrame view={view}>
        {(data) =>
          data.items.length === 0 ? (
            <EmptyState title="No dataplanes yet">
              <p>
                Apply Dataplane resources, or connect a proxy: it appears here as soon as its xDS stream opens (<code>meshcp bootstrap envoy</code>,{' '}
                <code>meshcp agent</code>).
              </p>
            </EmptyState>
          ) : (
            <>
              <p class="muted" role="status" data-testid="dataplane-count">
                {rows.length} of {data.items.length} proxies
                {pages > 1 && `, page ${current + 1} of ${pages}`}
              </p>
              <div class="table-wrap">
                <table class="grid" aria-describedby="dp-caption">
                  <caption id="dp-caption">Proxies and their xDS and certificate state; select a column title to sort.</caption>
                  <thead>
                    <tr>
                      {COLUMNS.map((c) => (
                        <th key={c.key} scope="col" aria-sort={sort === c.key ? (desc ? 'descending' : 'ascending') : 'none'} class={c.numeric ? 'num' : undefined}>
                          <button type="button" class="sort" onClick={() => set({ sort: c.key, dir: sort === c.key && !desc ? 'desc' : undefined })}>
                            {c.title}
                            <span aria-hidden="true">{sort === c.key ? (desc ? ' ▼' : ' ▲') : ''}</span>
                          </button>
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {shown.map((r) => (
                      <tr key={`${r.mesh}/${r.name}`} data-proxy={`${r.mesh}/${r.name}`} data-status={r.status}>
                        <td>{r.mesh}</td>
                        <td>
                          <a href={href(['dataplanes', r.mesh, r.name])}>{r.name}</a>
                          {r.kind !== 'Dataplane' && <> <Badge tone="info">{r.kind}</Badge></>}
                        </td>
                        <td class="tags">{r.tags === '' ? '—' : r.tags.split(',').join(', ')}</td>
                        <td>
                          <StatusBadge status={r.status} />
                        </td>
                        <td>{ago(r.lastConnected)}</td>
                        <td>{ago(r.lastUpdated)}</td>
                        <td class="num">{r.totalUpdates}</td>
                        <td class="num">{r.totalErrors > 0 ? <Badge tone="bad">{r.totalErrors}</Badge> : 0}</td>
                        <td>{ago(r.certificate?.regeneratedAt)}</td>
                        <td>{utc(r.certificate?.expiration)}</td>
                        <td class="num">{r.certificate?.regenerations ?? '—'}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              {pages > 1 && (
                <nav class="pager" aria-label="Pages of dataplanes">
                  <button type="button" disabled={current === 0} onClick={() => replaceParams(route, { page: String(current - 1) })}>
                    Previous
                  </button>
                  <span>
                    Page {current + 1} of {pages}
                  </span>
                  <button type="button" disabled={current >= pages - 1} onClick={() => replaceParams(route, { page: String(current + 1) })}>
                    Next
                  </button>
                </nav>
              )}
            </>
          )
        }
      </ViewFrame>
    </>
  );
}

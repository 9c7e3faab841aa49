/**
 * Who may call whom (GET /api/inspect/services): a layered graph with the access and transport of
 * each call, and the same edges as a table (for keyboards, screen readers and search). Selecting
 * a service highlights its calls; "only its neighbours" lays out just those, which keeps a mesh
 * of a hundred services readable.
 */
import { useMemo } from 'preact/hooks';
import type { List, ServiceGraph } from '../api.js';
import { Badge, EmptyState, MeshSelect, ViewFrame, type Tone } from '../components.js';
import { useView } from '../hooks.js';
import { touchesResources } from '../live.js';
import { replaceParams, type Route } from '../router.js';
import { edgeKey, layoutGraph, NODE_HEIGHT, pathThrough, structureOf } from './graph-layout.js';

type Edge = ServiceGraph['edges'][number];

const ACCESS_TONES: Readonly<Record<Edge['access'], Tone>> = { allowed: 'good', partial: 'warn', denied: 'bad', unenforced: 'neutral' };
const ACCESS_TEXT: Readonly<Record<Edge['access'], string>> = {
  allowed: 'allowed',
  partial: 'partly allowed (some instances)',
  denied: 'denied',
  unenforced: 'not enforced',
};

function edgeTitle(e: Edge): string {
  const by = e.permissions.length > 0 ? ` by ${e.permissions.join(', ')}` : '';
  return `${e.from} → ${e.to}: ${ACCESS_TEXT[e.access]}${by}; ${e.transport}${e.declared ? '' : '; named by a permission, no declared outbound'}`;
}

function Legend() {
  return (
    <ul class="legend" aria-label="Legend">
      {(['allowed', 'partial', 'denied', 'unenforced'] as const).map((a) => (
        <li key={a}>
          <svg width="34" height="10" aria-hidden="true">
            <line x1="0" y1="5" x2="34" y2="5" class={`edge edge-${a}`} />
          </svg>
          {ACCESS_TEXT[a]}
        </li>
      ))}
    </ul>
  );
}

/** Past this many edges, transport labels would cover the graph: they show for the selected service only. */
const MAX_LABELLED_EDGES = 40;

function EdgeLabel({ points, text }: { points: readonly { x: number; y: number }[]; text: string }) {
  const mid = points[Math.floor(points.length / 2)];
  if (!mid) return null;
  return (
    <text x={mid.x} y={mid.y - 5} class="edge-label" text-anchor="middle">
      {text}
    </text>
  );
}

function Graph({ graph, focus, onlyNeighbours, onFocus }: { graph: ServiceGraph; focus: string; onlyNeighbours: boolean; onFocus: (name: string) => void }) {
  const neighbours = useMemo(() => {
    if (focus === '') return undefined;
    const set = new Set([focus]);
    for (const e of graph.edges) if (e.from === focus || e.to === focus) set.add(e.from).add(e.to);
    return set;
  }, [graph, focus]);
  const structure = structureOf(graph);
  const layout = useMemo(() => layoutGraph(graph, onlyNeighbours ? neighbours : undefined), [structure, onlyNeighbours ? [...(neighbours ?? [])].join('\t') : '']);
  const nodeKinds = new Map(graph.nodes.map((n) => [n.name, n]));
  return (
    <div class="graph-wrap">
      <svg class="graph" width={layout.width} height={layout.height} viewBox={`0 0 ${layout.width} ${layout.height}`} role="group" aria-label={`Service graph of mesh ${graph.mesh}; the table below lists the same calls`}>
        <defs>
          {(['allowed', 'partial', 'denied', 'unenforced'] as const).map((a) => (
            <marker key={a} id={`arrow-${a}`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M0,0 L10,5 L0,10 z" class={`arrow arrow-${a}`} />
            </marker>
          ))}
        </defs>
        {graph.edges.map((e) => {
          const points = layout.edges.get(edgeKey(e.from, e.to));
          if (!points) return null;
          const dim = focus !== '' && e.from !== focus && e.to !== focus;
          const labelled = layout.edges.size <= MAX_LABELLED_EDGES || (focus !== '' && !dim);
          return (
            <g key={edgeKey(e.from, e.to)} class={`edge-group${dim ? ' dim' : ''}`} data-from={e.from} data-to={e.to} data-access={e.access}>
              <title>{edgeTitle(e)}</title>
              <path d={pathThrough(points)} class={`edge edge-${e.access}`} marker-end={`url(#arrow-${e.access})`} />
              {labelled && <EdgeLabel points={points} text={e.transport} />}
            </g>
          );
        })}
        {[...layout.nodes.entries()].map(([name, n]) => {
          const info = nodeKinds.get(name);
          const dim = neighbours !== undefined && !neighbours.has(name);
          return (
            <g
              key={name}
              class={`node node-${info?.kind ?? 'mesh'}${focus === name ? ' focused' : ''}${dim ? ' dim' : ''}`}
              transform={`translate(${n.x - n.width / 2},${n.y - n.height / 2})`}
              role="button"
              tabindex={0}
              aria-label={`${name}, ${info?.kind ?? 'mesh'} service${focus === name ? ', selected' : ''}`}
              aria-pressed={focus === name}
              data-node={name}
              onClick={() => onFocus(focus === name ? '' : name)}
              onKeyDown={(ev) => {
                if (ev.key === 'Enter' || ev.key === ' ') {
                  ev.preventDefault();
                  onFocus(focus === name ? '' : name);
                }
              }}
            >
              <rect width={n.width} height={NODE_HEIGHT} rx="6" />
              <text x={n.width / 2} y={NODE_HEIGHT / 2} dominant-baseline="central" text-anchor="middle">
                {name}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}

function EdgeTable({ graph, focus, access }: { graph: ServiceGraph; focus: string; access: string }) {
  const edges = graph.edges.filter((e) => (focus === '' || e.from === focus || e.to === focus) && (access === '' || e.access === access));
  return (
    <div class="table-wrap">
      <table class="grid" data-testid="edge-table">
        <caption>
          Calls in mesh {graph.mesh}
          {focus !== '' && ` to and from ${focus}`} ({edges.length})
        </caption>
        <thead>
          <tr>
            <th scope="col">Caller</th>
            <th scope="col">Destination</th>
            <th scope="col">Access</th>
            <th scope="col">By TrafficPermission</th>
            <th scope="col">Transport</th>
            <th scope="col">Declared</th>
          </tr>
        </thead>
        <tbody>
          {edges.map((e) => (
            <tr key={edgeKey(e.from, e.to)} data-from={e.from} data-to={e.to} data-access={e.access}>
              <td>{e.from}</td>
              <td>{e.to}</td>
              <td>
                <Badge tone={ACCESS_TONES[e.access]}>{ACCESS_TEXT[e.access]}</Badge>
              </td>
              <td>{e.permissions.length > 0 ? e.permissions.join(', ') : '—'}</td>
              <td>{e.transport}</td>
              <td>{e.declared ? 'outbound or route' : 'permission only'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {graph.nodes.some((n) => n.anyCaller.length > 0) && (
        <p class="muted">
          Open to every caller of the mesh:{' '}
          {graph.nodes
            .filter((n) => n.anyCaller.length > 0)
            .map((n) => `${n.name} (${n.anyCaller.join(', ')})`)
            .join('; ')}
        </p>
      )}
    </div>
  );
}

export function ServicesPage({ route }: { route: Route }) {
  const view = useView<List<ServiceGraph>>('/api/inspect/services', touchesResources, 1000);
  const p = route.params;
  const focus = p.get('focus') ?? '';
  const access = p.get('access') ?? '';
  const onlyNeighbours = p.get('only') === '1';
  return (
    <>
      <h1>Services &amp; permissions</h1>
      <ViewFrame view={view}>
        {(data) => {
          if (data.items.length === 0) return <EmptyState title="No meshes yet"><p>Apply a Mesh, Dataplanes and TrafficPermissions to see who may call whom.</p></EmptyState>;
          const meshes = data.items.map((g) => g.mesh);
          const graph = data.items.find((g) => g.mesh === p.get('mesh')) ?? data.items[0]!;
          const focused = graph.nodes.some((n) => n.name === focus) ? focus : '';
          return (
            <>
              <form class="filters" aria-label="Graph options" onSubmit={(e) => e.preventDefault()}>
                <MeshSelect meshes={meshes} value={graph.mesh} all={false} onChange={(mesh) => replaceParams(route, { mesh, focus: undefined })} />
                <label class="field" for="g-focus">
                  <span>Service</span>
                  <select id="g-focus" value={focused} onChange={(e) => replaceParams(route, { focus: (e.currentTarget as HTMLSelectElement).value })}>
                    <option value="">All services</option>
                    {graph.nodes.map((n) => (
                      <option key={n.name} value={n.name}>
                        {n.name}
                      </option>
                    ))}
                  </select>
                </label>
                <label class="check" for="g-only">
                  <input id="g-only" type="checkbox" checked={onlyNeighbours} disabled={focused === ''} onChange={(e) => replaceParams(route, { only: (e.currentTarget as HTMLInputElement).checked ? '1' : undefined })} />
                  Only its neighbours
                </label>
                <label class="field" for="g-access">
                  <span>Access (table)</span>
                  <select id="g-access" value={access} onChange={(e) => replaceParams(route, { access: (e.currentTarget as HTMLSelectElement).value })}>
                    <option value="">Any</option>
                    <option value="allowed">Allowed</option>
                    <option value="partial">Partly allowed</option>
                    <option value="denied">Denied</option>
                    <option value="unenforced">Not enforced</option>
                  </select>
                </label>
              </form>
              <p class="muted">
                mTLS in mesh {graph.mesh}: <strong>{graph.mtls}</strong>
                {graph.mtls === 'off' && ' — nothing checks callers; every call is allowed'}. {graph.nodes.length} services, {graph.edges.length} calls.
              </p>
              <Legend />
              {graph.nodes.length === 0 ? (
                <EmptyState title="No services in this mesh" />
              ) : (
                <Graph graph={graph} focus={focused} onlyNeighbours={onlyNeighbours && focused !== ''} onFocus={(name) => replaceParams(route, { focus: name })} />
              )}
              <EdgeTable graph={graph} focus={focused} access={access} />
            </>
          );
        }}
      </ViewFrame>
    </>
  );
}

/**
 * The layout of the services graph: dagre's layered layout (callers left, callees right), as
 * Kiali lays out its graphs. Laid out again only when the set of nodes and edges changes; an
 * edge that turns from allowed to denied keeps its place and changes its colour.
 */
import dagre from '@dagrejs/dagre';
import type { ServiceGraph } from '../api.js';

export interface Point {
  readonly x: number;
  readonly y: number;
}

export interface Layout {
  readonly width: number;
  readonly height: number;
  readonly nodes: ReadonlyMap<string, { readonly x: number; readonly y: number; readonly width: number; readonly height: number }>;
  /** By `from\nto`. */
  readonly edges: ReadonlyMap<string, readonly Point[]>;
}

export const NODE_HEIGHT = 30;

/** A label's width in the graph's 13px font, without measuring text in the DOM. */
function labelWidth(name: string): number {
  return Math.max(60, Math.round(name.length * 7.6) + 28);
}

export function edgeKey(from: string, to: string): string {
  return `${from}\n${to}`;
}

/** What the layout depends on: names and pairs only (access and transport only change colours). */
export function structureOf(graph: ServiceGraph): string {
  return `${graph.nodes.map((n) => n.name).join('\t')}\n\n${graph.edges.map((e) => `${e.from}\t${e.to}`).join('\n')}`;
}

export function layoutGraph(graph: ServiceGraph, only?: ReadonlySet<string>): Layout {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 110, edgesep: 8, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of graph.nodes) if (!only || only.has(n.name)) g.setNode(n.name, { width: labelWidth(n.name), height: NODE_HEIGHT });
  for (const e of graph.edges) if (e.from !== e.to && g.hasNode(e.from) && g.hasNode(e.to)) g.setEdge(e.from, e.to);
  dagre.layout(g);
  const nodes = new Map<string, { x: number; y: number; width: number; height: number }>();
  for (const name of g.nodes()) {
    const n = g.node(name);
    nodes.set(name, { x: n.x, y: n.y, width: n.width, height: n.height });
  }
  const edges = new Map<string, Point[]>();
  for (const e of g.edges()) edges.set(edgeKey(e.v, e.w), (g.edge(e).points ?? []).map((p: Point) => ({ x: p.x, y: p.y })));
  const size = g.graph();
  return { width: Math.ceil(size.width ?? 0), height: Math.ceil(size.height ?? 0), nodes, edges };
}

/** An SVG path through dagre's points: straight first and last segments, curves in between. */
export function pathThrough(points: readonly Point[]): string {
  const [first, ...rest] = points;
  if (!first) return '';
  if (rest.length === 0) return `M${first.x},${first.y}`;
  let d = `M${first.x},${first.y}`;
  for (let i = 0; i < rest.length; i++) {
    const p = rest[i]!;
    const next = rest[i + 1];
    if (next && i < rest.length - 1) {
      const mx = (p.x + next.x) / 2;
      const my = (p.y + next.y) / 2;
      d += ` Q${p.x},${p.y} ${mx},${my}`;
    } else d += ` L${p.x},${p.y}`;
  }
  return d;
}

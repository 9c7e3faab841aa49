#!/usr/bin/env node
/**
 * What each kind of object keeps alive in a V8 heap snapshot (the bench writes one of the idle
 * server with BENCH_HEAP_SNAPSHOT_DIR=DIR): the retained size of every object, from the dominator
 * tree, summed per constructor name.
 *
 *   node scripts/heap-retainers.mjs FILE.heapsnapshot [NAME-REGEX] [--fields NAME]
 *
 * NAME-REGEX keeps the constructors whose names match (default: all). `--fields NAME` also lists,
 * per instance of NAME, what each of its properties alone keeps alive.
 *
 * Retained sizes nest (an XdsSession's includes its TypeStates), so do not add rows up. An object
 * reachable from two owners is retained by their common dominator, not by either: per-proxy data
 * shared with a cache shows under the cache or the root, not under the proxy.
 */
import fs from 'node:fs';

const args = process.argv.slice(2);
const fieldsAt = args.indexOf('--fields');
const fieldsOf = fieldsAt >= 0 ? args.splice(fieldsAt, 2)[1] : undefined;
const [file, pattern = '.'] = args;
if (!file) {
  console.error('usage: node scripts/heap-retainers.mjs FILE.heapsnapshot [NAME-REGEX] [--fields NAME]');
  process.exit(2);
}

const snapshot = JSON.parse(fs.readFileSync(file, 'utf8'));
const meta = snapshot.snapshot.meta;
const nodeFields = meta.node_fields.length;
const edgeFields = meta.edge_fields.length;
const nodeTypes = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const { nodes, edges, strings } = snapshot;
const TYPE = meta.node_fields.indexOf('type');
const NAME = meta.node_fields.indexOf('name');
const SELF = meta.node_fields.indexOf('self_size');
const EDGE_COUNT = meta.node_fields.indexOf('edge_count');
const EDGE_TYPE = meta.edge_fields.indexOf('type');
const EDGE_NAME = meta.edge_fields.indexOf('name_or_index');
const EDGE_TO = meta.edge_fields.indexOf('to_node');
const count = nodes.length / nodeFields;
const edgeCount = edges.length / edgeFields;

// Edges as arrays: the first edge of each node, the target of each edge, and whether it holds (weak edges do not).
const firstEdge = new Uint32Array(count + 1);
for (let i = 0, e = 0; i < count; i++) {
  firstEdge[i] = e;
  e += nodes[i * nodeFields + EDGE_COUNT];
  firstEdge[i + 1] = e;
}
const target = new Uint32Array(edgeCount);
const holds = new Uint8Array(edgeCount);
const weak = edgeTypes.indexOf('weak');
const shortcut = edgeTypes.indexOf('shortcut');
for (let k = 0; k < edgeCount; k++) {
  target[k] = edges[k * edgeFields + EDGE_TO] / nodeFields;
  const type = edges[k * edgeFields + EDGE_TYPE];
  holds[k] = type !== weak && type !== shortcut ? 1 : 0;
}

// Post-order from the root (node 0), iteratively.
const postIndex = new Int32Array(count).fill(-1);
const postOrder = new Uint32Array(count);
let reached = 0;
{
  const stack = new Uint32Array(count);
  const next = new Uint32Array(count);
  const seen = new Uint8Array(count);
  let top = 0;
  stack[top++] = 0;
  next[0] = firstEdge[0];
  seen[0] = 1;
  while (top > 0) {
    const v = stack[top - 1];
    if (next[v] < firstEdge[v + 1]) {
      const k = next[v]++;
      const w = target[k];
      if (holds[k] && !seen[w]) {
        seen[w] = 1;
        next[w] = firstEdge[w];
        stack[top++] = w;
      }
    } else {
      top--;
      postIndex[v] = reached;
      postOrder[reached++] = v;
    }
  }
}

// Predecessors of reached nodes, then immediate dominators (Cooper, Harvey and Kennedy's iteration).
const predStart = new Uint32Array(count + 1);
for (let v = 0; v < count; v++) {
  if (postIndex[v] < 0) continue;
  for (let k = firstEdge[v]; k < firstEdge[v + 1]; k++) if (holds[k] && postIndex[target[k]] >= 0) predStart[target[k] + 1]++;
}
for (let i = 0; i < count; i++) predStart[i + 1] += predStart[i];
const preds = new Uint32Array(predStart[count]);
{
  const fill = predStart.slice(0, count);
  for (let v = 0; v < count; v++) {
    if (postIndex[v] < 0) continue;
    for (let k = firstEdge[v]; k < firstEdge[v + 1]; k++) if (holds[k] && postIndex[target[k]] >= 0) preds[fill[target[k]]++] = v;
  }
}
const idom = new Int32Array(count).fill(-1);
idom[0] = 0;
const intersect = (a, b) => {
  while (a !== b) {
    while (postIndex[a] < postIndex[b]) a = idom[a];
    while (postIndex[b] < postIndex[a]) b = idom[b];
  }
  return a;
};
for (let changed = true; changed; ) {
  changed = false;
  for (let i = reached - 1; i >= 0; i--) {
    const v = postOrder[i];
    if (v === 0) continue;
    let dominator = -1;
    for (let p = predStart[v]; p < predStart[v + 1]; p++) {
      const u = preds[p];
      if (idom[u] < 0) continue;
      dominator = dominator < 0 ? u : intersect(u, dominator);
    }
    if (dominator >= 0 && idom[v] !== dominator) {
      idom[v] = dominator;
      changed = true;
    }
  }
}
const retained = new Float64Array(count);
for (let i = 0; i < reached; i++) {
  const v = postOrder[i];
  retained[v] += nodes[v * nodeFields + SELF];
  if (v !== 0) retained[idom[v]] += retained[v];
}

const nameOf = (v) => strings[nodes[v * nodeFields + NAME]];
const isObject = (v) => nodeTypes[nodes[v * nodeFields + TYPE]] === 'object';
const kib = (bytes) => (bytes / 1024).toFixed(0).padStart(9);
const filter = new RegExp(pattern);
const byName = new Map();
for (let v = 0; v < count; v++) {
  if (postIndex[v] < 0 || !isObject(v) || !filter.test(nameOf(v))) continue;
  const row = byName.get(nameOf(v)) ?? { instances: 0, bytes: 0 };
  row.instances++;
  row.bytes += retained[v];
  byName.set(nameOf(v), row);
}
console.log(`${file}: ${(retained[0] / 1024 ** 2).toFixed(1)} MiB reachable`);
console.log(`${'instances'.padStart(9)} ${'KiB'.padStart(9)} ${'B each'.padStart(8)}  constructor`);
for (const [name, row] of [...byName].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 40)) {
  console.log(`${String(row.instances).padStart(9)} ${kib(row.bytes)} ${(row.bytes / row.instances).toFixed(0).padStart(8)}  ${name}`);
}

if (fieldsOf !== undefined) {
  const byField = new Map();
  let instances = 0;
  for (let v = 0; v < count; v++) {
    if (postIndex[v] < 0 || !isObject(v) || nameOf(v) !== fieldsOf) continue;
    instances++;
    for (let k = firstEdge[v]; k < firstEdge[v + 1]; k++) {
      const w = target[k];
      if (!holds[k] || idom[w] !== v || edgeTypes[edges[k * edgeFields + EDGE_TYPE]] !== 'property') continue;
      const field = strings[edges[k * edgeFields + EDGE_NAME]];
      byField.set(field, (byField.get(field) ?? 0) + retained[w]);
    }
  }
  console.log(`\nwhat each property of ${fieldsOf} alone keeps alive (${instances} instances), bytes per instance:`);
  for (const [field, bytes] of [...byField].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${(bytes / Math.max(1, instances)).toFixed(0).padStart(9)}  ${field}`);
}

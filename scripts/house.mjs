#!/usr/bin/env node
/**
 * Measures the house: the source files of src/, their import graph (every `import`, `import type`,
 * `export … from` and `import()` counts: a type-only cycle is still a cycle for the reader), and
 * the rules docs/architecture.md states. Used by test/architecture/house.test.ts, and by hand:
 *
 *   node scripts/house.mjs          a summary
 *   node scripts/house.mjs --json   every measure, as JSON
 *   node scripts/house.mjs --root DIR   another checkout (e.g. to measure a commit before)
 *
 * Measures:
 * - files, and files over MAX_LINES lines;
 * - cycles: strongly connected components of more than one file (or a file importing itself);
 * - floors: the number of folders on the longest import chain between folders (a folder that
 *   imports no other folder is floor 1); the longest chain of files is reported beside it;
 * - upward imports: an import from a folder to a folder later in the pipeline (FOLDER_ORDER);
 * - module caches: module-level `Map`/`WeakMap`/`Set`/`WeakSet` bindings the module itself
 *   changes (`.set(`, `.add(`, `.delete(`, `.clear(` on them): hidden state two control planes in
 *   one process would share;
 * - issue references: `issue #N` / `issue N` in src/ (issue numbers belong in commits).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const MAX_LINES = 400;
export const MAX_FLOORS = 9;

/**
 * The folders of src/ in pipeline order, lowest first: a folder may import its own files and
 * folders before it in this list, never one after it (docs/architecture.md "Layers").
 */
export const FOLDER_ORDER = [
  'log',
  'net',
  'protos',
  'regex',
  'model',
  'api',
  'change',
  'store',
  'ca',
  'sources',
  'translate',
  'snapshot',
  'envoy',
  'identity',
  'generate',
  'xds',
  'auth',
  'bootstrap',
  'runtime',
  'agent',
  'admin',
  'demo',
  'cli',
];

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..');

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return walk(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;

/** Imports of one file's text: relative specifiers, resolved to .ts paths under the same root. */
function importsOf(file, text) {
  const out = new Set();
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec || !spec.startsWith('.')) continue;
    const resolved = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
    out.add(resolved);
  }
  return [...out];
}

const CACHE_DECL_RE = /^(?:export\s+)?(?:const|let)\s+([A-Za-z_$][\w$]*)\s*(?::[^=\n]+)?=\s*new\s+(?:Weak)?(?:Map|Set)\b/gm;

function moduleCaches(text) {
  const names = [];
  for (const m of text.matchAll(CACHE_DECL_RE)) {
    const name = m[1];
    const mutated = new RegExp(`\\b${name.replace(/\$/g, '\\$')}\\.(?:set|add|delete|clear)\\(`).test(text);
    if (mutated) names.push(name);
  }
  return names;
}

const ISSUE_RE = /\bissues?\s+#?\d+/gi;

/** Tarjan's strongly connected components. */
function components(nodes, edges) {
  let index = 0;
  const stack = [];
  const on = new Set();
  const idx = new Map();
  const low = new Map();
  const out = [];
  const strong = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      out.push(comp);
    }
  };
  for (const v of nodes) if (!idx.has(v)) strong(v);
  return out;
}

export function folderOf(rel) {
  const parts = rel.split('/');
  return parts.length > 2 ? parts[1] : '.';
}

export function measure(root = ROOT) {
  const srcDir = path.join(root, 'src');
  const files = walk(srcDir).sort();
  const rel = (f) => path.relative(root, f).split(path.sep).join('/');
  const texts = new Map(files.map((f) => [f, fs.readFileSync(f, 'utf8')]));
  const edges = new Map();
  for (const f of files) edges.set(f, importsOf(f, texts.get(f)).filter((t) => texts.has(t)));
  const lines = new Map(files.map((f) => [f, texts.get(f).split('\n').length - (texts.get(f).endsWith('\n') ? 1 : 0)]));

  const comps = components(files, edges);
  const compOf = new Map();
  comps.forEach((c, i) => c.forEach((f) => compOf.set(f, i)));
  const cycles = comps
    .filter((c) => c.length > 1 || (edges.get(c[0]) ?? []).includes(c[0]))
    .map((c) => c.map(rel).sort())
    .sort((a, b) => b.length - a.length);

  // Floors: longest chain of the condensation (Tarjan emits components in reverse topological order).
  const floorOf = new Array(comps.length).fill(0);
  const chainNext = new Array(comps.length).fill(-1);
  comps.forEach((c, i) => {
    let best = 0;
    for (const f of c) {
      for (const t of edges.get(f) ?? []) {
        const j = compOf.get(t);
        if (j === i) continue;
        if (floorOf[j] > best) {
          best = floorOf[j];
          chainNext[i] = j;
        }
      }
    }
    floorOf[i] = best + 1;
  });
  let top = 0;
  floorOf.forEach((f, i) => {
    if (f > floorOf[top]) top = i;
  });
  const longestChain = [];
  for (let i = top; i >= 0; i = chainNext[i]) longestChain.push(comps[i].map(rel).sort().join(' + '));

  const order = new Map(FOLDER_ORDER.map((f, i) => [f, i]));
  const upward = [];
  const unknownFolders = new Set();
  const folderEdges = new Map();
  for (const [f, targets] of edges) {
    const from = folderOf(rel(f));
    for (const t of targets) {
      const to = folderOf(rel(t));
      if (from === to) continue;
      const key = `${from} -> ${to}`;
      folderEdges.set(key, (folderEdges.get(key) ?? 0) + 1);
      if (!order.has(from)) unknownFolders.add(from);
      if (!order.has(to)) unknownFolders.add(to);
      if (order.has(from) && order.has(to) && order.get(to) > order.get(from)) upward.push(`${rel(f)} -> ${rel(t)}`);
    }
  }
  const folderNodes = [...new Set([...folderEdges.keys()].flatMap((k) => k.split(' -> ')))];
  const folderAdj = new Map(folderNodes.map((n) => [n, []]));
  for (const k of folderEdges.keys()) {
    const [a, b] = k.split(' -> ');
    folderAdj.get(a).push(b);
  }
  const folderCycles = components(folderNodes, folderAdj).filter((c) => c.length > 1).map((c) => c.sort());
  // Folder floors: the folders on the longest import chain between folders (leaves are floor 1).
  const folderFloor = new Map();
  const folderChain = new Map();
  const floorOfFolder = (f, seen = new Set()) => {
    if (folderFloor.has(f)) return folderFloor.get(f);
    if (seen.has(f)) return 0;
    seen.add(f);
    let best = 0;
    let next;
    for (const t of folderAdj.get(f) ?? []) {
      const d = floorOfFolder(t, seen);
      if (d > best) {
        best = d;
        next = t;
      }
    }
    folderFloor.set(f, best + 1);
    folderChain.set(f, next);
    return best + 1;
  };
  for (const f of new Set(files.map((f) => folderOf(rel(f))))) if (!folderAdj.has(f)) folderAdj.set(f, []);
  let topFolder;
  for (const f of folderAdj.keys()) if (topFolder === undefined || floorOfFolder(f) > floorOfFolder(topFolder)) topFolder = f;
  const folderLongest = [];
  for (let f = topFolder; f !== undefined; f = folderChain.get(f)) folderLongest.push(f);

  const caches = [];
  const issueRefs = [];
  for (const f of files) {
    for (const name of moduleCaches(texts.get(f))) caches.push(`${rel(f)}:${name}`);
    texts.get(f).split('\n').forEach((line, i) => {
      if (ISSUE_RE.test(line)) issueRefs.push(`${rel(f)}:${i + 1}`);
      ISSUE_RE.lastIndex = 0;
    });
  }
  const overLimit = files
    .filter((f) => lines.get(f) > MAX_LINES)
    .map((f) => ({ file: rel(f), lines: lines.get(f) }))
    .sort((a, b) => b.lines - a.lines);
  return {
    files: files.length,
    lines: [...lines.values()].reduce((a, b) => a + b, 0),
    folders: new Set(files.map((f) => folderOf(rel(f)))).size,
    overLimit,
    cycles,
    folderCycles,
    floors: folderFloor.get(topFolder) ?? 0,
    floorsByFolder: Object.fromEntries([...folderFloor].sort(([, a], [, b]) => b - a)),
    longestFolderChain: folderLongest,
    fileChain: floorOf[top] ?? 0,
    longestChain,
    upward,
    unknownFolders: [...unknownFolders].sort(),
    folderEdges: Object.fromEntries([...folderEdges].sort()),
    caches,
    issueRefs,
    graph: Object.fromEntries(files.map((f) => [rel(f), (edges.get(f) ?? []).map(rel).sort()])),
  };
}

/** The files reachable from `start` (relative to the root) through imports, itself included. */
export function closure(house, start) {
  const seen = new Set();
  const visit = (f) => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const t of house.graph[f] ?? []) visit(t);
  };
  visit(start);
  return [...seen].sort();
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rootArg = process.argv.indexOf('--root');
  const house = measure(rootArg > 0 ? path.resolve(process.argv[rootArg + 1]) : ROOT);
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(house, null, 2));
  } else {
    console.log(`files (src/):              ${house.files} (${house.lines} lines, ${house.folders} folders)`);
    console.log(`files over ${MAX_LINES} lines:      ${house.overLimit.length}${house.overLimit.length ? `: ${house.overLimit.map((o) => `${o.file} ${o.lines}`).join(', ')}` : ''}`);
    console.log(`import cycles (files):     ${house.cycles.length}${house.cycles.length ? ` (largest: ${house.cycles[0].length} files)` : ''}`);
    console.log(`folder cycles:             ${house.folderCycles.length}${house.folderCycles.length ? `: ${house.folderCycles.map((c) => c.join(' <-> ')).join('; ')}` : ''}`);
    console.log(`floors (folders):          ${house.floors}: ${house.longestFolderChain.join(' -> ')}`);
    console.log(`longest file chain:        ${house.fileChain} files`);
    console.log(`upward imports:            ${house.upward.length}`);
    console.log(`module-level caches:       ${house.caches.length}`);
    console.log(`issue references:          ${house.issueRefs.length}`);
    if (process.argv.includes('--verbose')) {
      console.log('\nlongest chain:\n  ' + house.longestChain.join('\n  '));
      console.log('\ncycles:\n  ' + house.cycles.map((c) => c.join(' ')).join('\n  '));
      console.log('\nupward:\n  ' + house.upward.join('\n  '));
      console.log('\ncaches:\n  ' + house.caches.join('\n  '));
      console.log('\nfolder edges:\n  ' + Object.entries(house.folderEdges).map(([k, v]) => `${k} (${v})`).join('\n  '));
    }
  }
}

#!/usr/bin/env node
/**
 * After `vite build`: lists the built GUI files with their sizes in dist/gui/meshcp-gui.json
 * (the admin API serves exactly those files) and fails the build when the GUI, gzipped, is over
 * its budget of 200 KB (graph layout library included).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

export const GUI_BUDGET_GZIP_BYTES = 200 * 1024;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'dist', 'gui');

function walk(rel) {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((entry) => {
    const name = rel === '' ? entry.name : `${rel}/${entry.name}`;
    return entry.isDirectory() ? walk(name) : [name];
  });
}

const files = {};
let total = 0;
for (const name of walk('').filter((n) => n !== 'meshcp-gui.json').sort()) {
  const body = fs.readFileSync(path.join(dir, name));
  // The admin API serves gzip at level 9 (admin/gui-assets.ts): measure what it sends.
  const gzipBytes = zlib.gzipSync(body, { level: 9 }).length;
  files[name] = { bytes: body.length, gzipBytes };
  total += gzipBytes;
}
fs.writeFileSync(path.join(dir, 'meshcp-gui.json'), `${JSON.stringify({ files, totalGzipBytes: total, budgetGzipBytes: GUI_BUDGET_GZIP_BYTES }, null, 2)}\n`);
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
if (total > GUI_BUDGET_GZIP_BYTES) {
  console.error(`web GUI: ${kb(total)} gzipped is over its budget of ${kb(GUI_BUDGET_GZIP_BYTES)}`);
  process.exit(1);
}
console.log(`web GUI: ${Object.keys(files).length} files, ${kb(total)} gzipped (budget ${kb(GUI_BUDGET_GZIP_BYTES)})`);

#!/usr/bin/env node
/**
 * Before/after of two `npm run bench` result files, as ratios to the raw grpc-js baseline of each
 * run (the machines are noisy; ratios are what count):
 *   node scripts/bench-compare.mjs BEFORE.json AFTER.json
 * prints a Markdown table: scenario, N, metric, before (meshcp / baseline), after, change.
 */
import fs from 'node:fs';

const [beforeFile, afterFile] = process.argv.slice(2);
if (!beforeFile || !afterFile) {
  console.error('usage: node scripts/bench-compare.mjs BEFORE.json AFTER.json');
  process.exit(2);
}
const read = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const perProxy = (run, field) => (run.memoryIdle[field] - run.memoryBefore[field]) / run.proxies / 1024;
const METRICS = [
  ['initial config / mTLS cold start', (r) => r.initialMs],
  ['change p50', (r) => percentile(r.changeMs, 50)],
  ['change p99', (r) => percentile(r.changeMs, 99)],
  ['RSS per idle proxy', (r) => perProxy(r, 'rssBytes')],
  ['heap per idle proxy', (r) => perProxy(r, 'heapUsedBytes')],
];

function ratios(results) {
  const out = new Map();
  const key = (r) => `${r.scenario}|${r.proxies}|${r.proxiesPerConnection}`;
  const byKey = new Map();
  for (const run of results.runs) {
    if (!byKey.has(key(run))) byKey.set(key(run), {});
    byKey.get(key(run))[run.implementation] = run;
  }
  for (const [k, group] of byKey) {
    if (!group.meshcp || !group.baseline) continue;
    for (const [name, get] of METRICS) out.set(`${k}|${name}`, get(group.meshcp) / get(group.baseline));
  }
  return out;
}

const before = ratios(read(beforeFile));
const after = ratios(read(afterFile));
console.log('| scenario | N | metric | before (meshcp / baseline) | after (meshcp / baseline) |');
console.log('|---|---:|---|---:|---:|');
for (const k of new Set([...before.keys(), ...after.keys()])) {
  const [scenario, n, , metric] = k.split('|');
  const f = (v) => (v === undefined || !Number.isFinite(v) ? 'n/a' : `${v.toFixed(2)}×`);
  console.log(`| ${scenario} | ${n} | ${metric} | ${f(before.get(k))} | ${f(after.get(k))} |`);
}

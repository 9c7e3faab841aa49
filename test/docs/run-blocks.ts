/**
 * Runs a Markdown file's command blocks as a reader would: in order, in one bash session (so a
 * server started with `&` in one block serves the next), in a fresh temp directory, inside a new
 * network namespace (`unshare -rn`: its own loopback, so the fixed ports the docs use, 5678 and
 * 5681, never meet another test's), with `meshcp` and `npx meshcp` resolving to this checkout's
 * built bin. Every command must succeed (`set -e -o pipefail`); the first failure ends the file
 * and is reported with its block and command. Background processes are stopped by process group
 * when the session ends; the only wait is the file's deadline, which a passing file never needs.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BUILT_BIN } from '../cli/bin.js';
import { waitFor } from '../helpers/wait.js';
import type { CommandBlock } from './markdown-blocks.js';

export interface BlockFailure {
  readonly block: number;
  /** The command bash reported, when it reported one (a timeout or a crash has none). */
  readonly command?: string;
  readonly exitCode?: number;
  /** The Markdown line of the failing command (bash reports a multi-line command by one of its lines). */
  readonly line?: number;
  readonly timedOut: boolean;
}

export interface FileRun {
  /** Blocks that started, in order. */
  readonly started: readonly number[];
  /** Blocks that ran to their end. */
  readonly passed: readonly number[];
  readonly failure?: BlockFailure;
  /** The session's stdout and stderr, interleaved (the tail goes into failure messages). */
  readonly output: string;
}

/** `meshcp` → the built bin; `npx meshcp …` → that `meshcp`, and any other `npx` refused (the docs test never downloads). */
export function shimDirectory(root: string): string {
  const dir = path.join(root, 'bin');
  fs.mkdirSync(dir, { recursive: true });
  fs.symlinkSync(BUILT_BIN, path.join(dir, 'meshcp'));
  fs.writeFileSync(
    path.join(dir, 'npx'),
    '#!/bin/sh\n# docs test: `npx meshcp` is this checkout\'s built bin; nothing else is fetched\nif [ "$1" = meshcp ]; then shift; exec meshcp "$@"; fi\necho "docs test: npx $1: only \\`npx meshcp\\` is available here" >&2\nexit 127\n',
    { mode: 0o755 },
  );
  return dir;
}

const STATUS_HELPERS = `set -eE -o pipefail
__docs_status() { printf '%s\\n' "$*" >> "$DOCS_TEST_STATUS"; }
trap '__docs_rc=$?; __docs_status "fail $__docs_block $__docs_rc $LINENO $BASH_COMMAND"' ERR
__docs_fresh() {
  local pids
  pids=$(jobs -p)
  if [ -n "$pids" ]; then kill $pids 2>/dev/null || true; wait $pids 2>/dev/null || true; fi
  cd "$(mktemp -d "$DOCS_TEST_ROOT/session-XXXXXX")"
}
`;

/** The bash script of `blocks`, each wrapped in status lines the runner reads back; `firstLines`: where each block's text starts in it. */
export function sessionScript(blocks: readonly CommandBlock[]): { script: string; firstLines: Map<number, number> } {
  const parts = [STATUS_HELPERS];
  const firstLines = new Map<number, number>();
  const linesSoFar = (): number => parts.join('\n').split('\n').length;
  for (const block of blocks) {
    parts.push(`__docs_block=${block.index}; __docs_status "start ${block.index}"; echo "=== docs-test: block ${block.index} (Markdown line ${block.line}) ==="`);
    if (block.fresh) parts.push('__docs_fresh');
    firstLines.set(block.index, linesSoFar() + 1);
    parts.push(block.text, `__docs_status "done ${block.index}"`);
  }
  parts.push('__docs_status end', '');
  return { script: parts.join('\n'), firstLines };
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops every process of the session's group: TERM, then KILL for what is left after a grace. */
async function stopGroup(pgid: number): Promise<void> {
  if (!groupAlive(pgid)) return;
  process.kill(-pgid, 'SIGTERM');
  try {
    await waitFor('the session\'s processes to exit on SIGTERM', () => !groupAlive(pgid), { timeoutMs: 15_000, intervalMs: 100 });
  } catch {
    if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
    await waitFor('the session\'s processes to exit on SIGKILL', () => !groupAlive(pgid), { timeoutMs: 10_000, intervalMs: 100 });
  }
}

export interface RunOptions {
  /** Empty directory the session owns (its work dir, shims, logs). */
  readonly root: string;
  readonly deadlineMs: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Told the session's process group as it starts, so a caller that gives up can still stop it ({@link stopSession}). */
  readonly onStart?: (pgid: number) => void;
}

/** Stops a session's process group now (for a test that timed out around {@link runBlocks}). */
export function stopSession(pgid: number): void {
  if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
}

/** Whether `unshare -rn` works here (root, or unprivileged user namespaces). */
export function canUnshareNet(): boolean {
  const run = spawnSync('unshare', ['-rn', 'ip', 'link', 'set', 'lo', 'up'], { encoding: 'utf8' });
  return run.status === 0;
}

export async function runBlocks(blocks: readonly CommandBlock[], options: RunOptions): Promise<FileRun> {
  const { root } = options;
  const work = path.join(root, 'work');
  fs.mkdirSync(work, { recursive: true });
  const bin = shimDirectory(root);
  const script = path.join(root, 'session.sh');
  const status = path.join(root, 'status');
  const log = path.join(root, 'output.log');
  const session = sessionScript(blocks);
  fs.writeFileSync(script, session.script);
  fs.writeFileSync(status, '');
  const out = fs.openSync(log, 'w');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...options.env,
    PATH: `${bin}${path.delimiter}${options.env?.['PATH'] ?? process.env['PATH'] ?? ''}`,
    HOME: root,
    DOCS_TEST_STATUS: status,
    DOCS_TEST_ROOT: root,
    MESHCP_LOG_FORMAT: 'json',
  };
  // Output goes to a file, not a pipe: background servers keep their stdout open past the shell.
  const child = spawn('unshare', ['-rn', 'bash', '-c', 'ip link set lo up && cd "$1" && exec bash "$2"', 'docs-test', work, script], {
    cwd: work,
    env,
    detached: true,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const pgid = child.pid;
  if (pgid === undefined) throw new Error('could not start unshare');
  options.onStart?.(pgid);
  let timedOut = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const timer = setTimeout(() => {
    timedOut = true;
    process.kill(-pgid, 'SIGKILL');
  }, options.deadlineMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
    await stopGroup(pgid);
  }
  const lines = fs.readFileSync(status, 'utf8').split('\n').filter((l) => l !== '');
  const started = lines.filter((l) => l.startsWith('start ')).map((l) => Number(l.split(' ')[1]));
  const passed = lines.filter((l) => l.startsWith('done ')).map((l) => Number(l.split(' ')[1]));
  const output = fs.readFileSync(log, 'utf8');
  const failLine = lines.find((l) => l.startsWith('fail '));
  let failure: BlockFailure | undefined;
  if (failLine) {
    const [, block = '0', code = '', scriptLine = '', ...command] = failLine.split(' ');
    const failed = blocks.find((b) => b.index === Number(block));
    const first = session.firstLines.get(Number(block));
    // The block's text starts on the line after its fence.
    const line = failed && first !== undefined ? failed.line + 1 + Number(scriptLine) - first : undefined;
    failure = { block: Number(block), exitCode: Number(code), command: command.join(' '), ...(line !== undefined ? { line } : {}), timedOut };
  } else if (!lines.includes('end')) {
    failure = { block: started.at(-1) ?? 0, timedOut };
  }
  return { started, passed, output, ...(failure ? { failure } : {}) };
}

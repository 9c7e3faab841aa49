/**
 * The docs test's own machinery: a failing documented command fails the file (naming block and
 * command), background servers are stopped, markers are read strictly, and two sessions can use
 * the same fixed port at once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commandBlocks } from './markdown-blocks.js';
import { runBlocks } from './run-blocks.js';

const roots: string[] = [];
function root(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-docs-runner-'));
  roots.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of roots) fs.rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const FAILING = [
  'Intro.',
  '```sh',
  'echo one > one.txt',
  'sleep 600 &',
  'echo $! > "$DOCS_TEST_ROOT/bg.pid"',
  '```',
  '<!-- docs-test: skip shown, never run -->',
  '```sh',
  'touch "$DOCS_TEST_ROOT/skipped-ran"',
  '```',
  '```yaml',
  'not: run',
  '```',
  '```bash',
  'test -f one.txt',
  'meshcp version > /dev/null',
  'meshcp get meshes --server http://127.0.0.1:1',
  'touch "$DOCS_TEST_ROOT/after-failure"',
  '```',
  '```sh',
  'touch "$DOCS_TEST_ROOT/next-block"',
  '```',
].join('\n');

describe('docs test runner', () => {
  it('reads sh/bash blocks with their markers, and refuses unknown or misplaced markers', () => {
    // given / when
    const blocks = commandBlocks(FAILING, 'x.md');
    // then
    expect(blocks.map((b) => [b.index, b.line, b.language, b.skip])).toEqual([
      [1, 2, 'sh', undefined],
      [2, 8, 'sh', 'shown, never run'],
      [3, 14, 'bash', undefined],
      [4, 20, 'sh', undefined],
    ]);
    expect(commandBlocks('<!-- docs-test: fresh needs envoy etcd -->\n```sh\ntrue\n```\n', 'y.md')[0]).toMatchObject({ fresh: true, needs: ['envoy', 'etcd'] });
    expect(() => commandBlocks('<!-- docs-test: skipp typo -->\n```sh\ntrue\n```\n', 'z.md')).toThrow(/z\.md:1: unknown docs-test word "skipp"/);
    expect(() => commandBlocks('<!-- docs-test: skip -->\n```sh\ntrue\n```\n', 'z.md')).toThrow(/needs a reason/);
    expect(() => commandBlocks('<!-- docs-test: skip why -->\n```yaml\na: 1\n```\n', 'z.md')).toThrow(/before a `yaml` block, which never runs/);
  });

  it('fails the file at the first failing command, names it, runs nothing after it, and stops background processes', async () => {
    // given: block 3 has a failing meshcp command in its middle
    const blocks = commandBlocks(FAILING, 'x.md').filter((b) => b.skip === undefined);
    const dir = root();
    // when
    const run = await runBlocks(blocks, { root: dir, deadlineMs: 120_000 });
    // then
    expect(run.failure).toMatchObject({ block: 3, line: 17, command: 'meshcp get meshes --server http://127.0.0.1:1', timedOut: false });
    expect(run.failure?.exitCode).not.toBe(0);
    expect(run.started).toEqual([1, 3]);
    expect(run.passed).toEqual([1]);
    expect(run.output).toMatch(/cannot reach the meshcp admin API/);
    expect(fs.existsSync(path.join(dir, 'after-failure'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'next-block'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'skipped-ran'))).toBe(false);
    const bg = Number(fs.readFileSync(path.join(dir, 'bg.pid'), 'utf8'));
    expect(alive(bg)).toBe(false);
  });

  it('fails on a failure inside a pipe and on a foreground command with no npx fallback', async () => {
    // given
    const pipe = commandBlocks('```sh\nfalse | cat\n```\n', 'p.md');
    const npx = commandBlocks('```sh\nnpx some-other-package\n```\n', 'n.md');
    // when
    const [piped, fetched] = [await runBlocks(pipe, { root: root(), deadlineMs: 60_000 }), await runBlocks(npx, { root: root(), deadlineMs: 60_000 })];
    // then
    expect(piped.failure).toMatchObject({ block: 1, line: 2, exitCode: 1 });
    expect(fetched.failure).toMatchObject({ block: 1, exitCode: 127 });
    expect(fetched.output).toContain('only `npx meshcp` is available here');
  });

  it('gives each session its own loopback, so two can hold the same fixed port; fresh stops the earlier blocks\' servers', async () => {
    // given: two sessions serving on 127.0.0.1:5681 at once, the second block of each after a fresh marker
    const md = [
      '```sh',
      'node -e "require(\'http\').createServer((q, r) => r.end(\'up\')).listen(5681, \'127.0.0.1\')" &',
      'until curl -sf http://127.0.0.1:5681/ > /dev/null; do sleep 0.1; done',
      'echo $! > "$DOCS_TEST_ROOT/first.pid"',
      '```',
      '<!-- docs-test: fresh -->',
      '```sh',
      'test ! -e one-session-file && touch one-session-file',
      'node -e "require(\'http\').createServer((q, r) => r.end(\'again\')).listen(5681, \'127.0.0.1\')" &',
      'until curl -sf http://127.0.0.1:5681/ | grep -q again; do sleep 0.1; done',
      '```',
    ].join('\n');
    const blocks = commandBlocks(md, 'ports.md');
    const [a, b] = [root(), root()];
    // when
    const runs = await Promise.all([runBlocks(blocks, { root: a, deadlineMs: 120_000 }), runBlocks(blocks, { root: b, deadlineMs: 120_000 })]);
    // then
    for (const run of runs) expect(run.failure, run.output).toBeUndefined();
    expect(runs.map((r) => r.passed)).toEqual([[1, 2], [1, 2]]);
    for (const dir of [a, b]) expect(alive(Number(fs.readFileSync(path.join(dir, 'first.pid'), 'utf8')))).toBe(false);
  });
});

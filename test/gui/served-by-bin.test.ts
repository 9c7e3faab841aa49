/**
 * `meshcp serve` as users run it (the built bin, a child process, no test-only options) serves
 * the GUI at /gui/ from the build it ships with, and `npm pack` ships that build.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { REPO } from './harness.js';

describe('the GUI of the built meshcp', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-gui-bin-'));
  let child: ChildProcess | undefined;

  afterAll(() => {
    if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serve logs the GUI address and serves its page and script there', async () => {
    // given
    let out = '';
    child = spawn(process.execPath, [path.join(REPO, 'dist/src/cli/main.js'), 'serve', '--data-dir', path.join(dir, 'data'), '--xds-address', '127.0.0.1:0', '--admin-address', '127.0.0.1:0', '--xds-plaintext', '--auth', 'none'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    // when
    const gui = await waitFor('meshcp is serving', () => /"gui":"(http:\/\/127\.0\.0\.1:\d+\/gui\/)"/.exec(out)?.[1], { timeoutMs: 60_000 });
    const page = await fetch(gui);
    const html = await page.text();
    // then
    expect(page.status).toBe(200);
    const script = /src="(\/gui\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const js = await fetch(new URL(script!, gui));
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toContain('text/javascript');
    expect(out).not.toMatch(/web GUI is not built/);
  });

  it('npm pack ships the built GUI', () => {
    const listing = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO, encoding: 'utf8' })) as { files: { path: string }[] }[];
    const files = listing[0]!.files.map((f) => f.path);
    expect(files).toContain('dist/gui/index.html');
    expect(files).toContain('dist/gui/meshcp-gui.json');
    expect(files.some((f) => /^dist\/gui\/assets\/.+\.js$/.test(f))).toBe(true);
    expect(files.some((f) => f.startsWith('gui/'))).toBe(false);
  });
});

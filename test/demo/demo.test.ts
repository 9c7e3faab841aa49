/**
 * `npm run demo` in a checkout: the build phase says what it does before the demo starts (it was
 * silent for half a minute). The compilers are stand-ins here (the suite has just built, and the
 * demo itself runs from the installed package in test/packaging/packed-bin.test.ts); `-- --help`
 * ends at the demo's usage, so what is checked is what the user sees of the build.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../cli/bin.js';

describe('npm run demo', () => {
  let fakes: string;
  beforeAll(() => {
    // given: `tsc` and `npm` that record their arguments and succeed at once
    fakes = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-demo-build-'));
    for (const tool of ['tsc', 'npm']) {
      fs.writeFileSync(path.join(fakes, tool), `#!/bin/sh\necho "${tool} $*" >> "${fakes}/calls"\n`, { mode: 0o755 });
    }
  });
  afterAll(() => {
    fs.rmSync(fakes, { recursive: true, force: true });
  });

  it('says what it builds, step by step, then starts the demo', async () => {
    // when
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['scripts/demo.mjs', '--help'], { cwd: REPO, env: { ...process.env, PATH: `${fakes}${path.delimiter}${process.env['PATH'] ?? ''}` }, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.once('error', reject);
      child.once('exit', (exit) => resolve({ code: exit, stdout: out }));
    });
    // then: each build step is announced before it runs, then the demo's own usage
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines.slice(0, 4)).toEqual([
      '[build] compiling TypeScript (tsc)…',
      '[build] making the meshcp bin executable…',
      '[build] building the web GUI (tsc + vite)…',
      expect.stringMatching(/^\[build\] done in \d+ s; starting the demo$/),
    ]);
    expect(stdout).toContain('Usage: meshcp demo [options] [command]');
    expect(fs.readFileSync(path.join(fakes, 'calls'), 'utf8')).toBe('tsc -p tsconfig.json\nnpm run --silent build:gui\n');
  });
});

/**
 * `npm run demo` through its own code path: the compiled demo runs as a child process (it
 * starts `meshcp serve` itself) and must exit 0 with the expected story in its output.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const DEMO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../dist/src/demo/main.js');

function runDemo(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DEMO], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run demo', () => {
  it('runs the proxyless story end to end and exits 0', async () => {
    // given: the compiled demo (npm test compiles before running vitest)
    // when
    const { code, stdout, stderr } = await runDemo();
    // then
    expect(stderr).not.toMatch(/demo failed/);
    expect(code).toBe(0);
    expect(stdout).toMatch(/answered by backend-1/);
    expect(stdout).toMatch(/backend-2 answered [1-9]\d* of the next 40/);
    expect(stdout).toMatch(/backend-1 got 0 new calls/);
    expect(stdout).toMatch(/Summary: \d+ calls, 0 failed/);
  }, 90_000);
});

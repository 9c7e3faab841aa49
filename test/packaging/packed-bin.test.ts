/**
 * What users run: `npm pack`, install the tarball in an empty directory, then call the
 * installed `meshcp` through its symlinked bin (node_modules/.bin/meshcp). A green suite once
 * hid a bin that printed nothing because the entry-point check compared file names with the
 * symlink's.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = path.resolve(__dirname, '../..');
let dir = '';
let bin = '';

function meshcp(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(bin, [...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-packed-'));
  // `npm test` has just compiled dist/ (tsc runs first), so skip the prepack rebuild.
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: repo, encoding: 'utf8' });
  const tarball = path.join(dir, out.trim().split('\n').pop() ?? '');
  expect(fs.existsSync(tarball)).toBe(true);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'packed-bin-check', private: true }));
  // Dependencies come from the npm cache that `npm ci` just filled (the registry only if missing).
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', tarball], { cwd: dir, stdio: 'pipe', timeout: 300_000 });
  bin = path.join(dir, 'node_modules', '.bin', 'meshcp');
  expect(fs.lstatSync(bin).isSymbolicLink()).toBe(true);
}, 360_000);

afterAll(() => {
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

describe('the installed meshcp bin (npm pack + npm install, run through the symlink)', () => {
  it('prints its help and exits 0', () => {
    // when
    const r = meshcp(['--help']);
    // then
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: meshcp');
    expect(r.stdout).toContain('serve');
    expect(r.stdout).toContain('apply');
  });

  it('runs a real command: ca create writes a CA that openssl can read, and validate -f checks a file', () => {
    // when
    const ca = meshcp(['ca', 'create', 'packed-root', '--out', dir]);
    // then
    expect(ca.status).toBe(0);
    const pem = fs.readFileSync(path.join(dir, 'packed-root.crt'), 'utf8');
    expect(pem).toContain('BEGIN CERTIFICATE');
    const text = execFileSync('openssl', ['x509', '-noout', '-subject', '-in', path.join(dir, 'packed-root.crt')], { encoding: 'utf8' });
    expect(text).toContain('packed-root');

    // when: an invalid resource
    fs.writeFileSync(path.join(dir, 'bad.yaml'), 'type: Mesh\nname: default\nmtlss: {}\n');
    const bad = meshcp(['validate', '-f', path.join(dir, 'bad.yaml')]);
    // then: a non-zero exit and an error naming the file and the field
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('bad.yaml');
    expect(bad.stderr).toContain('mtlss');
  });

  it('exits non-zero with a one-line error for an unknown command', () => {
    const r = meshcp(['no-such-command']);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('closes quietly when its reader closes the pipe early (meshcp … | head)', () => {
    // when
    const r = spawnSync('sh', ['-c', `"${bin}" --help | head -1`], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    // then
    expect(r.stdout).toBe('Usage: meshcp [options] [command]\n');
    expect(r.stderr).toBe('');
  });
});

describe('meshcp demo from the installed package', () => {
  it('runs the mesh mTLS story end to end with real proxyless workloads, says what it waits for, and exits 0', async () => {
    // given: the package installed above, nothing else (no checkout, no build)
    // when
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(bin, ['demo'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.once('error', reject);
      child.once('exit', (exit) => resolve({ code: exit, stdout: out, stderr: err }));
    });
    // then
    expect(stderr).not.toMatch(/demo failed/);
    expect(code, stderr.slice(-3000)).toBe(0);
    // meshcp serves xDS over TLS only, and the workloads reach it through their agents' relays (SPEC §2)
    expect(stdout).toMatch(/xDS \(TLS\) on 127\.0\.0\.1:\d+/);
    expect(stdout).toMatch(/web: .*xDS for the workload on unix:\/\/\/\S+\/web-xds\.sock/);
    // an allowed call, with the caller's SPIFFE ID as the server saw it
    expect(stdout).toMatch(/ALLOWED: answered by backend-1; the server saw the caller as spiffe:\/\/default\/web/);
    // the denied call once the permission is deleted, then allowed again
    expect(stdout).toMatch(/DENIED: PERMISSION_DENIED/);
    expect(stdout).toMatch(/ALLOWED again: answered by backend-1, caller spiffe:\/\/default\/web/);
    // the rotation wait says what it waits for and how long it took
    expect(stdout).toMatch(/backend-1's certificate \(serial [0-9A-F]+\) is rotated at 4\/5 of its life: due in about \d+ s/);
    expect(stdout).toMatch(/waiting for the rotated certificate in backend-1\/cert\.pem…/);
    expect(stdout).toMatch(/the rotated certificate in backend-1\/cert\.pem: after \d+\.\d s/);
    const before = /serial before: ([0-9A-F]+)/.exec(stdout)?.[1];
    const after = /serial after: +([0-9A-F]+)/.exec(stdout)?.[1];
    expect(before).toMatch(/^[0-9A-F]{16,}$/);
    expect(after).toMatch(/^[0-9A-F]{16,}$/);
    expect(after).not.toBe(before);
    // the inspect table, with both dataplanes online
    expect(stdout).toMatch(/MESH +NAME +TAGS +STATUS/);
    expect(stdout).toMatch(/default +backend-1 +\S+ +Online/);
    expect(stdout).toMatch(/default +web +\S+ +Online/);
  }, 120_000);
});

describe('the built bin through a plain symlink (npm link, ln -s into PATH)', () => {
  it('is executable and prints its usage', () => {
    // given: a symlink to the build output, as `npm link` makes
    const link = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-link-')), 'meshcp');
    fs.symlinkSync(path.join(repo, 'dist/src/cli/main.js'), link);
    try {
      // when: run through its #! line, not `node …`
      const r = spawnSync(link, ['--help'], { encoding: 'utf8', timeout: 60_000 });
      // then
      expect(r.error).toBeUndefined();
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('Usage: meshcp');
    } finally {
      fs.rmSync(path.dirname(link), { recursive: true, force: true });
    }
  });
});

/**
 * Data directory trust (SPEC §3 serve): as ssh's StrictModes, `meshcp serve` refuses a data
 * directory or key file that another user owns or may write, saying how to fix it, so a signing key
 * planted by `nobody` never signs anything. And one server per data directory: a second `serve`
 * refuses with the holder's pid; a lock left by a dead process is taken over.
 */
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateToken } from '../../src/auth/token.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { runCli } from '../cli/harness.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const NOBODY = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());

/** Runs a shell command as `nobody`, as the attacker. */
function asNobody(script: string): void {
  const run = spawnSync('runuser', ['-u', 'nobody', '--', 'sh', '-c', script], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`as nobody: ${script}: ${run.stderr}`);
}

const serve = (dataDir: string): Promise<RunningServer> =>
  startServer({ config: [], dataDir, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'token', xdsPlaintext: true }, silentLogger());

/** `meshcp serve` as its own process; resolves with its exit code and stderr (it is expected to refuse). */
function serveProcess(dataDir: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--data-dir', dataDir, '--xds-address', '127.0.0.1:0', '--admin-address', '127.0.0.1:0', '--xds-plaintext'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stderr += d.toString()));
    // A serve that started would run until stopped: a refusal exits on its own.
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('data directory trust and lock', () => {
  let base: string;
  const servers: RunningServer[] = [];

  beforeAll(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-datadir-'));
    // nobody may pass through (to plant files where it has been given a directory), not write here
    fs.chmodSync(base, 0o711);
  });

  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  afterAll(() => {
    fs.rmSync(base, { recursive: true, force: true });
  });

  it('refuses a data directory owned by nobody holding a planted signing key, and the forged token gets nothing', async () => {
    // given: ./.meshcp made by nobody, with a signing key nobody chose
    const dataDir = path.join(base, 'planted');
    fs.mkdirSync(dataDir, { mode: 0o700 });
    fs.chownSync(dataDir, NOBODY, NOBODY);
    asNobody(`head -c 32 /dev/urandom > ${dataDir}/token-signing.key && chmod 600 ${dataDir}/token-signing.key`);
    // when: root starts meshcp on it
    const refused = await serve(dataDir).then(
      (s) => {
        servers.push(s);
        return undefined;
      },
      (err: unknown) => String(err),
    );
    // then: it refuses, naming the directory, the owner and the fix
    expect(refused).toMatch(new RegExp(`data directory ${dataDir}: ${dataDir} is owned by uid ${NOBODY}, not by the user meshcp runs as \\(uid 0\\).*chown 0 ${dataDir}`));
    // and: `token generate --data-dir` will not sign with that key either
    const offline = await runCli(['token', 'generate', '--name', 'web-01', '--data-dir', dataDir]);
    expect(offline.code).not.toBe(0);
    expect(offline.stderr).toMatch(/token-signing\.key is owned by uid \d+, not by the user meshcp runs as/);
  });

  it('refuses a key file planted by nobody in a root-owned directory it could write, and directories writable by others', async () => {
    // given: a world-writable data directory in which nobody plants the key
    const dataDir = path.join(base, 'world-writable');
    fs.mkdirSync(dataDir);
    fs.chmodSync(dataDir, 0o777);
    asNobody(`head -c 32 /dev/urandom > ${dataDir}/token-signing.key`);
    // when / then: the directory mode is the first thing refused
    await expect(serve(dataDir)).rejects.toThrow(new RegExp(`${dataDir} is writable by other users \\(mode 0777\\); fix it with \`chmod go-w ${dataDir}\``));
    // when: the mode is fixed, the planted key is what is refused
    fs.chmodSync(dataDir, 0o700);
    await expect(serve(dataDir)).rejects.toThrow(new RegExp(`${dataDir}/token-signing.key is owned by uid ${NOBODY}`));
    // when: root's own key, readable by everyone
    fs.rmSync(path.join(dataDir, 'token-signing.key'));
    fs.writeFileSync(path.join(dataDir, 'token-signing.key'), crypto.randomBytes(32), { mode: 0o644 });
    fs.chmodSync(path.join(dataDir, 'token-signing.key'), 0o644);
    await expect(serve(dataDir)).rejects.toThrow(/key file .*token-signing\.key is accessible by other users \(mode 0644\); fix it with `chmod 600 /);
    // when: fixed as the message says, meshcp starts and signs with that key
    fs.chmodSync(path.join(dataDir, 'token-signing.key'), 0o600);
    const server = await serve(dataDir);
    servers.push(server);
    const token = generateToken({ name: 'web-01', mesh: 'default', validForSeconds: 60 }, fs.readFileSync(path.join(dataDir, 'token-signing.key')));
    expect(token.split('.')).toHaveLength(3);
  });

  it('refuses a resource file or a store directory planted or writable by others', async () => {
    // given: a data directory meshcp made, then a route file nobody may rewrite
    const dataDir = path.join(base, 'resources');
    const first = await serve(dataDir);
    await first.store.put({ type: 'Service', name: 's', mesh: 'default', endpoints: [{ address: '127.0.0.1', port: 1 }] });
    await first.close();
    const file = path.join(dataDir, 'resources', 'default', 'services', 's.yaml');
    fs.chmodSync(file, 0o666);
    // when / then
    await expect(serve(dataDir)).rejects.toThrow(new RegExp(`${file} is writable by other users \\(mode 0666\\)`));
    fs.chmodSync(file, 0o600);
    fs.symlinkSync('/etc/passwd', path.join(dataDir, 'blobs-link'));
    await expect(serve(dataDir)).rejects.toThrow(/blobs-link is a symbolic link/);
  });

  it('lets one serve use a data directory at a time: a second refuses with the holder pid, until the first stops', async () => {
    // given: a running server
    const dataDir = path.join(base, 'locked');
    const first = await serve(dataDir);
    servers.push(first);
    // when: a second `meshcp serve` process on the same directory
    const second = await serveProcess(dataDir);
    // then: it refuses at once, naming the holder
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain(`data directory ${dataDir} is in use by another meshcp serve (pid ${process.pid}`);
    // and: a second server in the same process is refused too
    await expect(serve(dataDir)).rejects.toThrow(/is in use by another meshcp serve/);
    // when: the first stops, the directory is free again
    await first.close();
    servers.splice(servers.indexOf(first), 1);
    const third = await serve(dataDir);
    servers.push(third);
    expect(fs.readFileSync(path.join(dataDir, 'serve.lock'), 'utf8')).toContain(`"pid":${process.pid}`);
  }, 90_000);

  it('takes over a lock left by a process that is gone', async () => {
    // given: a lock written by a process that has exited (a crash leaves it behind)
    const dataDir = path.join(base, 'stale');
    fs.mkdirSync(dataDir, { mode: 0o700 });
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    fs.writeFileSync(path.join(dataDir, 'serve.lock'), JSON.stringify({ pid: Number(gone.stdout), host: os.hostname(), since: new Date().toISOString() }), { mode: 0o600 });
    // when
    const server = await serve(dataDir);
    servers.push(server);
    // then
    expect(JSON.parse(fs.readFileSync(path.join(dataDir, 'serve.lock'), 'utf8'))).toMatchObject({ pid: process.pid });
  });
});

/**
 * CLI basics of issue #13, as a user types them: `meshcp version`, examples
 * in `--help`, errors that name the flag, `--log-level` / `--log-format`.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCli, type CliRun } from './harness.js';

const REPO = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('meshcp version', () => {
  it('prints the package version, as --version does', async () => {
    // given
    const { version } = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    // when
    const command = await runCli(['version']);
    const flag = await runCli(['--version']);
    // then
    expect(command).toMatchObject({ code: 0, stdout: `meshcp ${version}\n`, stderr: '' });
    expect(flag.stdout).toBe(`${version}\n`);
  });
});

describe('examples in --help', () => {
  it.each([[[]], [['serve']], [['apply']], [['get']], [['route']], [['route', 'create']], [['secret']], [['cert', 'issue']], [['ca', 'create']], [['bootstrap']], [['token']], [['completion']]])(
    'meshcp %j --help ends with examples',
    async (command) => {
      // when
      const run = await runCli([...command, '--help']);
      // then
      expect(run.code).toBe(0);
      const examples = run.stdout.slice(run.stdout.indexOf('Example'));
      expect(run.stdout).toMatch(/\nExamples?:\n/);
      expect(examples).toMatch(/\n {2}(meshcp|source|echo|EDITOR)/);
    },
  );
});

/** A TCP port held by this test, so meshcp finds it in use. */
async function busyPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('errors that name the flag', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-flags-'));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** `meshcp serve` in process: it fails before serving, so it returns. Its log lines are kept. */
  async function serve(args: string[]): Promise<CliRun & { log: string; processStderr: string }> {
    let log = '';
    let processStderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      log += chunk.toString();
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      processStderr += chunk.toString();
      return true;
    });
    const run = await runCli(['serve', '--data-dir', path.join(dir, 'data'), '--auth', 'none', '--xds-plaintext', ...args]);
    vi.restoreAllMocks();
    return { ...run, log, processStderr };
  }

  it('serve: --xds-address and --admin-address in use', async () => {
    // given
    const busy = await busyPort();
    try {
      // when
      const xds = await serve(['--xds-address', `127.0.0.1:${busy.port}`, '--admin-address', '127.0.0.1:0']);
      const admin = await serve(['--xds-address', '127.0.0.1:0', '--admin-address', `127.0.0.1:${busy.port}`]);
      // then
      expect(xds).toMatchObject({ code: 1, stderr: `Error: --xds-address 127.0.0.1:${busy.port}: address already in use\n` });
      expect(admin).toMatchObject({ code: 1, stderr: `Error: --admin-address 127.0.0.1:${busy.port}: address already in use\n` });
      // grpc-js's own "No address added …" line does not reach the terminal.
      expect(xds.processStderr).toBe('');
    } finally {
      await busy.close();
    }
  });

  it('bootstrap and agent: --token-file missing', async () => {
    // given
    const missing = path.join(dir, 'web-01.token');
    // when
    const bootstrap = await runCli(['bootstrap', 'envoy', '--name', 'web-01', '--token-file', missing, '--xds-plaintext']);
    const agent = await runCli(['agent', '--name', 'web-01', '--token-file', missing, '--cert-dir', dir, '--xds-plaintext']);
    // then
    expect(bootstrap).toMatchObject({ code: 1, stdout: '', stderr: expect.stringContaining(`Error: --token-file ${missing}: no such file\n`) as unknown });
    expect(agent).toMatchObject({ code: 1, stderr: expect.stringContaining(`Error: --token-file ${missing}: no such file\n`) as unknown });
    expect(agent.stderr.split('\n').filter((l) => l.startsWith('Error:'))).toHaveLength(1);
  });

  it('serve: --admin-tls-cert missing', async () => {
    // given
    const missing = path.join(dir, 'admin.crt');
    // when
    const run = await serve(['--admin-tls-cert', missing, '--admin-tls-key', missing, '--xds-address', '127.0.0.1:0', '--admin-address', '127.0.0.1:0']);
    // then
    expect(run).toMatchObject({ code: 1, stderr: `Error: --admin-tls-cert ${missing}: no such file\n` });
  });

  describe('--log-level and --log-format', () => {
    /** serve logs the --auth none warning, then fails on the busy port: one warn line to look at. */
    async function warnLines(flags: string[]): Promise<string> {
      const busy = await busyPort();
      try {
        const run = await serve([...flags, '--xds-address', `127.0.0.1:${busy.port}`, '--admin-address', '127.0.0.1:0']);
        expect(run.code).toBe(1);
        return run.log;
      } finally {
        await busy.close();
      }
    }

    it('json at warn: JSON lines, nothing below warn', async () => {
      // when
      const log = await warnLines(['--log-level', 'warn', '--log-format', 'json']);
      // then
      const lines = log.trim().split('\n').map((l) => JSON.parse(l) as { level: number; msg: string });
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.every((l) => l.level >= 40)).toBe(true);
      expect(lines.some((l) => l.msg.includes('--auth none'))).toBe(true);
    });

    it('error level drops the warnings; given after the command name too', async () => {
      // when
      const log = await warnLines(['--log-format', 'json', '--log-level', 'error']);
      // then
      expect(log).toBe('');
    });

    it('pretty: human lines, not JSON', async () => {
      // when
      const log = await warnLines(['--log-format', 'pretty', '--log-level', 'warn']);
      // then
      expect(log).toContain('WARN');
      expect(log).toContain('--auth none');
      expect(() => JSON.parse(log.trim().split('\n')[0] ?? '')).toThrow();
    });

    it('refuses an unknown level in one line', async () => {
      // when
      const run = await runCli(['--log-level', 'loud', 'version']);
      // then
      expect(run.code).toBe(1);
      expect(run.stderr).toBe("error: option '--log-level <level>' argument 'loud' is invalid. Allowed choices are trace, debug, info, warn, error.\n");
    });
  });
});

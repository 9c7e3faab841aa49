/**
 * The installed `meshcp` bin, run as a user runs it: the built `dist/src/cli/main.js` through a
 * symlink named `meshcp` on PATH (what npm's bin link is), in its own process.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUILT_BIN = path.join(REPO, 'dist', 'src', 'cli', 'main.js');

export interface BinRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A directory holding `meshcp` → the built bin, to put first on PATH. */
export function binDirectory(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-bin-'));
  fs.symlinkSync(BUILT_BIN, path.join(dir, 'meshcp'));
  return dir;
}

let shared: string | undefined;

/** `meshcp ARGS…` through the bin link on PATH; never a shell. */
export function runBin(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<BinRun> {
  if (shared === undefined) {
    const dir = binDirectory();
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    shared = dir;
  }
  const env = { ...process.env, ...options.env, PATH: `${shared}${path.delimiter}${options.env?.['PATH'] ?? process.env['PATH'] ?? ''}` };
  return new Promise((resolve, reject) => {
    const child = spawn('meshcp', [...args], { cwd: options.cwd ?? os.tmpdir(), env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/**
 * What both demo stories share: running meshcp commands the way a user does (child processes of
 * the same build), numbered steps on stdout, and stopping what was started.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from './wait.js';

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../cli/main.js');

let stepNumber = 0;
export const step = (text: string): void => void process.stdout.write(`\n[${++stepNumber}] ${text}\n`);
export const info = (text: string): void => void process.stdout.write(`    ${text}\n`);

/** Runs a meshcp command the way a user does; fails the demo if it fails. */
export function meshcp(args: readonly string[], input?: string): string {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
  if (run.status !== 0) throw new Error(`meshcp ${args.join(' ')} failed: ${run.stderr.trim()}`);
  return run.stdout;
}

/** A long-running meshcp command (serve, agent), its output to `logFile`. */
export function startProcess(args: readonly string[], logFile: string): ChildProcess {
  return startCommand(process.execPath, [CLI, ...args], logFile);
}

export function startCommand(command: string, args: readonly string[], logFile: string, cwd?: string): ChildProcess {
  const log = fs.openSync(logFile, 'a');
  return spawn(command, [...args], { stdio: ['ignore', log, log], ...(cwd !== undefined ? { cwd } : {}) });
}

/** SIGTERM, then SIGKILL if it has not exited within 10 s. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function ready(adminUrl: string): Promise<boolean> {
  try {
    return (await fetch(`${adminUrl}/readyz`)).ok;
  } catch {
    return false;
  }
}

export function serialOf(certFile: string): string | undefined {
  try {
    return new crypto.X509Certificate(fs.readFileSync(certFile)).serialNumber;
  } catch {
    return undefined;
  }
}

/** The CA that signs meshcp's xDS certificate, as `curl -o xds-ca.pem $ADMIN/api/xds-ca` gets it. */
export async function saveXdsCa(adminUrl: string, file: string): Promise<void> {
  const response = await fetch(`${adminUrl}/api/xds-ca`);
  if (!response.ok) throw new Error(`GET /api/xds-ca: HTTP ${response.status}`);
  fs.writeFileSync(file, await response.text());
}

/**
 * A wait the user can see: one line saying what it waits for, a line every few seconds while it
 * lasts, and how long it took. The demo's own waits (a certificate rotation) last seconds, and a
 * silent pause reads as a hang.
 */
export async function waitVisibly<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const started = Date.now();
  info(`waiting for ${what}…`);
  const ticker = setInterval(() => info(`  still waiting for ${what} (${Math.round((Date.now() - started) / 1000)} s)`), PROGRESS_EVERY_MS);
  try {
    const value = await waitUntil(what, probe, timeoutMs);
    info(`${what}: after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return value;
  } finally {
    clearInterval(ticker);
  }
}

const PROGRESS_EVERY_MS = 3_000;

